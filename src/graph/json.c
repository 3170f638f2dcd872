/* json.c — the graph file: reading (with FILE:LINE:COL errors) and writing.
 *
 * cJSON parses the text but keeps no positions, so errors about a parsed
 * value are located by re-walking the (known valid) text to the layer or
 * field in question (locate_*). Every value's type and range is checked
 * before use: a graph file is user input and must never crash us.
 *
 * Layers may be listed in any order; they are sorted topologically (Kahn,
 * lowest list position first, so an already ordered file keeps its order)
 * and a cycle is reported with the layers on it. "layer N" in messages is
 * the N-th layer listed (1-based), which equals the node index of a file
 * listed in execution order (node 0 is the implicit input). */
#include "slimnas/graph.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define FORMAT_NAME "slimnas-graph"
#define FORMAT_VERSION 1
/* Name lookups are linear, so loading is O(layers^2): 10,000 layers (20x
 * DenseNet-121) still load in well under a second. */
#define MAX_LAYERS 10000
#define MAX_DIM 16384 /* input height/width/channels */

/* Positions in the source text for messages come from util's JSON
 * scanner (sn_json_member, sn_json_element): cJSON keeps none. */
#define NOWHERE SN_JSON_NOWHERE

/* ---- reading ---------------------------------------------------------- */

typedef struct jlayer {
    const char *name; /* into the cJSON tree; NULL until read */
    int op;
    sn_attr attr;
    int n_in;
    int in[SN_MAX_IN]; /* list index of each input; -1 = the graph input */
} jlayer;

typedef struct jctx {
    const char *text;
    size_t len;
    const char *file;
    sn_error *e;
    jlayer *layers;
    int n_layers;
    /* layer names read so far: open addressing, slot = list index + 1
     * (0 empty), cap a power of two above twice the layer count */
    int *slot;
    int cap;
} jctx;

static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The list index of the layer read so far named s, or -1. */
static int name_find(const jctx *c, const char *s) {
    for (uint32_t i = name_hash(s) & (uint32_t)(c->cap - 1);;
         i = (i + 1) & (uint32_t)(c->cap - 1)) {
        if (!c->slot[i]) return -1;
        if (strcmp(c->layers[c->slot[i] - 1].name, s) == 0)
            return c->slot[i] - 1;
    }
}

static void name_add(jctx *c, int li) {
    uint32_t i = name_hash(c->layers[li].name) & (uint32_t)(c->cap - 1);
    while (c->slot[i]) i = (i + 1) & (uint32_t)(c->cap - 1);
    c->slot[i] = li + 1;
}

static int err_at(jctx *c, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int err_at(jctx *c, size_t off, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    if (off != NOWHERE) sn_text_position(c->text, off < c->len ? off : c->len,
                                         &line, &col);
    return sn_errf(c->e, "%s:%d:%d: %s", c->file, line, col, msg);
}

static size_t top_pos(jctx *c, const char *key) {
    size_t root = sn_json_skip_ws(c->text, c->len, 0);
    size_t p = key ? sn_json_member(c->text, c->len, root, key) : NOWHERE;
    return p != NOWHERE ? p : root;
}

/* Position of layer li's field key (or its name, or the layer itself). */
static size_t layer_pos(jctx *c, int li, const char *key) {
    size_t arr = sn_json_member(c->text, c->len, sn_json_skip_ws(c->text, c->len, 0),
                            "layers");
    size_t el = sn_json_element(c->text, c->len, arr, li);
    if (el == NOWHERE) return arr != NOWHERE ? arr : 0;
    size_t p = key ? sn_json_member(c->text, c->len, el, key) : NOWHERE;
    if (p == NOWHERE) p = sn_json_member(c->text, c->len, el, "name");
    return p != NOWHERE ? p : el;
}

static int layer_err(jctx *c, int li, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int layer_err(jctx *c, int li, const char *key, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = c->layers && li < c->n_layers ? c->layers[li].name
                                                     : NULL;
    if (name)
        return err_at(c, layer_pos(c, li, key), "layer %d '%s': %s", li + 1,
                      name, msg);
    return err_at(c, layer_pos(c, li, key), "layer %d: %s", li + 1, msg);
}

/* A user string made safe for a one-line message: control characters
 * become '?', and long strings are cut with "...". */
static const char *shown(const char *s, char *buf, size_t n) {
    size_t k = 0, len = strlen(s);
    for (; k + 1 < n && s[k]; k++)
        buf[k] = (unsigned char)s[k] < 0x20 ? '?' : s[k];
    buf[k] = 0;
    if (len > k && n > 4) memcpy(buf + n - 4, "...", 4);
    return buf;
}

static const char *type_name(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

/* Integer in [lo, hi] from a JSON number; a sentence in msg otherwise. */
static int read_int(const cJSON *v, const char *key, double lo, double hi,
                    int *out, char *msg, size_t n) {
    if (!cJSON_IsNumber(v)) {
        snprintf(msg, n, "'%s' must be an integer, got %s", key,
                 type_name(v));
        return -1;
    }
    double d = v->valuedouble;
    if (!(d == floor(d)) || d < lo || d > hi) {
        snprintf(msg, n, "'%s' must be an integer from %.0f to %.0f, got %g",
                 key, lo, hi, d);
        return -1;
    }
    *out = (int)d;
    return 0;
}

static int read_key(const sn_attr_key *k, const cJSON *v, sn_attr *a,
                    char *msg, size_t n) {
    char *field = (char *)a + k->off;
    switch (k->type) {
    case SN_ATTR_INT: {
        int x;
        if (read_int(v, k->key, k->lo, k->hi, &x, msg, n) != 0) return -1;
        memcpy(field, &x, sizeof x);
        return 0;
    }
    case SN_ATTR_BOOL: {
        if (!cJSON_IsBool(v)) {
            snprintf(msg, n, "'%s' must be true or false, got %s", k->key,
                     type_name(v));
            return -1;
        }
        int x = cJSON_IsTrue(v) ? 1 : 0;
        memcpy(field, &x, sizeof x);
        return 0;
    }
    case SN_ATTR_FLOAT: {
        if (!cJSON_IsNumber(v)) {
            snprintf(msg, n, "'%s' must be a number, got %s", k->key,
                     type_name(v));
            return -1;
        }
        double d = v->valuedouble;
        int ok = isfinite(d) && (k->lo_open ? d > k->lo : d >= k->lo) &&
                 (k->hi_open ? d < k->hi : d <= k->hi);
        if (!ok) {
            snprintf(msg, n, "'%s' must be in %c%g, %g%c, got %g", k->key,
                     k->lo_open ? '(' : '[', k->lo, k->hi,
                     k->hi_open ? ')' : ']', d);
            return -1;
        }
        float x = (float)d;
        memcpy(field, &x, sizeof x);
        return 0;
    }
    }
    return -1;
}

static void list_ops(char *buf, size_t n) {
    buf[0] = 0;
    size_t used = 0;
    for (int i = SN_OP_INPUT + 1; i < SN_OP_COUNT; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                         sn_op_get((sn_op_kind)i)->name);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
}

static void list_keys(const sn_attr_key *keys, char *buf, size_t n) {
    buf[0] = 0;
    size_t used = 0;
    for (const sn_attr_key *k = keys; k->key; k++) {
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "",
                         k->key);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
    if (!used) snprintf(buf, n, "none");
}

/* Name, op, attributes and input names of layer li (names not resolved). */
static int read_layer(jctx *c, int li, const cJSON *obj) {
    jlayer *L = &c->layers[li];
    char msg[300];
    if (!cJSON_IsObject(obj))
        return layer_err(c, li, NULL, "expected an object, got %s",
                         type_name(obj));
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!name) return layer_err(c, li, NULL, "missing field 'name'");
    if (!cJSON_IsString(name))
        return layer_err(c, li, "name", "'name' must be a string, got %s",
                         type_name(name));
    const char *s = name->valuestring;
    if (!s[0]) return layer_err(c, li, "name", "'name' is empty");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return layer_err(c, li, "name",
                             "name contains a control character");
    if (strlen(s) >= SN_NAME_LEN)
        return layer_err(c, li, "name", "name '%.24s...' is longer than %d "
                         "bytes", s, SN_NAME_LEN - 1);
    if (strcmp(s, "input") == 0)
        return layer_err(c, li, "name", "the name 'input' is reserved for "
                         "the graph input");
    L->name = s;
    int j = name_find(c, s);
    if (j >= 0)
        return layer_err(c, li, "name", "duplicate name (also layer %d)",
                         j + 1);
    name_add(c, li);

    const cJSON *op = cJSON_GetObjectItemCaseSensitive(obj, "op");
    if (!op) return layer_err(c, li, NULL, "missing field 'op'");
    if (!cJSON_IsString(op))
        return layer_err(c, li, "op", "'op' must be a string, got %s",
                         type_name(op));
    L->op = sn_op_from_name(op->valuestring);
    if (L->op <= SN_OP_INPUT || L->op >= SN_OP_COUNT) {
        char ops[200];
        list_ops(ops, sizeof ops);
        char sh[44];
        return layer_err(c, li, "op", "unknown op '%s' (ops: %s)",
                         shown(op->valuestring, sh, sizeof sh), ops);
    }
    const sn_op_desc *d = sn_op_get((sn_op_kind)L->op);

    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(obj, "inputs");
    if (!ins) return layer_err(c, li, NULL, "missing field 'inputs'");
    if (!cJSON_IsArray(ins))
        return layer_err(c, li, "inputs",
                         "'inputs' must be an array of layer names, got %s",
                         type_name(ins));
    int n_in = cJSON_GetArraySize(ins);
    int hi = d->max_inputs < SN_MAX_IN ? d->max_inputs : SN_MAX_IN;
    if (n_in < d->min_inputs || n_in > hi) {
        if (d->min_inputs == hi)
            return layer_err(c, li, "inputs", "%s takes %d input%s, got %d",
                             d->name, hi, hi == 1 ? "" : "s", n_in);
        return layer_err(c, li, "inputs", "%s takes %d to %d inputs, got %d",
                         d->name, d->min_inputs, hi, n_in);
    }
    L->n_in = n_in;
    const cJSON *it;
    cJSON_ArrayForEach(it, ins) {
        if (!cJSON_IsString(it))
            return layer_err(c, li, "inputs",
                             "'inputs' must hold layer names, got %s",
                             type_name(it));
    }

    /* Attributes: defaults, then the file's values; unknown keys are
     * refused so a misspelt field is not silently replaced by a default. */
    const sn_attr_key *keys = d->keys;
    L->attr = sn_attr_default((sn_op_kind)L->op);
    for (const sn_attr_key *k = keys; k->key; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k->key);
        if (!v) {
            if (k->required)
                return layer_err(c, li, NULL, "missing field '%s' for op %s",
                                 k->key, d->name);
            continue;
        }
        if (read_key(k, v, &L->attr, msg, sizeof msg) != 0)
            return layer_err(c, li, k->key, "%s", msg);
    }
    /* An (integer) key the file leaves out that follows another (a
     * pool's stride is its kernel size, as in PyTorch) takes its value. */
    for (const sn_attr_key *k = keys; k->key; k++) {
        if (!k->same_as || cJSON_GetObjectItemCaseSensitive(obj, k->key))
            continue;
        for (const sn_attr_key *o = keys; o->key; o++)
            if (!strcmp(o->key, k->same_as))
                memcpy((char *)&L->attr + k->off, (char *)&L->attr + o->off,
                       sizeof(int));
    }
    cJSON_ArrayForEach(it, obj) {
        const char *key = it->string ? it->string : "";
        int known = !strcmp(key, "name") || !strcmp(key, "op") ||
                    !strcmp(key, "inputs");
        for (const sn_attr_key *k = keys; k->key && !known; k++)
            known = strcmp(k->key, key) == 0;
        if (!known) {
            char list[200], sh[44];
            list_keys(keys, list, sizeof list);
            return layer_err(c, li, key, "unknown field '%s' for op %s "
                             "(its fields: %s)", shown(key, sh, sizeof sh),
                             d->name, list);
        }
    }
    return 0;
}

/* Resolves input names to list indices. */
static int resolve_inputs(jctx *c, int li, const cJSON *obj) {
    jlayer *L = &c->layers[li];
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(obj, "inputs");
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ins) {
        const char *s = it->valuestring;
        int found = -1;
        if (strcmp(s, "input") != 0 && (found = name_find(c, s)) < 0) {
            char sh[64];
            return layer_err(c, li, "inputs", "unknown input '%s'",
                             shown(s, sh, sizeof sh));
        }
        L->in[k++] = found;
    }
    return 0;
}

/* Min-heap of list indices, so Kahn's sort prefers the listed order. */
typedef struct iheap {
    int *a, n;
} iheap;

static void heap_push(iheap *h, int v) {
    int i = h->n++;
    h->a[i] = v;
    while (i > 0 && h->a[(i - 1) / 2] > h->a[i]) {
        int p = (i - 1) / 2, t = h->a[p];
        h->a[p] = h->a[i];
        h->a[i] = t;
        i = p;
    }
}

static int heap_pop(iheap *h) {
    int top = h->a[0];
    h->a[0] = h->a[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->a[l] < h->a[m]) m = l;
        if (r < h->n && h->a[r] < h->a[m]) m = r;
        if (m == i) break;
        int t = h->a[m];
        h->a[m] = h->a[i];
        h->a[i] = t;
        i = m;
    }
    return top;
}

static int unsorted_input(const jctx *c, const int *indeg, int v) {
    const jlayer *L = &c->layers[v];
    for (int k = 0; k < L->n_in; k++)
        if (L->in[k] >= 0 && indeg[L->in[k]] > 0) return L->in[k];
    SN_ASSERT(!"an unsorted layer has an unsorted input");
    return -1;
}

/* Kahn's algorithm over list indices; order gets the execution order.
 * On a cycle, reports one with its layers in data-flow order. */
static int topo_sort(jctx *c, int *order) {
    int n = c->n_layers, rc = -1;
    int *indeg = sn_xcalloc((size_t)n, sizeof *indeg);
    int *start = sn_xcalloc((size_t)n + 1, sizeof *start);
    int *adj = NULL, *heapbuf = sn_xmalloc((size_t)n * sizeof *heapbuf);
    int *mark = NULL;
    /* Consumers of each layer as one CSR array (edge per input slot). */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c->layers[i].n_in; k++)
            if (c->layers[i].in[k] >= 0) {
                start[c->layers[i].in[k] + 1]++;
                indeg[i]++;
            }
    for (int i = 0; i < n; i++) start[i + 1] += start[i];
    adj = sn_xmalloc((size_t)(start[n] ? start[n] : 1) * sizeof *adj);
    int *fill = sn_xmalloc((size_t)n * sizeof *fill);
    memcpy(fill, start, (size_t)n * sizeof *fill);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c->layers[i].n_in; k++)
            if (c->layers[i].in[k] >= 0) adj[fill[c->layers[i].in[k]]++] = i;
    free(fill);

    iheap h = {heapbuf, 0};
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0) heap_push(&h, i);
    int done = 0;
    while (h.n > 0) {
        int u = heap_pop(&h);
        order[done++] = u;
        for (int e = start[u]; e < start[u + 1]; e++)
            if (--indeg[adj[e]] == 0) heap_push(&h, adj[e]);
    }
    if (done == n) {
        rc = 0;
        goto out;
    }
    /* Every unsorted layer has an unsorted input: walking back along the
     * first such input must revisit a layer, which is then on a cycle. */
    mark = sn_xcalloc((size_t)n, sizeof *mark);
    int u = 0;
    while (indeg[u] == 0) u++;
    while (!mark[u]) {
        mark[u] = 1;
        u = unsorted_input(c, indeg, u);
    }
    /* Collect the cycle backwards from u (same rule, so it closes). */
    int len = 0, v = u;
    do {
        heapbuf[len++] = v;
        v = unsorted_input(c, indeg, v);
    } while (v != u && len < n);
    int first = heapbuf[0]; /* start at the first listed layer */
    for (int i = 0; i < len; i++)
        if (heapbuf[i] < first) first = heapbuf[i];
    char path[300];
    size_t used = 0;
    int at = 0;
    while (heapbuf[at] != first) at++;
    for (int i = 0; i <= len; i++) {
        int idx = heapbuf[((at - i) % len + len) % len];
        int w = snprintf(path + used, sizeof path - used, "%s%s",
                         i ? " -> " : "", c->layers[idx].name);
        if (w < 0 || (size_t)w >= sizeof path - used) {
            snprintf(path + sizeof path - 5, 5, "...");
            break;
        }
        used += (size_t)w;
    }
    layer_err(c, first, "inputs", "cycle: %s", path);
out:
    free(indeg);
    free(start);
    free(adj);
    free(heapbuf);
    free(mark);
    return rc;
}

/* Refuses layers whose output nobody reads, and an output that feeds
 * another layer: the last layer listed is the output. */
static int check_uses(jctx *c) {
    int n = c->n_layers, rc = 0;
    int *reader = sn_xmalloc((size_t)n * sizeof *reader);
    for (int i = 0; i < n; i++) reader[i] = -1;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c->layers[i].n_in; k++)
            if (c->layers[i].in[k] >= 0) reader[c->layers[i].in[k]] = i;
    if (reader[n - 1] >= 0) {
        rc = layer_err(c, n - 1, NULL,
                       "the last layer listed is the output, but layer %d "
                       "'%s' reads it",
                       reader[n - 1] + 1, c->layers[reader[n - 1]].name);
        goto out;
    }
    for (int i = 0; i < n - 1; i++)
        if (reader[i] < 0) {
            rc = layer_err(c, i, NULL,
                           "its output is not used by any layer (only the "
                           "last layer listed, the output, may be unused)");
            goto out;
        }
out:
    free(reader);
    return rc;
}

static int read_dim(jctx *c, const cJSON *obj, const char *key, int lo,
                    int hi, int *out, const char *where) {
    char msg[300];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return err_at(c, top_pos(c, where), "missing field '%s'", key);
    if (read_int(v, key, lo, hi, out, msg, sizeof msg) != 0) {
        size_t p = sn_json_member(c->text, c->len, top_pos(c, where), key);
        return err_at(c, p != NOWHERE ? p : top_pos(c, where), "%s", msg);
    }
    return 0;
}

/* Says why cJSON stopped: the end of the text inside an open value means a
 * truncated file; anything else is a syntax error at off. */
static int syntax_error(jctx *c, size_t off) {
    size_t p = sn_json_skip_ws(c->text, c->len, 0);
    if (p >= c->len)
        return err_at(c, 0, "empty file, expected a slimnas graph (JSON)");
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < c->len; i++) {
        char ch = c->text[i];
        if (in_str) {
            if (ch == '\\') i++;
            else if (ch == '"') in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    if ((depth > 0 || in_str) && off + 2 >= c->len)
        return err_at(c, c->len, "unexpected end of file (truncated JSON)");
    if (off >= c->len) off = c->len ? c->len - 1 : 0;
    char near[24];
    size_t k = 0;
    for (size_t i = off; i < c->len && k < 16; i++) {
        unsigned char ch = (unsigned char)c->text[i];
        if (ch == '\n' || ch == '\r') break;
        near[k++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
    }
    near[k] = 0;
    return err_at(c, off, "invalid JSON near '%s'", near);
}

sn_graph *sn_graph_from_json(const char *text, size_t len, const char *file,
                             sn_error *e) {
    jctx c = {text, len, file ? file : "<graph>", e, NULL, 0, NULL, 0};
    sn_graph *g = NULL;
    int *order = NULL, *node_of = NULL;
    char msg[300];
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        syntax_error(&c, off);
        return NULL;
    }
    size_t tail = sn_json_skip_ws(text, len, (size_t)(end - text));
    if (tail < len && text[tail] != 0) {
        err_at(&c, tail, "unexpected text after the end of the graph object");
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        err_at(&c, top_pos(&c, NULL), "expected a JSON object, got %s",
               type_name(root));
        goto fail;
    }

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!v) {
        err_at(&c, top_pos(&c, NULL),
               "missing field 'format' (a graph file has \"format\": \"%s\")",
               FORMAT_NAME);
        goto fail;
    }
    if (!cJSON_IsString(v) || strcmp(v->valuestring, FORMAT_NAME) != 0) {
        err_at(&c, top_pos(&c, "format"),
               "'format' must be \"%s\": this is not a slimnas graph",
               FORMAT_NAME);
        goto fail;
    }
    int version;
    v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!v) {
        err_at(&c, top_pos(&c, NULL), "missing field 'version'");
        goto fail;
    }
    if (read_int(v, "version", 1, 1e9, &version, msg, sizeof msg) != 0) {
        err_at(&c, top_pos(&c, "version"), "%s", msg);
        goto fail;
    }
    if (version != FORMAT_VERSION) {
        err_at(&c, top_pos(&c, "version"),
               "graph format version %d is not supported (this slimnas "
               "reads version %d)",
               version, FORMAT_VERSION);
        goto fail;
    }
    const char *gname = "";
    v = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (v) {
        int ctrl = 0;
        if (cJSON_IsString(v))
            for (const char *p = v->valuestring; *p; p++)
                ctrl |= (unsigned char)*p < 0x20;
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= SN_NAME_LEN ||
            ctrl) {
            err_at(&c, top_pos(&c, "name"),
                   "'name' must be a string shorter than %d bytes, without "
                   "control characters",
                   SN_NAME_LEN);
            goto fail;
        }
        gname = v->valuestring;
    }
    sn_shape in;
    int classes;
    v = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!v) {
        err_at(&c, top_pos(&c, NULL), "missing field 'input'");
        goto fail;
    }
    if (!cJSON_IsObject(v)) {
        err_at(&c, top_pos(&c, "input"),
               "'input' must be an object {\"c\": C, \"h\": H, \"w\": W}, "
               "got %s",
               type_name(v));
        goto fail;
    }
    if (read_dim(&c, v, "c", 1, MAX_DIM, &in.c, "input") != 0 ||
        read_dim(&c, v, "h", 1, MAX_DIM, &in.h, "input") != 0 ||
        read_dim(&c, v, "w", 1, MAX_DIM, &in.w, "input") != 0)
        goto fail;
    if (read_dim(&c, root, "classes", 1, SN_MAX_WIDTH, &classes, NULL) != 0)
        goto fail;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!layers) {
        err_at(&c, top_pos(&c, NULL), "missing field 'layers'");
        goto fail;
    }
    if (!cJSON_IsArray(layers)) {
        err_at(&c, top_pos(&c, "layers"), "'layers' must be an array, got %s",
               type_name(layers));
        goto fail;
    }
    c.n_layers = cJSON_GetArraySize(layers);
    if (c.n_layers < 1 || c.n_layers > MAX_LAYERS) {
        err_at(&c, top_pos(&c, "layers"),
               "'layers' must hold 1 to %d layers, got %d", MAX_LAYERS,
               c.n_layers);
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *key = it->string ? it->string : "";
        if (strcmp(key, "format") && strcmp(key, "version") &&
            strcmp(key, "name") && strcmp(key, "input") &&
            strcmp(key, "classes") && strcmp(key, "layers") &&
            strcmp(key, "data")) {
            char sh[44];
            err_at(&c, top_pos(&c, key),
                   "unknown field '%s' (fields: format, version, name, "
                   "input, classes, layers, data)",
                   shown(key, sh, sizeof sh));
            goto fail;
        }
    }

    c.layers = sn_xcalloc((size_t)c.n_layers, sizeof *c.layers);
    for (c.cap = 16; c.cap < 2 * c.n_layers; c.cap *= 2)
        ;
    c.slot = sn_xcalloc((size_t)c.cap, sizeof *c.slot);
    int li = 0;
    cJSON_ArrayForEach(it, layers) {
        if (read_layer(&c, li, it) != 0) goto fail;
        li++;
    }
    li = 0;
    cJSON_ArrayForEach(it, layers) {
        if (resolve_inputs(&c, li, it) != 0) goto fail;
        li++;
    }
    order = sn_xmalloc((size_t)c.n_layers * sizeof *order);
    if (topo_sort(&c, order) != 0 || check_uses(&c) != 0) goto fail;

    g = sn_graph_new(gname, in, classes);
    graph_reserve(g, c.n_layers + 1);
    node_of = sn_xmalloc((size_t)c.n_layers * sizeof *node_of);
    for (int k = 0; k < c.n_layers; k++) {
        const jlayer *L = &c.layers[order[k]];
        int ins[SN_MAX_IN];
        for (int j = 0; j < L->n_in; j++)
            ins[j] = L->in[j] < 0 ? 0 : node_of[L->in[j]];
        sn_error sub;
        int idx = sn_graph_add(g, (sn_op_kind)L->op, &L->attr, ins, L->n_in,
                               L->name, &sub);
        if (idx < 0) {
            layer_err(&c, order[k], NULL, "%s", sub.msg);
            goto fail;
        }
        node_of[order[k]] = idx;
    }
    sn_shape o = g->nodes[g->n_nodes - 1].out;
    if (o.c != classes || o.h != 1 || o.w != 1) {
        layer_err(&c, c.n_layers - 1, NULL,
                  "the output has shape %dx%dx%d (HxWxC) but must be 1x1x%d "
                  "(one logit per class)",
                  o.h, o.w, o.c, classes);
        goto fail;
    }
    sn_error sub;
    if (sn_graph_validate(g, &sub) != 0) { /* all covered above; a guard */
        err_at(&c, top_pos(&c, "layers"), "%s", sub.msg);
        goto fail;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (v && sn_model_info_from_cjson(v, in, classes, &g->info, msg,
                                      sizeof msg) != 0) {
        err_at(&c, top_pos(&c, "data"), "%s", msg);
        goto fail;
    }
    free(order);
    free(node_of);
    free(c.layers);
    free(c.slot);
    cJSON_Delete(root);
    return g;
fail:
    sn_graph_free(g);
    free(order);
    free(node_of);
    free(c.layers);
    free(c.slot);
    cJSON_Delete(root);
    return NULL;
}

sn_graph *sn_graph_load(const char *path, sn_error *e) {
    char *data;
    size_t len;
    if (sn_read_file(path, &data, &len, e) != 0) return NULL;
    sn_graph *g = sn_graph_from_json(
        data, len, strcmp(path, "-") == 0 ? "<stdin>" : path, e);
    free(data);
    return g;
}

/* ---- writing ---------------------------------------------------------- */

/* Shortest decimal that reads back as the same float, so 1e-5f is written
 * "1e-05" and a load-save cycle is byte-exact (cJSON would print the
 * double 1.0000000000000001e-05: the number goes in raw). */
static void fmt_float(float v, char *buf, size_t n) {
    if (!isfinite(v)) {
        snprintf(buf, n, "0");
        return;
    }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

char *sn_graph_to_json(const sn_graph *g) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", FORMAT_NAME);
    cJSON_AddNumberToObject(j, "version", FORMAT_VERSION);
    cJSON_AddStringToObject(j, "name", g->name);
    cJSON *in = cJSON_AddObjectToObject(j, "input");
    cJSON_AddNumberToObject(in, "c", g->input.c);
    cJSON_AddNumberToObject(in, "h", g->input.h);
    cJSON_AddNumberToObject(in, "w", g->input.w);
    cJSON_AddNumberToObject(j, "classes", g->classes);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int i = 1; i < g->n_nodes; i++) {
        const sn_node *nd = &g->nodes[i];
        cJSON *l = cJSON_CreateObject();
        cJSON_AddItemToArray(layers, l);
        cJSON_AddStringToObject(l, "name", nd->name);
        cJSON_AddStringToObject(l, "op", sn_op_get(nd->op)->name);
        cJSON *ins = cJSON_AddArrayToObject(l, "inputs");
        for (int k = 0; k < nd->n_in; k++)
            cJSON_AddItemToArray(ins,
                                 cJSON_CreateString(g->nodes[nd->in[k]].name));
        for (const sn_attr_key *k = sn_op_get(nd->op)->keys; k->key; k++) {
            const char *field = (const char *)&nd->attr + k->off;
            if (k->type == SN_ATTR_FLOAT) {
                float x;
                char num[32];
                memcpy(&x, field, sizeof x);
                fmt_float(x, num, sizeof num);
                cJSON_AddRawToObject(l, k->key, num);
            } else {
                int x;
                memcpy(&x, field, sizeof x);
                if (k->type == SN_ATTR_BOOL) cJSON_AddBoolToObject(l, k->key, x);
                else cJSON_AddNumberToObject(l, k->key, x);
            }
        }
    }
    if (g->info.known) {
        char *d = sn_model_info_to_json(&g->info);
        cJSON_AddRawToObject(j, "data", d);
        free(d);
    }
    return sn_json_print(j, 1);
}

int sn_graph_save(const sn_graph *g, const char *path, sn_error *e) {
    char *s = sn_graph_to_json(g);
    int rc = 0;
    if (strcmp(path, "-") == 0) {
        if (fputs(s, stdout) == EOF || fflush(stdout) != 0)
            rc = sn_errf(e, "<stdout>: write error");
    } else {
        rc = sn_write_atomic(path, s, strlen(s), e);
    }
    free(s);
    return rc;
}
