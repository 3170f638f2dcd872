/* weights.c — the flat parameter store of a graph and its binary file.
 *
 * Layout in memory: every trainable tensor of every node, in node order,
 * packed without gaps in one float array (params), so n_params is exactly
 * the number of trainable scalars; buffers (bn running stats) likewise in
 * another. The optimiser and the gradients see params as one flat vector.
 *
 * File (all integers little-endian uint32, floats IEEE-754 little-endian):
 *   "SNWT" | version | count |
 *   count x { name length | name bytes | ndim | dims[ndim] | data }
 *   [version 2: info length | info JSON (sn_model_info_to_json)]
 *   | crc32 of every byte before it
 * Tensors are named "<layer>.<tensor>" ("conv1.weight"). Loading matches
 * them to the graph by name (any order), and checks every shape. */
#include "slimnas/graph.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define WT_MAGIC "SNWT"
#define WT_VERSION 1u      /* tensors only */
#define WT_VERSION_INFO 2u /* tensors, then the model info as JSON */
#define MAX_INFO_JSON (1u << 20)
#define MAX_TNAME (SN_NAME_LEN + 32)

/* The tensors' descriptions and places, without their storage (params,
 * buffers and decay_mask NULL). */
static sn_weights *weights_layout(const sn_graph *g) {
    sn_weights *w = sn_xcalloc(1, sizeof *w);
    int n = g->n_nodes;
    w->n_nodes = n;
    w->n_tensors = sn_xcalloc((size_t)n, sizeof *w->n_tensors);
    w->desc = sn_xcalloc((size_t)n, sizeof *w->desc);
    w->offset = sn_xcalloc((size_t)n, sizeof *w->offset);
    int64_t np = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        const sn_node *nd = &g->nodes[i];
        sn_shape in[SN_MAX_IN];
        for (int k = 0; k < nd->n_in; k++) in[k] = g->nodes[nd->in[k]].out;
        int nt = sn_op_get(nd->op)->tensors(&nd->attr, in, nd->n_in,
                                            w->desc[i]);
        SN_ASSERT(nt >= 0 && nt <= SN_MAX_TENSORS);
        w->n_tensors[i] = nt;
        for (int t = 0; t < nt; t++) {
            int64_t size = sn_tensor_desc_size(&w->desc[i][t]);
            if (w->desc[i][t].trainable) {
                w->offset[i][t] = np;
                np += size;
            } else {
                w->offset[i][t] = nb;
                nb += size;
            }
        }
    }
    w->n_params = np;
    w->n_buffers = nb;
    return w;
}

sn_weights *sn_weights_new(const sn_graph *g) {
    sn_weights *w = weights_layout(g);
    int n = w->n_nodes;
    int64_t np = w->n_params, nb = w->n_buffers;
    w->params = sn_falloc((size_t)np);
    w->buffers = sn_falloc((size_t)nb);
    w->decay_mask = sn_xcalloc((size_t)(np ? np : 1), 1);
    /* Weight decay applies to conv and dense kernels (ndim >= 2), not to
     * biases or batch-norm affine vectors. */
    for (int i = 0; i < n; i++)
        for (int t = 0; t < w->n_tensors[i]; t++) {
            const sn_tensor_desc *d = &w->desc[i][t];
            if (d->trainable && d->ndim >= 2)
                memset(w->decay_mask + w->offset[i][t], 1,
                       (size_t)sn_tensor_desc_size(d));
        }
    return w;
}

void sn_weights_free(sn_weights *w) {
    if (!w) return;
    sn_free_aligned(w->params);
    sn_free_aligned(w->buffers);
    free(w->decay_mask);
    free(w->n_tensors);
    free(w->desc);
    free(w->offset);
    free(w);
}

float *sn_weights_tensor(const sn_weights *w, int node, int t) {
    if (node < 0 || node >= w->n_nodes || t < 0 || t >= w->n_tensors[node])
        return NULL;
    return (w->desc[node][t].trainable ? w->params : w->buffers) +
           w->offset[node][t];
}

void sn_weights_init(sn_weights *w, const sn_graph *g, uint64_t seed) {
    SN_ASSERT(w->n_nodes == g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
        if (w->n_tensors[i] == 0) continue;
        const sn_node *nd = &g->nodes[i];
        sn_shape in[SN_MAX_IN];
        for (int k = 0; k < nd->n_in; k++) in[k] = g->nodes[nd->in[k]].out;
        float *tensor[SN_MAX_TENSORS] = {0};
        for (int t = 0; t < w->n_tensors[i]; t++)
            tensor[t] = sn_weights_tensor(w, i, t);
        /* One stream per node: a node's initial weights do not depend on
         * how many random numbers the nodes before it drew. */
        sn_rng rng;
        sn_rng_seed(&rng, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1)));
        sn_op_get(nd->op)->init(&nd->attr, in, nd->n_in, tensor, &rng);
    }
}

/* ---- file ------------------------------------------------------------- */

typedef struct obuf {
    unsigned char *p;
    size_t n, cap;
} obuf;

static void ob_bytes(obuf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap * 2 + 64;
        b->p = sn_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void ob_u32(obuf *b, uint32_t v) {
    unsigned char q[4];
    put_u32(q, v);
    ob_bytes(b, q, 4);
}

static void tensor_name(const sn_graph *g, const sn_weights *w, int i, int t,
                        char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", g->nodes[i].name, w->desc[i][t].name);
}

void *sn_weights_encode(const sn_weights *w, const sn_graph *g,
                        size_t *len) {
    SN_ASSERT(w->n_nodes == g->n_nodes);
    uint32_t count = 0;
    int64_t floats = 0;
    for (int i = 0; i < w->n_nodes; i++) {
        count += (uint32_t)w->n_tensors[i];
        for (int t = 0; t < w->n_tensors[i]; t++)
            floats += sn_tensor_desc_size(&w->desc[i][t]);
    }
    obuf b = {NULL, 0, 0};
    b.cap = 64 + (size_t)count * (MAX_TNAME + 32) + (size_t)floats * 4;
    b.p = sn_xmalloc(b.cap);
    const sn_model_info *mi = sn_model_info_pick(g, w);
    ob_bytes(&b, WT_MAGIC, 4);
    ob_u32(&b, mi ? WT_VERSION_INFO : WT_VERSION);
    ob_u32(&b, count);
    for (int i = 0; i < w->n_nodes; i++)
        for (int t = 0; t < w->n_tensors[i]; t++) {
            const sn_tensor_desc *d = &w->desc[i][t];
            char name[MAX_TNAME];
            tensor_name(g, w, i, t, name, sizeof name);
            ob_u32(&b, (uint32_t)strlen(name));
            ob_bytes(&b, name, strlen(name));
            ob_u32(&b, (uint32_t)d->ndim);
            for (int k = 0; k < d->ndim; k++) ob_u32(&b, (uint32_t)d->dims[k]);
            const float *x = sn_weights_tensor(w, i, t);
            int64_t size = sn_tensor_desc_size(d);
            for (int64_t k = 0; k < size; k++) {
                uint32_t bits;
                memcpy(&bits, &x[k], 4);
                ob_u32(&b, bits);
            }
        }
    if (mi) {
        char *js = sn_model_info_to_json(mi);
        ob_u32(&b, (uint32_t)strlen(js));
        ob_bytes(&b, js, strlen(js));
        free(js);
    }
    ob_u32(&b, sn_crc32(0, b.p, b.n));
    *len = b.n;
    return b.p;
}

int sn_weights_save(const sn_weights *w, const sn_graph *g, const char *path,
                    sn_error *e) {
    size_t n;
    void *p = sn_weights_encode(w, g, &n);
    int rc = sn_write_atomic(path, p, n, e);
    free(p);
    return rc;
}

/* One tensor record as found in the file. */
typedef struct rec {
    char name[MAX_TNAME];
    int ndim;
    uint32_t dims[SN_MAX_DIMS];
    size_t data; /* offset of its floats in the file */
    int64_t size;
} rec;

static void fmt_dims_u(char *buf, size_t n, const uint32_t *d, int ndim) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int k = 0; k < ndim && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%u", k ? "," : "",
                                 d[k]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static void fmt_dims_i(char *buf, size_t n, const int *d, int ndim) {
    uint32_t u[SN_MAX_DIMS];
    for (int k = 0; k < ndim; k++) u[k] = (uint32_t)d[k];
    fmt_dims_u(buf, n, u, ndim);
}

/* Walks the records with bounds checks. Returns 0, or -1 with e set; a
 * record that runs past the end reports the file as truncated. */
static int parse_records(const unsigned char *p, size_t len, const char *path,
                         rec *recs, uint32_t count, size_t *end,
                         sn_error *e) {
    size_t at = 12;
    for (uint32_t r = 0; r < count; r++) {
        rec *R = &recs[r];
        if (len - at < 4) goto truncated;
        uint32_t nlen = get_u32(p + at);
        at += 4;
        if (nlen == 0 || nlen >= MAX_TNAME)
            return sn_errf(e, "%s: tensor %u has a bad name length %u "
                           "(the file is corrupt)", path, r + 1, nlen);
        if (len - at < nlen) goto truncated;
        for (uint32_t k = 0; k < nlen; k++)
            if (p[at + k] < 0x20 || p[at + k] == 0x7f)
                return sn_errf(e, "%s: tensor %u has a bad name (the file "
                               "is corrupt)", path, r + 1);
        memcpy(R->name, p + at, nlen);
        R->name[nlen] = 0;
        at += nlen;
        if (len - at < 4) goto truncated;
        uint32_t ndim = get_u32(p + at);
        at += 4;
        if (ndim > SN_MAX_DIMS)
            return sn_errf(e, "%s: tensor '%s' has %u dimensions (at most %d;"
                           " the file is corrupt)", path, R->name, ndim,
                           SN_MAX_DIMS);
        R->ndim = (int)ndim;
        if (len - at < 4 * (size_t)ndim) goto truncated;
        int64_t size = 1;
        for (uint32_t k = 0; k < ndim; k++) {
            R->dims[k] = get_u32(p + at + 4 * k);
            /* checked before multiplying: size <= 2^40 and a dim up to
             * 2^32 could overflow int64 (found by the weights fuzzer) */
            if (R->dims[k] > 0 && size > ((int64_t)1 << 40) / R->dims[k])
                return sn_errf(e, "%s: tensor '%s' is impossibly large (the "
                               "file is corrupt)", path, R->name);
            size *= R->dims[k];
        }
        at += 4 * (size_t)ndim;
        R->size = size;
        R->data = at;
        if ((uint64_t)(len - at) < (uint64_t)size * 4) goto truncated;
        at += (size_t)size * 4;
    }
    *end = at;
    return 0;
truncated:
    return sn_errf(e, "%s: truncated (%zu bytes; a tensor runs past the end "
                   "of the file)", path, len);
}

sn_weights *sn_weights_load(const sn_graph *g, const char *path,
                            sn_error *e) {
    char *data;
    size_t len;
    if (sn_read_file(path, &data, &len, e) != 0) return NULL;
    sn_weights *w = sn_weights_decode(g, data, len, path, e);
    free(data);
    return w;
}

/* Decodes data for g; with keep 0 checks only: the same checks and
 * errors, nothing copied, and a weights layout without storage returned
 * (free it). */
static sn_weights *decode(const sn_graph *g, const void *data, size_t len,
                          const char *path, int keep, sn_error *e) {
    const unsigned char *p = (const unsigned char *)data;
    sn_weights *w = NULL;
    rec *recs = NULL;
    int *seen = NULL;
    if (len < 4 || memcmp(p, WT_MAGIC, 4) != 0) {
        sn_errf(e, "%s: not a slimnas weight file (bad magic)", path);
        goto fail;
    }
    if (len < 16) {
        sn_errf(e, "%s: truncated (%zu bytes)", path, len);
        goto fail;
    }
    uint32_t version = get_u32(p + 4);
    if (version != WT_VERSION && version != WT_VERSION_INFO) {
        sn_errf(e, "%s: weight file version %u is not supported (this "
                "slimnas reads versions %u and %u)", path, version,
                WT_VERSION, WT_VERSION_INFO);
        goto fail;
    }
    uint32_t count = get_u32(p + 8);
    if (count > (len - 12) / 13) { /* a record takes at least 13 bytes */
        /* The count cannot be right; the CRC tells corrupt from short. */
        if (get_u32(p + len - 4) != sn_crc32(0, p, len - 4))
            sn_errf(e, "%s: checksum mismatch (the file is corrupt or "
                    "truncated)", path);
        else
            sn_errf(e, "%s: bad tensor count %u", path, count);
        goto fail;
    }
    recs = sn_xcalloc(count ? count : 1, sizeof *recs);
    size_t end = 0;
    if (parse_records(p, len, path, recs, count, &end, e) != 0) goto fail;
    if (len - end < 4) {
        sn_errf(e, "%s: truncated (the checksum at the end is missing)",
                path);
        goto fail;
    }
    size_t info_at = 0, info_len = 0;
    if (version == WT_VERSION_INFO) { /* u32 length, JSON, then the CRC */
        if (len - end < 8 || get_u32(p + end) > len - end - 8) {
            sn_errf(e, "%s: truncated (the model info at the end is cut "
                    "off)", path);
            goto fail;
        }
        info_len = get_u32(p + end);
        info_at = end + 4;
        end = info_at + info_len;
    }
    if (len - end > 4) {
        sn_errf(e, "%s: %zu unexpected bytes after the last tensor", path,
                len - end - 4);
        goto fail;
    }
    if (get_u32(p + end) != sn_crc32(0, p, end)) {
        sn_errf(e, "%s: checksum mismatch (the file is corrupt)", path);
        goto fail;
    }
    sn_model_info info;
    memset(&info, 0, sizeof info);
    if (version == WT_VERSION_INFO) {
        cJSON *j = info_len <= MAX_INFO_JSON
                       ? cJSON_ParseWithLength(data + info_at, info_len)
                       : NULL;
        char msg[256] = "not valid JSON";
        if (!j || sn_model_info_from_cjson(j, g->input, g->classes, &info,
                                           msg, sizeof msg) != 0) {
            sn_errf(e, "%s: bad model info: %s", path, msg);
            cJSON_Delete(j);
            goto fail;
        }
        cJSON_Delete(j);
    }

    w = keep ? sn_weights_new(g) : weights_layout(g);
    int total = 0;
    for (int i = 0; i < w->n_nodes; i++) total += w->n_tensors[i];
    seen = sn_xcalloc((size_t)total + 1, sizeof *seen);
    /* Records come in the graph's tensor order as written (encode): each
     * is first tried against the tensor after the last one found, then
     * against all in order. Tensor names are unique: both find the same. */
    int ni = 0, nt = 0, nidx = 0; /* the tensor after the last found */
    for (uint32_t r = 0; r < count; r++) {
        const rec *R = &recs[r];
        int fi = -1, ft = -1, found = -1;
        char name[MAX_TNAME];
        while (ni < w->n_nodes && nt >= w->n_tensors[ni]) {
            ni++;
            nt = 0;
        }
        if (ni < w->n_nodes) {
            tensor_name(g, w, ni, nt, name, sizeof name);
            if (strcmp(name, R->name) == 0) {
                fi = ni;
                ft = nt;
                found = nidx;
            }
        }
        for (int i = 0, idx = 0; i < w->n_nodes && found < 0; i++)
            for (int t = 0; t < w->n_tensors[i]; t++, idx++) {
                tensor_name(g, w, i, t, name, sizeof name);
                if (strcmp(name, R->name) != 0) continue;
                fi = i;
                ft = t;
                found = idx;
                break;
            }
        if (found < 0) {
            sn_errf(e, "%s: tensor '%s' is not in the graph (weights of "
                    "another network?)", path, R->name);
            goto fail;
        }
        const sn_tensor_desc *d = &w->desc[fi][ft];
        int same = d->ndim == R->ndim;
        for (int k = 0; same && k < d->ndim; k++)
            same = (uint32_t)d->dims[k] == R->dims[k];
        if (!same) {
            char have[64], want[64];
            fmt_dims_u(have, sizeof have, R->dims, R->ndim);
            fmt_dims_i(want, sizeof want, d->dims, d->ndim);
            sn_errf(e, "%s: tensor '%s' has shape %s, the graph expects %s",
                    path, R->name, have, want);
            goto fail;
        }
        if (seen[found]++) {
            sn_errf(e, "%s: tensor '%s' appears twice", path, R->name);
            goto fail;
        }
        float *x = keep ? sn_weights_tensor(w, fi, ft) : NULL;
        for (int64_t k = 0; x && k < R->size; k++) {
            uint32_t bits = get_u32(p + R->data + 4 * (size_t)k);
            memcpy(&x[k], &bits, 4);
        }
        ni = fi;
        nt = ft + 1;
        nidx = found + 1;
    }
    int idx = 0;
    for (int i = 0; i < w->n_nodes; i++)
        for (int t = 0; t < w->n_tensors[i]; t++, idx++)
            if (!seen[idx]) {
                char name[MAX_TNAME];
                tensor_name(g, w, i, t, name, sizeof name);
                sn_errf(e, "%s: tensor '%s' is missing", path, name);
                goto fail;
            }
    w->info = info;
    free(seen);
    free(recs);
    return w;
fail:
    sn_weights_free(w);
    free(seen);
    free(recs);
    return NULL;
}

sn_weights *sn_weights_decode(const sn_graph *g, const void *data, size_t len,
                              const char *path, sn_error *e) {
    return decode(g, data, len, path, 1, e);
}

int sn_weights_check(const sn_graph *g, const void *data, size_t len,
                     const char *path, sn_error *e) {
    sn_weights *w = decode(g, data, len, path, 0, e);
    sn_weights_free(w);
    return w ? 0 : -1;
}
