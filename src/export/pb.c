/* pb.c — the protobuf wire format, write side only: varints, fixed32
 * floats and length-delimited fields (bytes, strings, nested messages).
 * Nested messages are built in their own buffer and appended whole, so
 * their length prefix is known when it is written. */
#include <stdlib.h>
#include <string.h>

#include "slimnas/export.h"

void sn_pb_free(sn_pb *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

void sn_pb_raw(sn_pb *b, const void *data, size_t n) {
    if (n == 0) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = sn_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

void sn_pb_varint(sn_pb *b, uint64_t v) {
    unsigned char q[10];
    int n = 0;
    do {
        q[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) q[n] |= 0x80;
        n++;
    } while (v);
    sn_pb_raw(b, q, (size_t)n);
}

void sn_pb_tag(sn_pb *b, int field, int wire) {
    SN_ASSERT(field > 0 && wire >= 0 && wire <= 5);
    sn_pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

void sn_pb_int(sn_pb *b, int field, int64_t v) {
    sn_pb_tag(b, field, SN_PB_VARINT);
    sn_pb_varint(b, (uint64_t)v);
}

void sn_pb_float(sn_pb *b, int field, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    unsigned char q[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                          (unsigned char)(bits >> 16),
                          (unsigned char)(bits >> 24)};
    sn_pb_tag(b, field, SN_PB_I32);
    sn_pb_raw(b, q, 4);
}

void sn_pb_bytes(sn_pb *b, int field, const void *data, size_t n) {
    sn_pb_tag(b, field, SN_PB_LEN);
    sn_pb_varint(b, (uint64_t)n);
    sn_pb_raw(b, data, n);
}

void sn_pb_string(sn_pb *b, int field, const char *s) {
    sn_pb_bytes(b, field, s, strlen(s));
}

void sn_pb_msg(sn_pb *b, int field, const sn_pb *sub) {
    sn_pb_bytes(b, field, sub->p, sub->n);
}
