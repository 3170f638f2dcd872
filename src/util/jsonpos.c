/* jsonpos.c — where a value sits in JSON source text, for messages that
 * point at file:line:col (cJSON parses but keeps no positions). The text
 * is assumed to have parsed: these only walk it. Used by the graph reader
 * (graph/json.c) and by settings files (--config, settings.json); and
 * the one way JSON text is made from a cJSON tree (sn_json_print). */
#include "slimnas/util.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

size_t sn_json_skip_ws(const char *t, size_t n, size_t p) {
    while (p < n && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' ||
                     t[p] == '\r'))
        p++;
    return p;
}

/* p at an opening quote; returns the index of the closing quote or n. */
static size_t string_end(const char *t, size_t n, size_t p) {
    for (p++; p < n && t[p] != '"'; p++)
        if (t[p] == '\\') p++;
    return p < n ? p : n;
}

/* Index just past the value starting at (or after whitespace before) p. */
size_t sn_json_value_end(const char *t, size_t n, size_t p) {
    p = sn_json_skip_ws(t, n, p);
    if (p >= n) return n;
    if (t[p] == '"') {
        size_t q = string_end(t, n, p);
        return q < n ? q + 1 : n;
    }
    if (t[p] == '{' || t[p] == '[') {
        int depth = 0;
        while (p < n) {
            char ch = t[p];
            if (ch == '"') {
                p = string_end(t, n, p);
                if (p >= n) return n;
            } else if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return n;
    }
    while (p < n && !strchr(",]} \t\r\n", t[p])) p++;
    return p;
}

/* Offset of the value of member key in the object at p, or SN_JSON_NOWHERE. */
static size_t member(const char *t, size_t n, size_t p, const char *key,
                     int want_key) {
    if (p == SN_JSON_NOWHERE) return SN_JSON_NOWHERE;
    p = sn_json_skip_ws(t, n, p);
    if (p >= n || t[p] != '{') return SN_JSON_NOWHERE;
    p++;
    size_t klen = strlen(key);
    for (;;) {
        p = sn_json_skip_ws(t, n, p);
        if (p >= n || t[p] != '"') return SN_JSON_NOWHERE;
        size_t q = string_end(t, n, p);
        if (q >= n) return SN_JSON_NOWHERE;
        int match = q - p - 1 == klen && memcmp(t + p + 1, key, klen) == 0;
        if (match && want_key) return p;
        p = sn_json_skip_ws(t, n, q + 1);
        if (p >= n || t[p] != ':') return SN_JSON_NOWHERE;
        p = sn_json_skip_ws(t, n, p + 1);
        if (match) return p;
        p = sn_json_skip_ws(t, n, sn_json_value_end(t, n, p));
        if (p < n && t[p] == ',') {
            p++;
            continue;
        }
        return SN_JSON_NOWHERE;
    }
}

size_t sn_json_member(const char *t, size_t n, size_t p, const char *key) {
    return member(t, n, p, key, 0);
}

size_t sn_json_key(const char *t, size_t n, size_t p, const char *key) {
    return member(t, n, p, key, 1);
}

/* Offset of element idx of the array at p, or SN_JSON_NOWHERE. */
size_t sn_json_element(const char *t, size_t n, size_t p, int idx) {
    if (p == SN_JSON_NOWHERE) return SN_JSON_NOWHERE;
    p = sn_json_skip_ws(t, n, p);
    if (p >= n || t[p] != '[') return SN_JSON_NOWHERE;
    p++;
    for (int i = 0;; i++) {
        p = sn_json_skip_ws(t, n, p);
        if (p >= n || t[p] == ']') return SN_JSON_NOWHERE;
        if (i == idx) return p;
        p = sn_json_skip_ws(t, n, sn_json_value_end(t, n, p));
        if (p < n && t[p] == ',') {
            p++;
            continue;
        }
        return SN_JSON_NOWHERE;
    }
}

char *sn_json_print(cJSON *j, int pretty) {
    char *text = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    SN_ASSERT(text);
    size_t n = strlen(text);
    char *out = sn_xmalloc(n + 2);
    memcpy(out, text, n);
    out[n] = '\n';
    out[n + 1] = 0;
    free(text);
    return out;
}
