/* wire.c — a job as bytes, for training it in another process (MPI
 * workers): what to train (graph JSON, inherited weights, training
 * options) and what came of it (status, curve, trained weights).
 *
 * Layout: a 4-byte tag ("SNJB" job, "SNJR" result), a u32 version, then
 * fields in a fixed order; integers and floats are little-endian as the
 * machine stores them (a cluster's nodes share one architecture; the tag
 * and version catch a mismatched build), strings and arrays carry their
 * length first. A reader checks every length against what is left, so a
 * short or corrupt message is an error, never a read past the end. */
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"

#define WIRE_VERSION 2u /* 2: sn_train_opts.augment */

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
} wbuf;

static void put(wbuf *b, const void *x, size_t n) {
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n) c *= 2;
        b->p = sn_xrealloc(b->p, c);
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(wbuf *b, int32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_f64(wbuf *b, double v) { put(b, &v, 8); }
static void put_f32(wbuf *b, float v) { put(b, &v, 4); }
static void put_str(wbuf *b, const char *s) {
    size_t n = strlen(s);
    put_u64(b, n);
    put(b, s, n);
}

typedef struct rbuf {
    const unsigned char *p;
    size_t n, at;
    int bad;
} rbuf;

static int get(rbuf *r, void *x, size_t n) {
    if (r->bad || n > r->n - r->at) {
        r->bad = 1;
        memset(x, 0, n);
        return -1;
    }
    memcpy(x, r->p + r->at, n);
    r->at += n;
    return 0;
}
static uint32_t get_u32(rbuf *r) { uint32_t v; get(r, &v, 4); return v; }
static int32_t get_i32(rbuf *r) { int32_t v; get(r, &v, 4); return v; }
static uint64_t get_u64(rbuf *r) { uint64_t v; get(r, &v, 8); return v; }
static double get_f64(rbuf *r) { double v; get(r, &v, 8); return v; }
static float get_f32(rbuf *r) { float v; get(r, &v, 4); return v; }
/* A length-prefixed string copied into buf (cut to n - 1). */
static void get_str(rbuf *r, char *buf, size_t n) {
    uint64_t len = get_u64(r);
    if (r->bad || len > r->n - r->at) {
        r->bad = 1;
        buf[0] = 0;
        return;
    }
    size_t k = len < n - 1 ? (size_t)len : n - 1;
    memcpy(buf, r->p + r->at, k);
    buf[k] = 0;
    r->at += (size_t)len;
}
/* n floats into dst (which holds exactly want): the count must match. */
static void get_floats(rbuf *r, float *dst, int64_t want) {
    uint64_t n = get_u64(r);
    if (r->bad || n != (uint64_t)want || n > (r->n - r->at) / sizeof(float)) {
        r->bad = 1;
        return;
    }
    get(r, dst, (size_t)n * sizeof(float));
}
static void put_floats(wbuf *b, const float *x, int64_t n) {
    put_u64(b, (uint64_t)n);
    put(b, x, (size_t)n * sizeof(float));
}

static void put_header(wbuf *b, const char *tag) {
    put(b, tag, 4);
    put_u32(b, WIRE_VERSION);
}
static int get_header(rbuf *r, const char *tag, sn_error *e) {
    char t[4];
    if (get(r, t, 4) || memcmp(t, tag, 4))
        return sn_errf(e, "not a slimnas %s message",
                       tag[3] == 'B' ? "job" : "result");
    uint32_t v = get_u32(r);
    if (v != WIRE_VERSION)
        return sn_errf(e, "job message version %u, this slimnas reads %u "
                          "(mixed builds across ranks?)", v, WIRE_VERSION);
    return 0;
}

static void put_opts(wbuf *b, const sn_train_opts *o) {
    put_i32(b, o->epochs);
    put_i32(b, o->batch);
    put_i32(b, (int32_t)o->optimizer);
    put_f32(b, o->lr);
    put_f32(b, o->lr_min);
    put_f32(b, o->momentum);
    put_i32(b, o->nesterov);
    put_f32(b, o->weight_decay);
    put_i32(b, (int32_t)o->schedule);
    put_f32(b, o->warmup_epochs);
    put_f32(b, o->step_epochs);
    put_f32(b, o->gamma);
    put_f32(b, o->label_smoothing);
    put_i32(b, o->augment);
    put_u64(b, o->seed);
    put_i32(b, o->eval_val);
}
static void get_opts(rbuf *r, sn_train_opts *o) {
    *o = sn_train_opts_default();
    o->epochs = get_i32(r);
    o->batch = get_i32(r);
    o->optimizer = (sn_opt_kind)get_i32(r);
    o->lr = get_f32(r);
    o->lr_min = get_f32(r);
    o->momentum = get_f32(r);
    o->nesterov = get_i32(r);
    o->weight_decay = get_f32(r);
    o->schedule = (sn_sched_kind)get_i32(r);
    o->warmup_epochs = get_f32(r);
    o->step_epochs = get_f32(r);
    o->gamma = get_f32(r);
    o->label_smoothing = get_f32(r);
    o->augment = get_i32(r);
    o->seed = get_u64(r);
    o->eval_val = get_i32(r);
}

int sn_job_pack(const sn_job *j, unsigned char **buf, size_t *n) {
    wbuf b = {0};
    put_header(&b, "SNJB");
    put_i32(&b, j->info.id);
    put_opts(&b, &j->topt);
    char *json = sn_graph_to_json(j->graph);
    put_str(&b, json);
    free(json);
    put_floats(&b, j->w->params, j->w->n_params);
    put_floats(&b, j->w->buffers, j->w->n_buffers);
    *buf = b.p;
    *n = b.n;
    return 0;
}

sn_job *sn_job_unpack(const unsigned char *buf, size_t n, sn_error *e) {
    rbuf r = {buf, n, 0, 0};
    if (get_header(&r, "SNJB", e)) return NULL;
    sn_job *j = sn_xcalloc(1, sizeof *j);
    j->clock_fd = -1; /* a worker's copy keeps no run's clock */
    j->info.id = get_i32(&r);
    j->info.parent = -1;
    j->info.val_acc = j->info.test_acc = j->info.final_val_acc = -1;
    j->info.train_loss = -1;
    get_opts(&r, &j->topt);
    uint64_t len = get_u64(&r);
    if (r.bad || len > r.n - r.at) goto short_msg;
    j->graph = sn_graph_from_json((const char *)buf + r.at, (size_t)len,
                                  "job", e);
    r.at += (size_t)len;
    if (!j->graph) goto fail;
    j->w = sn_weights_new(j->graph);
    get_floats(&r, j->w->params, j->w->n_params);
    get_floats(&r, j->w->buffers, j->w->n_buffers);
    if (r.bad) goto short_msg;
    if (r.at != r.n) {
        sn_errf(e, "job message: %zu bytes after the end", r.n - r.at);
        goto fail;
    }
    return j;
short_msg:
    sn_errf(e, "job message truncated or its weights do not match its "
               "graph");
fail:
    sn_job_free(j);
    return NULL;
}

/* status: 0 a result (done, diverged or failed), 1 stopped before the
 * end (the controller abandons the job). */
int sn_job_pack_result(const sn_job *j, int stopped, unsigned char **buf,
                       size_t *n) {
    wbuf b = {0};
    put_header(&b, "SNJR");
    put_i32(&b, stopped);
    put_i32(&b, (int32_t)j->info.status);
    put_i32(&b, j->info.epochs);
    put_f64(&b, j->info.train_loss);
    put_f64(&b, j->info.val_acc);
    put_f64(&b, j->info.seconds);
    put_str(&b, j->error);
    put_i32(&b, j->n_curve);
    for (int k = 0; k < j->n_curve; k++) {
        put_f64(&b, j->loss[k]);
        put_f64(&b, j->val[k]);
    }
    int weights = !stopped && j->info.status == SN_CAND_DONE && j->w;
    put_i32(&b, weights);
    if (weights) {
        put_floats(&b, j->w->params, j->w->n_params);
        put_floats(&b, j->w->buffers, j->w->n_buffers);
    }
    *buf = b.p;
    *n = b.n;
    return 0;
}

int sn_job_apply_result(sn_job *j, const unsigned char *buf, size_t n,
                        sn_error *e) {
    rbuf r = {buf, n, 0, 0};
    if (get_header(&r, "SNJR", e)) return -1;
    int stopped = get_i32(&r);
    int st = get_i32(&r);
    sn_cand_info info = j->info;
    info.epochs = get_i32(&r);
    info.train_loss = get_f64(&r);
    info.val_acc = get_f64(&r);
    info.seconds = get_f64(&r);
    char err[sizeof j->error];
    get_str(&r, err, sizeof err);
    int32_t nc = get_i32(&r);
    if (r.bad || nc < 0 || nc > SN_MAX_EPOCHS ||
        (size_t)nc * 16 > r.n - r.at)
        return sn_errf(e, "result message truncated");
    double *loss = NULL, *val = NULL;
    if (nc > 0) {
        loss = sn_xmalloc((size_t)nc * sizeof *loss);
        val = sn_xmalloc((size_t)nc * sizeof *val);
        for (int k = 0; k < nc; k++) {
            loss[k] = get_f64(&r);
            val[k] = get_f64(&r);
        }
    }
    int weights = get_i32(&r);
    /* the trained weights go to a copy first: a bad message leaves the
     * job as it was (it may be sent again) */
    sn_weights *w = NULL;
    if (!r.bad && weights) {
        w = sn_weights_new(j->graph);
        get_floats(&r, w->params, w->n_params);
        get_floats(&r, w->buffers, w->n_buffers);
    }
    if (r.bad || r.at != r.n || st < 0 || st >= SN_CAND_COUNT ||
        (st == SN_CAND_DONE && !weights && !stopped)) {
        free(loss);
        free(val);
        if (w) sn_weights_free(w);
        return sn_errf(e, "result message truncated or inconsistent");
    }
    if (stopped) {
        free(loss);
        free(val);
        if (w) sn_weights_free(w);
        return 1;
    }
    info.status = (sn_cand_status)st;
    j->info = info;
    snprintf(j->error, sizeof j->error, "%s", err);
    free(j->loss);
    free(j->val);
    j->loss = loss;
    j->val = val;
    j->n_curve = nc;
    if (w) {
        sn_weights_free(j->w);
        j->w = w;
    }
    j->ran = 1;
    return 0;
}

void sn_job_set_failed(sn_job *j, const char *msg) {
    j->info.status = SN_CAND_FAILED;
    snprintf(j->error, sizeof j->error, "%s", msg);
    j->ran = 1;
}

int sn_job_sent(sn_job *j) { return ++j->sends; }

void sn_job_free(sn_job *j) {
    if (!j) return;
    sn_graph_desc_free(j->desc);
    sn_graph_free(j->graph);
    if (j->w) sn_weights_free(j->w);
    free(j->loss);
    free(j->val);
    free(j);
}
