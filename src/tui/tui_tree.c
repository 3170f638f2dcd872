/* tui_tree.c — the search tree as display rows.
 *
 * Every snapshot brings a new candidate array; the rows are rebuilt from
 * it each time, and what the person did to the view (folds, selection,
 * scroll) lives in sn_tree_state keyed by candidate id, so it survives
 * live updates untouched (the way tmux's mode-tree keeps its state).
 * Pure functions. */
#include "slimnas/tui.h"

#include <stdlib.h>
#include <string.h>

void sn_tree_state_init(sn_tree_state *st) {
    memset(st, 0, sizeof *st);
    st->selected = -1;
}

void sn_tree_state_free(sn_tree_state *st) {
    free(st->folded);
    sn_tree_state_init(st);
}

void sn_tree_set_folded(sn_tree_state *st, int id, int folded) {
    if (id < 0) return;
    if (id >= st->cap) {
        int cap = st->cap ? st->cap : 64;
        while (cap <= id) cap *= 2;
        st->folded = sn_xrealloc(st->folded, (size_t)cap);
        memset(st->folded + st->cap, 0, (size_t)(cap - st->cap));
        st->cap = cap;
    }
    st->folded[id] = folded ? 1 : 0;
}

int sn_tree_is_folded(const sn_tree_state *st, int id) {
    return id >= 0 && id < st->cap && st->folded[id];
}

static void add_str(char *buf, size_t n, size_t *o, const char *s) {
    size_t l = strlen(s);
    if (*o + l + 1 > n) return;
    memcpy(buf + *o, s, l);
    *o += l;
    buf[*o] = 0;
}

int sn_tree_flatten(const sn_cand_info *c, int n, sn_tree_state *st,
                    int max_levels, int ascii, sn_tree_row **rows_out) {
    if (max_levels < 1) max_levels = 1;
    /* Children lists by counting sort on parent (ids ascending inside). */
    int *first = sn_xcalloc((size_t)n + 1, sizeof *first);
    int *kids = sn_xmalloc(((size_t)n + 1) * sizeof *kids);
    int *parent = sn_xmalloc(((size_t)n + 1) * sizeof *parent);
    for (int i = 0; i < n; i++) {
        int p = c[i].parent;
        parent[i] = p >= 0 && p < n && p != i ? p : -1;
        if (parent[i] >= 0) first[parent[i] + 1]++;
    }
    for (int i = 0; i < n; i++) first[i + 1] += first[i];
    int *fill = sn_xmalloc(((size_t)n + 1) * sizeof *fill);
    memcpy(fill, first, (size_t)n * sizeof *fill);
    for (int i = 0; i < n; i++)
        if (parent[i] >= 0) kids[fill[parent[i]]++] = i;

    /* Subtree sizes, for "+N hidden" on folded rows. Parents normally come
     * before children, but sizes are summed bottom-up over a DFS order to
     * be safe with any order. */
    int *order = sn_xmalloc(((size_t)n + 1) * sizeof *order);
    int *stack = sn_xmalloc(((size_t)n + 1) * sizeof *stack);
    int *depth = sn_xcalloc((size_t)n + 1, sizeof *depth);
    unsigned char *seen = sn_xcalloc((size_t)n + 1, 1);
    int no = 0;
    for (int r = 0; r < n; r++) {
        if (parent[r] >= 0) continue;
        int sp = 0;
        stack[sp++] = r;
        while (sp) {
            int v = stack[--sp];
            if (seen[v]) continue;
            seen[v] = 1;
            order[no++] = v;
            for (int k = first[v + 1] - 1; k >= first[v]; k--) {
                depth[kids[k]] = depth[v] + 1;
                stack[sp++] = kids[k];
            }
        }
    }
    int *size = sn_xmalloc(((size_t)n + 1) * sizeof *size);
    for (int i = 0; i < n; i++) size[i] = 1;
    for (int k = no - 1; k >= 0; k--) {
        int v = order[k];
        if (parent[v] >= 0) size[parent[v]] += size[v];
    }

    /* Nearest visible ancestor of the selection. */
    if (st->selected >= n) st->selected = -1;
    if (st->selected >= 0 && seen[st->selected]) {
        int vis = st->selected;
        for (int a = parent[st->selected]; a >= 0; a = parent[a])
            if (sn_tree_is_folded(st, a)) vis = a;
        st->selected = vis;
    }

    /* Rows in display order (pre-order, folded subtrees skipped). */
    sn_tree_row *rows = sn_xcalloc((size_t)n + 1, sizeof *rows);
    unsigned char *last = sn_xcalloc((size_t)n + 2, 1); /* by depth */
    const char *bar = ascii ? "| " : "\xe2\x94\x82 ",         /* │ */
        *tee = ascii ? "|-" : "\xe2\x94\x9c\xe2\x94\x80",      /* ├─ */
        *elbow = ascii ? "`-" : "\xe2\x94\x94\xe2\x94\x80",    /* └─ */
        *more = ascii ? "~ " : "\xe2\x80\xa6 ";                /* … */
    int nr = 0;
    memset(seen, 0, (size_t)n + 1);
    for (int r = 0; r < n; r++) {
        if (parent[r] >= 0) continue;
        int sp = 0;
        stack[sp++] = r;
        while (sp) {
            int v = stack[--sp];
            if (seen[v]) continue;
            seen[v] = 1;
            int d = depth[v];
            int p = parent[v];
            last[d] = p < 0 || kids[first[p + 1] - 1] == v;
            sn_tree_row *row = &rows[nr++];
            row->id = v;
            row->depth = d;
            row->n_kids = first[v + 1] - first[v];
            row->folded = row->n_kids > 0 && sn_tree_is_folded(st, v);
            row->hidden = row->folded ? size[v] - 1 : 0;
            size_t o = 0;
            row->prefix[0] = 0;
            if (d > 0) {
                int from = 1;
                if (d > max_levels) {
                    add_str(row->prefix, sizeof row->prefix, &o, more);
                    from = d - max_levels + 2;
                }
                for (int l = from; l < d; l++)
                    add_str(row->prefix, sizeof row->prefix, &o,
                            last[l] ? "  " : bar);
                add_str(row->prefix, sizeof row->prefix, &o,
                        last[d] ? elbow : tee);
            }
            if (row->folded) continue;
            for (int k = first[v + 1] - 1; k >= first[v]; k--)
                stack[sp++] = kids[k];
        }
    }
    if ((st->selected < 0 || sn_tree_row_of(rows, nr, st->selected) < 0) &&
        nr > 0)
        st->selected = rows[0].id;
    free(first), free(kids), free(parent), free(fill), free(order);
    free(stack), free(depth), free(seen), free(size), free(last);
    *rows_out = rows;
    return nr;
}

int sn_tree_row_of(const sn_tree_row *rows, int n, int id) {
    for (int i = 0; i < n; i++)
        if (rows[i].id == id) return i;
    return -1;
}

int sn_tree_move(sn_tree_state *st, const sn_tree_row *rows, int n,
                 int delta) {
    if (n <= 0) return st->selected = -1;
    int r = sn_tree_row_of(rows, n, st->selected);
    if (r < 0) r = 0;
    long t = (long)r + delta;
    if (t < 0) t = 0;
    if (t >= n) t = n - 1;
    st->selected = rows[t].id;
    return st->selected;
}

void sn_tree_scroll(sn_tree_state *st, const sn_tree_row *rows, int n,
                    int height) {
    if (height < 1) height = 1;
    int r = sn_tree_row_of(rows, n, st->selected);
    if (r >= 0) {
        if (r < st->top) st->top = r;
        if (r >= st->top + height) st->top = r - height + 1;
    }
    /* No empty space below the last row when the list could fill it. */
    if (st->top > n - height) st->top = n - height;
    if (st->top < 0) st->top = 0;
}

int sn_tree_lineage(const sn_cand_info *c, int n, int id, int *path,
                    int max) {
    if (id < 0 || id >= n || max <= 0) return 0;
    int len = 0;
    /* Walk up (bounded by n, so a corrupt cycle cannot loop forever),
     * then reverse into root-first order. */
    int *tmp = sn_xmalloc(((size_t)n + 1) * sizeof *tmp);
    for (int v = id; v >= 0 && v < n && len < n; v = c[v].parent)
        tmp[len++] = v;
    int out = len < max ? len : max;
    /* Keep the last `out` steps (nearest the candidate) when clipped. */
    for (int i = 0; i < out; i++) path[i] = tmp[out - 1 - i];
    free(tmp);
    return out;
}

/* ---- the flat list ----------------------------------------------------------- */

const char *sn_sort_name(sn_sort k) {
    static const char *const n[] = {"tree", "accuracy", "params", "flops",
                                    "memory"};
    _Static_assert(sizeof n / sizeof n[0] == SN_SORT_COUNT, "sort names");
    return (unsigned)k < SN_SORT_COUNT ? n[k] : "?";
}

int sn_sort_from_name(const char *s) {
    for (int k = 0; k < SN_SORT_COUNT; k++)
        if (!strcmp(s, sn_sort_name((sn_sort)k))) return k;
    if (!strcmp(s, "acc")) return SN_SORT_ACCURACY;
    if (!strcmp(s, "macs")) return SN_SORT_FLOPS;
    return -1;
}

/* qsort has no context pointer: keys are computed first, then sorted. */
typedef struct sort_item {
    int id;
    int missing; /* no value for the key: after every one that has */
    double v;    /* ascending */
} sort_item;

static int cmp_item(const void *a, const void *b) {
    const sort_item *p = a, *q = b;
    if (p->missing != q->missing) return p->missing - q->missing;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return p->id - q->id;
}

int sn_cand_list(const sn_cand_info *c, int n, sn_sort key,
                 sn_tree_row **rows) {
    sort_item *it = sn_xmalloc(((size_t)n + 1) * sizeof *it);
    for (int i = 0; i < n; i++) {
        it[i].id = i;
        it[i].missing = 0;
        switch (key) {
        case SN_SORT_ACCURACY:
            it[i].missing = c[i].status != SN_CAND_DONE || c[i].val_acc < 0;
            it[i].v = -c[i].val_acc;
            break;
        case SN_SORT_PARAMS: it[i].v = (double)c[i].params; break;
        case SN_SORT_FLOPS: it[i].v = (double)c[i].flops; break;
        case SN_SORT_MEMORY: it[i].v = (double)c[i].memory; break;
        default: it[i].v = i; break;
        }
        if (it[i].missing) it[i].v = 0;
    }
    qsort(it, (size_t)n, sizeof *it, cmp_item);
    int *kids = sn_xcalloc((size_t)n + 1, sizeof *kids);
    for (int j = 0; j < n; j++)
        if (c[j].parent >= 0 && c[j].parent < n) kids[c[j].parent]++;
    sn_tree_row *r = sn_xcalloc((size_t)n + 1, sizeof *r);
    for (int i = 0; i < n; i++) {
        r[i].id = it[i].id;
        r[i].n_kids = kids[it[i].id];
    }
    free(kids);
    free(it);
    *rows = r;
    return n;
}
