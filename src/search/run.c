/* run.c — the run directory: its folders, the append-only results log,
 * and loading a run back (settings, log, graphs, weight checks).
 *
 * The log is appended with O_APPEND and fsync'd after every line, after
 * the candidate's graph and weights (written atomically) and an fsync of
 * the folders, so a line never names files that a crash could lose. */
#include "search_internal.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void run_path(char *buf, size_t n, const char *dir, const char *fmt, ...) {
    int k = snprintf(buf, n, "%s/", dir);
    if (k < 0 || (size_t)k >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - (size_t)k, fmt, ap);
    va_end(ap);
}

static int mkdir_p(const char *path, sn_error *e) {
    char buf[SN_SEARCH_PATH_LEN + 16];
    if (strlen(path) >= sizeof buf) return sn_errf(e, "%s: path too long", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return sn_errf(e, "%s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return sn_errf(e, "%s: %s", buf, strerror(errno));
    return 0;
}

int run_mkdirs(const char *dir, sn_error *e) {
    char p[SN_SEARCH_PATH_LEN + 16];
    if (mkdir_p(dir, e)) return -1;
    run_path(p, sizeof p, dir, "cand");
    return mkdir_p(p, e);
}

int run_open_dir(sn_search *se, int lock, sn_error *e) {
    int fd = open(se->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return sn_errf(e, "%s: no such run directory", se->dir);
        return sn_errf(e, "%s: %s", se->dir, strerror(errno));
    }
    se->dirfd = fd;
    if (!lock) return 0;
    /* One writer per run: an exclusive flock on the directory itself (no
     * file that anyone could delete). The kernel drops it when the
     * process dies, even by kill -9; a second writer gets a clear error.
     * A directory removed and made anew is another inode: the old writer
     * keeps its handle on the old one and cannot write into the new. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return sn_errf(e, "%s: the run is open in another slimnas (it "
                              "holds the run directory's lock)", se->dir);
        return sn_errf(e, "%s: lock: %s", se->dir, strerror(errno));
    }
    se->locked = 1;
    return 0;
}

int run_write_new(sn_search *se, const char *rel, const void *data,
                  size_t len, sn_error *e) {
    if (sn_write_atomic_at(se->dirfd, rel, data, len, SN_WRITE_NOREPLACE,
                           e)) {
        sn_err_prefix(e, "%s/", se->dir);
        if (strstr(e->msg, "already exists"))
            snprintf(e->msg + strlen(e->msg),
                     sizeof e->msg - strlen(e->msg),
                     "; results.log does not name it: run 'slimnas check "
                     "--repair %.200s'", se->dir);
        return -1;
    }
    return 0;
}

int run_append_log(sn_search *se, const char *line, sn_error *e) {
    const char *name = "results.log";
    /* the files this line names are durable first */
    if (sn_fsync_dir_at(se->dirfd, "cand/x") != 0)
        return sn_errf(e, "%s/cand: fsync: %s", se->dir, strerror(errno));
    int fd = openat(se->dirfd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                    0644);
    if (fd < 0) return sn_errf(e, "%s/%s: %s", se->dir, name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return sn_errf(e, "%s/%s: %s", se->dir, name, strerror(err));
    }
    if ((long long)st.st_size < se->log_len) {
        close(fd);
        return sn_errf(e, "%s/%s: %lld bytes, shorter than the %lld this run "
                          "wrote (changed by another program?); run "
                          "'slimnas check %s'",
                       se->dir, name, (long long)st.st_size, se->log_len,
                       se->dir);
    }
    /* bytes past the last whole record: an append of ours that failed
     * part-way (only the lock holder writes here) */
    if ((long long)st.st_size > se->log_len &&
        ftruncate(fd, (off_t)se->log_len) != 0) {
        int err = errno;
        close(fd);
        return sn_errf(e, "%s/%s: cannot cut a partial record: %s", se->dir,
                       name, strerror(err));
    }
    size_t left = strlen(line), n = left;
    const char *s = line;
    int err = 0;
    while (left) {
        ssize_t w = write(fd, s, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            err = errno;
            break;
        }
        s += w;
        left -= (size_t)w;
    }
    if (!err && fsync(fd) != 0) err = errno;
    if (err) {
        /* leave the log ending at a whole record */
        if (ftruncate(fd, (off_t)se->log_len) == 0) fsync(fd);
        close(fd);
        return sn_errf(e, "%s/%s: %s (the record was not written)", se->dir,
                       name, strerror(err));
    }
    close(fd);
    se->log_len += (long long)n;
    sn_fsync_dir_at(se->dirfd, name);
    return 0;
}

static cJSON *num_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        /* 6 significant digits keep lines short; curves are for display */
        char buf[32];
        if (v[i] < 0) { /* not measured (validation after the last
                           * epoch only): null, as unknown accuracies are */
            cJSON_AddItemToArray(a, cJSON_CreateNull());
            continue;
        }
        snprintf(buf, sizeof buf, "%.6g", v[i]);
        cJSON_AddItemToArray(a, cJSON_CreateNumber(strtod(buf, NULL)));
    }
    return a;
}

static void add_or_null(cJSON *j, const char *k, double v) {
    if (v >= 0) cJSON_AddNumberToObject(j, k, v);
    else cJSON_AddNullToObject(j, k);
}

cJSON *sn_cand_to_json(const sn_cand_info *i) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", i->id);
    cJSON_AddNumberToObject(j, "parent", i->parent);
    cJSON_AddStringToObject(j, "morph", i->morph);
    cJSON_AddStringToObject(j, "op", i->op);
    cJSON_AddStringToObject(j, "status", sn_cand_status_name(i->status));
    cJSON_AddNumberToObject(j, "params", (double)i->params);
    cJSON_AddNumberToObject(j, "flops", (double)i->flops);
    cJSON_AddNumberToObject(j, "memory", (double)i->memory);
    add_or_null(j, "val_acc", i->val_acc);
    add_or_null(j, "test_acc", i->test_acc);
    add_or_null(j, "train_loss", i->train_loss);
    cJSON_AddNumberToObject(j, "epochs", i->epochs);
    cJSON_AddNumberToObject(j, "fidelity", i->fidelity > 0 ? i->fidelity : 1);
    cJSON_AddNumberToObject(j, "seconds", i->seconds);
    cJSON_AddNumberToObject(j, "elapsed", i->elapsed);
    if (i->overhead >= 0) {
        cJSON_AddNumberToObject(j, "loop_seconds", i->loop_seconds);
        cJSON_AddNumberToObject(j, "overhead", i->overhead);
    }
    cJSON_AddNumberToObject(j, "hypervolume", i->hypervolume);
    cJSON_AddBoolToObject(j, "front", i->on_front);
    return j;
}

/* The record line of results.log: the candidate without what changes
 * after it is written (test_acc comes in a "final" record; front
 * membership is recomputed on load), plus its curves. */
char *run_cand_line(const cand *c) {
    cJSON *j = sn_cand_to_json(&c->info);
    cJSON_DeleteItemFromObject(j, "test_acc");
    cJSON_DeleteItemFromObject(j, "front");
    if (c->n_curve > 0) {
        cJSON_AddItemToObject(j, "curve_loss", num_array(c->loss, c->n_curve));
        cJSON_AddItemToObject(j, "curve_val", num_array(c->val, c->n_curve));
    }
    return sn_json_print(j, 0);
}

/* ---- loading ----------------------------------------------------------
 *
 * Loading is lenient: one damaged file or log line costs that candidate,
 * not the run. A candidate whose record or files are damaged is loaded
 * with status "damaged" (never on the front, never a parent, never
 * retrained), a log line that is no record at all is skipped, and every
 * such problem is collected (se->issues) for `slimnas check`, together
 * with the log as `check --repair` would write it (se->fixed_log). */

static void add_issue(sn_search *se, issue_kind k, int line, const char *file,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_issue(sn_search *se, issue_kind k, int line, const char *file,
                      const char *fmt, ...) {
    if (se->n_issues == se->cap_issues) {
        se->cap_issues = se->cap_issues ? 2 * se->cap_issues : 8;
        se->issues = sn_xrealloc(se->issues,
                                 (size_t)se->cap_issues * sizeof *se->issues);
    }
    run_issue *is = &se->issues[se->n_issues++];
    memset(is, 0, sizeof *is);
    is->kind = k;
    is->line = line;
    snprintf(is->file, sizeof is->file, "%s", file);
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(is->msg, sizeof is->msg, "%.150s/%.60s:%d: %.330s", se->dir, file,
                 line, what);
    else
        snprintf(is->msg, sizeof is->msg, "%.150s/%.60s: %.330s", se->dir, file,
                 what);
}

void run_free_issues(sn_search *se) {
    free(se->issues);
    se->issues = NULL;
    se->n_issues = se->cap_issues = 0;
    free(se->fixed_log);
    se->fixed_log = NULL;
    se->fixed_len = se->fixed_cap = 0;
}

static void fix_put(sn_search *se, const char *s, size_t n) {
    if (se->fixed_len + n + 2 > se->fixed_cap) {
        se->fixed_cap = 2 * (se->fixed_len + n + 2) + 4096;
        se->fixed_log = sn_xrealloc(se->fixed_log, se->fixed_cap);
    }
    memcpy(se->fixed_log + se->fixed_len, s, n);
    se->fixed_len += n;
    se->fixed_log[se->fixed_len] = 0;
}

/* A number field; an optional one may be missing (v kept) or null
 * (unknown: -1). */
static int get_num(const cJSON *o, const char *k, double *v, int required) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) return required ? -1 : 0;
    if (cJSON_IsNull(it) && !required) {
        *v = -1;
        return 0;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return -1;
    *v = it->valuedouble;
    return 0;
}

static int get_str(const cJSON *o, const char *k, char *buf, size_t n) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) {
        buf[0] = 0;
        return 0;
    }
    if (!cJSON_IsString(it)) return -1;
    snprintf(buf, n, "%s", it->valuestring);
    return 0;
}

static int get_curve(const cJSON *o, const char *k, double **out, int *n) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) return 0;
    if (!cJSON_IsArray(it)) return -1;
    int m = cJSON_GetArraySize(it);
    double *v = sn_xcalloc((size_t)m + 1, sizeof *v);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, it) {
        if (cJSON_IsNull(x)) { /* not measured */
            v[i++] = -1;
            continue;
        }
        if (!cJSON_IsNumber(x)) {
            free(v);
            return -1;
        }
        v[i++] = x->valuedouble;
    }
    free(*out);
    *out = v;
    *n = m;
    return 0;
}

/* A final record; -1 with why. */
static int parse_final(sn_search *se, const cJSON *o, char *why, size_t n) {
    double id = -1, test = -1, val = -1;
    if (get_num(o, "final", &id, 1) || id != floor(id) || id < 0 ||
        id >= se->n) {
        snprintf(why, n, "\"final\" names no known candidate");
        return -1;
    }
    if (get_num(o, "test_acc", &test, 1) || get_num(o, "val_acc", &val, 0)) {
        snprintf(why, n, "final record needs a numeric test_acc");
        return -1;
    }
    se->c[(int)id].info.test_acc = test;
    se->c[(int)id].info.final_val_acc = val;
    return 0;
}

/* The fields of candidate record o (its id already checked to be se->n)
 * into c; -1 with why. */
static int cand_fields(const sn_search *se, const cJSON *o, cand *c,
                       char *why, size_t wn) {
    sn_cand_info *i = &c->info;
    double parent, v;
    char st[32];
    i->id = se->n;
    if (get_num(o, "parent", &parent, 1) || parent != floor(parent) ||
        parent < -1 || parent >= se->n) {
        snprintf(why, wn, "missing or bad \"parent\"");
        return -1;
    }
    i->parent = (int)parent;
    if (get_str(o, "status", st, sizeof st) ||
        sn_cand_status_from_name(st) < 0) {
        snprintf(why, wn, "missing or bad \"status\"");
        return -1;
    }
    i->status = (sn_cand_status)sn_cand_status_from_name(st);
    if (i->status == SN_CAND_DAMAGED) { /* so recorded by check --repair */
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "damage");
        c->damage = sn_xstrdup(cJSON_IsString(d) ? d->valuestring
                                                 : "recorded as damaged");
    }
    if (i->status == SN_CAND_QUEUED || i->status == SN_CAND_TRAINING) {
        snprintf(why, wn, "status '%s' cannot be in the log", st);
        return -1;
    }
    if (get_str(o, "op", i->op, sizeof i->op) ||
        get_str(o, "morph", i->morph, sizeof i->morph)) {
        snprintf(why, wn, "\"op\" and \"morph\" must be strings");
        return -1;
    }
    static const char *const nums[] = {"params", "flops", "memory"};
    int64_t *dst[] = {&i->params, &i->flops, &i->memory};
    for (int k = 0; k < 3; k++) {
        v = 0;
        if (get_num(o, nums[k], &v, i->status != SN_CAND_DAMAGED) || v < 0 ||
            v > 9e18) {
            snprintf(why, wn, "missing or bad \"%s\"", nums[k]);
            return -1;
        }
        *dst[k] = (int64_t)v;
    }
    v = 0;
    i->overhead = -1; /* older logs, and jobs trained in parallel */
    if (get_num(o, "val_acc", &i->val_acc, i->status == SN_CAND_DONE) ||
        get_num(o, "train_loss", &i->train_loss, 0) ||
        get_num(o, "seconds", &i->seconds, 0) ||
        get_num(o, "elapsed", &i->elapsed, 0) ||
        get_num(o, "loop_seconds", &i->loop_seconds, 0) ||
        get_num(o, "overhead", &i->overhead, 0) ||
        get_num(o, "hypervolume", &i->hypervolume, 0) ||
        get_num(o, "epochs", &v, 0) || fabs(v) > 1e9) {
        snprintf(why, wn, "a numeric field is missing or bad");
        return -1;
    }
    i->epochs = (int)v;
    v = 1; /* logs before multi-fidelity: every record the cheap one */
    if (get_num(o, "fidelity", &v, 0) || v != floor(v) || v < 1 || v > 9) {
        snprintf(why, wn, "bad \"fidelity\" (an integer 1..9)");
        return -1;
    }
    i->fidelity = (int)v;
    if (get_curve(o, "curve_loss", &c->loss, &c->n_curve) ||
        get_curve(o, "curve_val", &c->val, &c->n_curve)) {
        snprintf(why, wn, "bad curve array");
        return -1;
    }
    if (!c->loss || !c->val) {
        free(c->loss);
        free(c->val);
        c->loss = c->val = NULL;
        c->n_curve = 0;
    }
    return 0;
}

static void cand_blank(cand *c, int id) {
    memset(c, 0, sizeof *c);
    c->info.id = id;
    c->info.parent = -1;
    c->info.val_acc = c->info.train_loss = -1;
    c->info.test_acc = c->info.final_val_acc = -1;
}

static void mark_damaged(sn_search *se, cand *c, const char *why) {
    if (c->info.status != SN_CAND_DAMAGED) se->n_damaged++;
    c->info.status = SN_CAND_DAMAGED;
    c->damage_new = 1;
    free(c->damage);
    c->damage = sn_xstrdup(why);
}

/* Loads cand/ID.json (every candidate) and, when checking, verifies
 * cand/ID.bin (done candidates). A record already marked damaged (by
 * check --repair) raises no new problem. */
static void cand_files(sn_search *se, cand *c, run_mode mode) {
    int known = c->info.status == SN_CAND_DAMAGED;
    int id = c->info.id;
    char rel[64], disp[SN_SEARCH_PATH_LEN + 64];
    char *text = NULL;
    size_t len = 0;
    sn_error e;
    snprintf(rel, sizeof rel, "cand/%d.json", id);
    snprintf(disp, sizeof disp, "%s/%s", se->dir, rel);
    if (sn_read_file_at(se->dirfd, rel, &text, &len, &e)) {
        int missing = errno == ENOENT;
        if (!known) {
            add_issue(se, missing ? ISSUE_MISSING : ISSUE_FILE, 0, rel, "%s",
                      missing ? "missing (candidate marked damaged)"
                              : strerror(errno));
            mark_damaged(se, c, se->issues[se->n_issues - 1].msg);
        }
        return;
    }
    c->graph = sn_graph_from_json(text, len, disp, &e);
    free(text);
    if (!c->graph) {
        if (!known) {
            add_issue(se, ISSUE_FILE, 0, rel, "does not load: %s", e.msg);
            mark_damaged(se, c, e.msg);
        }
        return;
    }
    if (mode == RUN_READ || c->info.status != SN_CAND_DONE) return;
    snprintf(rel, sizeof rel, "cand/%d.bin", id);
    snprintf(disp, sizeof disp, "%s/%s", se->dir, rel);
    if (sn_read_file_at(se->dirfd, rel, &text, &len, &e)) {
        int missing = errno == ENOENT;
        add_issue(se, missing ? ISSUE_MISSING : ISSUE_FILE, 0, rel, "%s",
                  missing ? "missing (candidate marked damaged)"
                          : strerror(errno));
        mark_damaged(se, c, se->issues[se->n_issues - 1].msg);
        return;
    }
    int bad = sn_weights_check(c->graph, text, len, disp, &e);
    free(text);
    if (bad) {
        add_issue(se, ISSUE_FILE, 0, rel, "does not load: %s", e.msg);
        mark_damaged(se, c, e.msg);
    }
}

/* Verifies cand/ID.final.bin of a candidate with a final record. */
static void final_file(sn_search *se, cand *c) {
    if (c->info.status != SN_CAND_DONE || !(c->info.final_val_acc >= 0) ||
        !c->graph)
        return;
    char rel[64], disp[SN_SEARCH_PATH_LEN + 64];
    char *text;
    size_t len;
    sn_error e;
    snprintf(rel, sizeof rel, "cand/%d.final.bin", c->info.id);
    snprintf(disp, sizeof disp, "%s/%s", se->dir, rel);
    if (sn_read_file_at(se->dirfd, rel, &text, &len, &e)) {
        add_issue(se, errno == ENOENT ? ISSUE_MISSING : ISSUE_FILE, 0, rel,
                  "%s", errno == ENOENT ? "missing (candidate marked damaged)"
                                        : strerror(errno));
        mark_damaged(se, c, se->issues[se->n_issues - 1].msg);
        return;
    }
    int bad = sn_weights_check(c->graph, text, len, disp, &e);
    free(text);
    if (bad) {
        add_issue(se, ISSUE_FILE, 0, rel, "does not load: %s", e.msg);
        mark_damaged(se, c, e.msg);
    }
}

/* One step of the log as repair writes it. */
typedef struct ev {
    int kind; /* 0 original line kept, 1 candidate record, 2 placeholder */
    int id;
    size_t off, len;
} ev;

static void ev_add(ev **v, int *n, int *cap, int kind, int id, size_t off,
                   size_t len) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = sn_xrealloc(*v, (size_t)*cap * sizeof **v);
    }
    (*v)[(*n)++] = (ev){kind, id, off, len};
}

static void add_placeholder(sn_search *se, run_mode mode, int line,
                            const char *why) {
    cand c;
    cand_blank(&c, se->n);
    c.info.status = SN_CAND_DAMAGED;
    snprintf(c.info.op, sizeof c.info.op, "damaged: %.170s", why);
    se->n_damaged++;
    c.damage = sn_xstrdup(why);
    c.damage_new = 1;
    (void)line;
    cand_files(se, &c, mode); /* its graph, when cand/ID.json loads */
    search_add_cand(se, &c);
}

/* The repaired record of a damaged candidate: its own line with status
 * damaged (the old one kept as "was") or, without a usable line, a
 * placeholder. */
static void fix_damaged(sn_search *se, const cand *c, const char *orig,
                        size_t len) {
    cJSON *o = orig ? cJSON_ParseWithLength(orig, len) : NULL;
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", c->info.id);
        cJSON_AddNumberToObject(o, "parent", -1);
        cJSON_AddStringToObject(o, "op", c->info.op);
    } else {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
        if (cJSON_IsString(st) && !cJSON_GetObjectItem(o, "was"))
            cJSON_AddStringToObject(o, "was", st->valuestring);
        cJSON_DeleteItemFromObjectCaseSensitive(o, "status");
    }
    cJSON_AddStringToObject(o, "status", "damaged");
    if (c->damage && !cJSON_GetObjectItem(o, "damage"))
        cJSON_AddStringToObject(o, "damage", c->damage);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    fix_put(se, s, strlen(s));
    fix_put(se, "\n", 1);
    free(s);
}

/* Moves rel aside to rel.SUFFIX (.1, .2 ... when taken); never replaces. */
static int move_aside(int dirfd, const char *rel, const char *suffix,
                      char *to, size_t n) {
    for (int k = 0; k < 1000; k++) {
        if (k == 0) snprintf(to, n, "%s.%s", rel, suffix);
        else snprintf(to, n, "%s.%s.%d", rel, suffix, k);
        if (linkat(dirfd, rel, dirfd, to, 0) == 0) {
            unlinkat(dirfd, rel, 0);
            if (sn_io_hook) sn_io_hook(SN_IO_NAMED, dirfd, to);
            sn_fsync_dir_at(dirfd, rel);
            return 0;
        }
        if (errno != EEXIST) return -1;
    }
    return -1;
}

/* cand/ID.json, ID.bin, ID.final.bin: the id and 1 for a final file;
 * -1 for any other name. */
static int cand_file_id(const char *name, int *final) {
    char *end;
    if (name[0] < '0' || name[0] > '9') return -1;
    long id = strtol(name, &end, 10);
    if (id < 0 || id > 100000000) return -1;
    *final = 0;
    if (!strcmp(end, ".json") || !strcmp(end, ".bin")) return (int)id;
    if (!strcmp(end, ".final.bin")) {
        *final = 1;
        return (int)id;
    }
    return -1;
}

/* Files on disk against the log: temp files left by a kill, candidate
 * files no record names. The writer removes the temp files and moves the
 * in-flight candidate's files aside (a kill between its files and its log
 * line); files of later candidates mean the log lost records. */
static int scan_files(sn_search *se, run_mode mode, sn_error *e) {
    static const char *const subs[] = {".", "cand"};
    int later = -1;
    char first[64] = "";
    /* what to do, decided before anything is done: an error changes
     * nothing (renaming while reading a directory is unsafe, too) */
    char **todo = NULL; /* "t" + rel: remove a temp file; "u" + rel: aside */
    int nt = 0, capt = 0;
    for (int d = 0; d < 2; d++) {
        int fd = openat(se->dirfd, subs[d], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) continue;
        DIR *dp = fdopendir(fd);
        if (!dp) {
            close(fd);
            continue;
        }
        struct dirent *ent;
        while ((ent = readdir(dp))) {
            const char *name = ent->d_name;
            char rel[300];
            snprintf(rel, sizeof rel, "%s%s%s", d ? subs[d] : "",
                     d ? "/" : "", name);
            char act = 0;
            int fin = 0, id = -1;
            if (sn_is_tmp_name(name)) {
                if (mode == RUN_CHECK)
                    add_issue(se, ISSUE_TMP, 0, rel, "a temp file left by a "
                              "kill mid-write (removed on resume)");
                act = 't';
            } else if (d && (id = cand_file_id(name, &fin)) >= 0 &&
                       (fin ? id >= se->n || !(se->c[id].info.test_acc >= 0)
                            : id >= se->n)) {
                if (mode == RUN_CHECK)
                    add_issue(se, ISSUE_UNLOGGED, 0, rel, "results.log has no "
                              "record of it (repair moves it aside)");
                if (id > se->n || (id == se->n && fin)) {
                    if (later < 0 || id > later) later = id;
                    if (!first[0])
                        snprintf(first, sizeof first, "%.60s", rel);
                }
                act = 'u';
            }
            if (!act || mode != RUN_OPEN) continue;
            if (nt == capt) {
                capt = capt ? 2 * capt : 16;
                todo = sn_xrealloc(todo, (size_t)capt * sizeof *todo);
            }
            todo[nt] = sn_xmalloc(strlen(rel) + 2);
            todo[nt][0] = act;
            strcpy(todo[nt] + 1, rel);
            nt++;
        }
        closedir(dp);
    }
    int rc = 0, moved = 0;
    if (mode == RUN_OPEN && later >= 0) {
        char has[48];
        if (se->n > 0) snprintf(has, sizeof has, "candidates 0..%d", se->n - 1);
        else snprintf(has, sizeof has, "no candidate");
        rc = sn_errf(e, "%s: results.log records %s but %s/%s exists: the "
                        "log and the files disagree (was the log emptied or "
                        "cut?); nothing was changed. 'slimnas check --repair "
                        "%s' moves the unlogged files aside",
                     se->dir, has, se->dir, first, se->dir);
    }
    for (int k = 0; k < nt; k++) {
        const char *rel = todo[k] + 1;
        char to[340];
        if (rc) {
        } else if (todo[k][0] == 't') {
            unlinkat(se->dirfd, rel, 0);
        } else if (move_aside(se->dirfd, rel, "unlogged", to, sizeof to) == 0 &&
                   !moved++) {
            /* the candidate in flight at a crash: its files, then its log
             * line, so a kill in between leaves files the log lacks */
            snprintf(se->warning, sizeof se->warning,
                     "%.150s/%.60s: not in results.log (written just before "
                     "a crash?); moved aside to %.80s", se->dir, rel, to);
        }
        free(todo[k]);
    }
    free(todo);
    return rc;
}

/* A record of candidate id when candidates se->n..id-1 have none: each
 * of those must have its graph file on disk or be accounted for by one
 * of the `unusable` lines since the last record; else the id is garbage
 * (a bit flip must not make a billion placeholders). */
static int gap_plausible(const sn_search *se, int id, int unusable) {
    for (int k = se->n + unusable; k < id; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "cand/%d.json", k);
        if (faccessat(se->dirfd, rel, F_OK, 0) != 0) return 0;
    }
    return 1;
}

int run_load(sn_search *se, run_mode mode, sn_error *e) {
    const char *dir = se->dir;
    if (se->dirfd < 0 && run_open_dir(se, 0, e)) return -1;
    char *text = NULL;
    size_t len = 0;
    sn_error fe;
    if (sn_read_file_at(se->dirfd, "settings.json", &text, &len, &fe)) {
        if (errno == ENOENT)
            return sn_errf(e, "%s/settings.json: missing (is %s a run "
                              "directory?)", dir, dir);
        return sn_errf(e, "%s/%s", dir, fe.msg);
    }
    char p[SN_SEARCH_PATH_LEN + 64];
    run_path(p, sizeof p, dir, "settings.json");
    se->s = sn_settings_default();
    se->s.pinned = -1;
    int rc = sn_settings_from_json(&se->s, text, len, p, e);
    free(text);
    if (rc) return -1;
    if (sn_settings_check(&se->s, e)) {
        sn_err_prefix(e, "%s: ", p);
        return -1;
    }
    run_path(p, sizeof p, dir, "results.log");
    text = NULL;
    len = 0;
    if (sn_read_file_at(se->dirfd, "results.log", &text, &len, &fe)) {
        if (errno != ENOENT) return sn_errf(e, "%s/%s", dir, fe.msg);
        text = sn_xstrdup("");
    }
    int torn = 0;
    /* A last line without its newline is a torn append: drop it and, when
     * opening the run to continue it, rewrite the log without it so later
     * appends start clean. A read-only load (fork, show) leaves the file
     * alone: its writer may be appending right now. */
    if (len > 0 && text[len - 1] != '\n') {
        size_t k = len;
        while (k > 0 && text[k - 1] != '\n') k--;
        int line, col;
        sn_text_position(text, k, &line, &col);
        snprintf(se->warning, sizeof se->warning,
                 "%s:%d: dropped an incomplete last line (a write cut short)",
                 p, line);
        if (mode == RUN_CHECK)
            add_issue(se, ISSUE_TORN, line, "results.log", "an incomplete "
                      "last line (a write cut short; dropped on resume)");
        se->log_changed = torn = 1;
        len = k;
        text[len] = 0;
    }
    /* the parse below cuts text into lines: keep the log to write back */
    char *keep = torn && mode == RUN_OPEN ? sn_xstrdup(text) : NULL;
    se->log_len = (long long)len;
    ev *evs = NULL;
    int n_ev = 0, cap_ev = 0, line = 0, unusable = 0;
    char why[300];
    char *s = text;
    /* by length: a line may hold NUL bytes (the text ends with '\n') */
    while ((size_t)(s - text) < len) {
        char *nl = memchr(s, '\n', len - (size_t)(s - text));
        line++;
        size_t off = (size_t)(s - text), ln = (size_t)(nl - s);
        *nl = 0;
        const char *q = s;
        while (q < nl && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == nl) {
            s = nl + 1;
            continue;
        }
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(s, ln, &end, 0);
        /* the object must be the whole line */
        while (o && end && end < nl &&
               (*end == ' ' || *end == '\t' || *end == '\r'))
            end++;
        if (o && end != nl) {
            cJSON_Delete(o);
            o = NULL;
        }
        double idv;
        int had = se->n_issues, n0 = se->n;
        if (!o || !cJSON_IsObject(o)) {
            add_issue(se, ISSUE_LINE, line, "results.log",
                      "not a JSON object (corrupt line; skipped)");
        } else if (cJSON_GetObjectItemCaseSensitive(o, "final")) {
            if (parse_final(se, o, why, sizeof why))
                add_issue(se, ISSUE_LINE, line, "results.log",
                          "%s (skipped)", why);
            else
                ev_add(&evs, &n_ev, &cap_ev, 0, -1, off, ln);
        } else if (get_num(o, "id", &idv, 1) || idv != floor(idv) ||
                   idv < 0 || idv > 1e8) {
            add_issue(se, ISSUE_LINE, line, "results.log",
                      "missing or bad \"id\" (skipped)");
        } else if ((int)idv < se->n) {
            add_issue(se, ISSUE_LINE, line, "results.log",
                      "a second record of candidate %d (skipped)", (int)idv);
        } else if (!gap_plausible(se, (int)idv, unusable)) {
            add_issue(se, ISSUE_LINE, line, "results.log",
                      "candidate %d follows candidate %d with neither log "
                      "lines nor files in between (skipped)", (int)idv,
                      se->n - 1);
        } else {
            int id = (int)idv;
            while (se->n < id) { /* lost records: the candidates stay */
                add_issue(se, ISSUE_LINE, line, "results.log",
                          "no record of candidate %d before this line "
                          "(marked damaged)", se->n);
                ev_add(&evs, &n_ev, &cap_ev, 2, se->n, 0, 0);
                add_placeholder(se, mode, line, "its log record is missing");
            }
            cand c;
            cand_blank(&c, id);
            if (cand_fields(se, o, &c, why, sizeof why)) {
                add_issue(se, ISSUE_LINE, line, "results.log",
                          "%s (candidate %d marked damaged)", why, id);
                free(c.loss);
                free(c.val);
                free(c.damage);
                ev_add(&evs, &n_ev, &cap_ev, 2, id, 0, 0);
                add_placeholder(se, mode, line, why);
            } else {
                cand_files(se, &c, mode);
                search_add_cand(se, &c);
                ev_add(&evs, &n_ev, &cap_ev, 1, id, off, ln);
            }
        }
        cJSON_Delete(o);
        if (se->n > n0) unusable = 0;            /* a record */
        else if (se->n_issues > had) unusable++; /* maybe a lost record */
        s = nl + 1;
    }
    if (mode != RUN_READ)
        for (int k = 0; k < se->n; k++) final_file(se, &se->c[k]);
    /* the log as check --repair writes it */
    for (int k = 0; k < n_ev; k++) {
        const ev *v = &evs[k];
        const cand *c = v->id >= 0 ? &se->c[v->id] : NULL;
        /* lines kept as they are (a record damaged in the log already
         * is not damaged anew) */
        if (v->kind == 0 ||
            (v->kind == 1 &&
             (c->info.status != SN_CAND_DAMAGED || !c->damage_new))) {
            fix_put(se, text + v->off, v->len);
            fix_put(se, "\n", 1);
        } else {
            fix_damaged(se, c, v->kind == 1 ? text + v->off : NULL,
                        v->kind == 1 ? v->len : 0);
        }
    }
    if (se->fixed_len != len ||
        (len && memcmp(se->fixed_log, text, len) != 0))
        se->log_changed = 1;
    free(evs);
    free(text);
    if (mode != RUN_READ && scan_files(se, mode, e)) {
        free(keep);
        return -1;
    }
    if (keep && sn_write_atomic_at(se->dirfd, "results.log", keep, len, 0,
                                   &fe)) {
        free(keep);
        return sn_errf(e, "%s/%s", dir, fe.msg);
    }
    free(keep);
    if (se->n_damaged > 0 || (mode != RUN_CHECK && se->n_issues > 0)) {
        char first[300] = "";
        for (int k = 0; k < se->n_issues && !first[0]; k++)
            snprintf(first, sizeof first, "%.299s", se->issues[k].msg);
        snprintf(se->warning, sizeof se->warning,
                 "%d damaged candidate%s, %d problem%s (%.300s); damaged "
                 "candidates are never parents; 'slimnas check %.100s' lists "
                 "them",
                 se->n_damaged, se->n_damaged == 1 ? "" : "s", se->n_issues,
                 se->n_issues == 1 ? "" : "s", first, dir);
    }
    for (int k = 0; k < se->n; k++)
        if (se->c[k].info.elapsed > se->spent) se->spent = se->c[k].info.elapsed;
    return 0;
}

/* ---- check and repair --------------------------------------------------- */

static int print_issues(const sn_search *se, FILE *out) {
    for (int k = 0; k < se->n_issues; k++) fprintf(out, "%s\n", se->issues[k].msg);
    return se->n_issues;
}

static sn_search *check_load(const char *dir, int lock, sn_error *e) {
    sn_search *se = sn_xcalloc(1, sizeof *se);
    se->dirfd = -1;
    snprintf(se->dir, sizeof se->dir, "%s", dir);
    if (run_open_dir(se, lock, e) || run_load(se, RUN_CHECK, e)) {
        sn_search_free(se);
        return NULL;
    }
    return se;
}

int sn_search_check(const char *dir, int repair, FILE *out, sn_error *e) {
    if (strlen(dir) >= SN_SEARCH_PATH_LEN - 32)
        return sn_errf(e, "%s: path too long", dir);
    sn_search *se = check_load(dir, repair, e);
    if (!se) return -1;
    int n = print_issues(se, out);
    int nd = 0;
    for (int k = 0; k < se->n; k++) nd += se->c[k].info.status == SN_CAND_DAMAGED;
    if (!repair) {
        fprintf(out, "%s: %d candidate%s, %d damaged; %d problem%s%s\n", dir,
                se->n, se->n == 1 ? "" : "s", nd, n, n == 1 ? "" : "s",
                n ? " ('slimnas check --repair' moves damaged files aside; "
                    "nothing is deleted)" : "");
        sn_search_free(se);
        return n;
    }
    int failed = 0;
    for (int k = 0; k < se->n_issues; k++) {
        const run_issue *is = &se->issues[k];
        char to[400];
        if (is->kind == ISSUE_FILE || is->kind == ISSUE_UNLOGGED) {
            const char *suf = is->kind == ISSUE_FILE ? "damaged" : "unlogged";
            if (move_aside(se->dirfd, is->file, suf, to, sizeof to)) {
                fprintf(out, "repair: %s/%s: cannot move aside: %s\n", dir,
                        is->file, strerror(errno));
                failed = 1;
            } else {
                fprintf(out, "repair: moved %s/%s aside to %s\n", dir,
                        is->file, to);
            }
        } else if (is->kind == ISSUE_TMP) {
            if (unlinkat(se->dirfd, is->file, 0) == 0)
                fprintf(out, "repair: removed %s/%s (a partial write)\n", dir,
                        is->file);
        }
    }
    if (se->log_changed) {
        char to[400] = "(none)";
        sn_error we;
        if (faccessat(se->dirfd, "results.log", F_OK, 0) == 0 &&
            move_aside(se->dirfd, "results.log", "damaged", to, sizeof to)) {
            fprintf(out, "repair: %s/results.log: cannot save the old log: "
                         "%s\n", dir, strerror(errno));
            failed = 1;
        } else if (sn_write_atomic_at(se->dirfd, "results.log",
                                      se->fixed_log ? se->fixed_log : "",
                                      se->fixed_len, 0, &we)) {
            fprintf(out, "repair: %s/%s\n", dir, we.msg);
            failed = 1;
        } else {
            fprintf(out, "repair: rewrote %s/results.log (unusable lines "
                         "dropped, damaged candidates recorded as such); the "
                         "old log is %s\n", dir, to);
        }
    }
    /* what is left, seen afresh (the lock is still ours) */
    sn_search *after = check_load(dir, 0, e);
    sn_search_free(se);
    if (!after) return -1;
    int left = print_issues(after, out);
    nd = 0;
    for (int k = 0; k < after->n; k++)
        nd += after->c[k].info.status == SN_CAND_DAMAGED;
    fprintf(out, "%s: after repair: %d candidate%s, %d damaged; %d problem%s "
                 "left\n", dir, after->n, after->n == 1 ? "" : "s", nd, left,
            left == 1 ? "" : "s");
    sn_search_free(after);
    return failed && !left ? 1 : left;
}
