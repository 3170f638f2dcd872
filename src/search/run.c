/* run.c — the run directory: its folders, the append-only results log,
 * and loading a run back (settings, log, graphs, weight checks).
 *
 * The log is appended with O_APPEND and fsync'd after every line, after
 * the candidate's graph and weights (written atomically) and an fsync of
 * the folders, so a line never names files that a crash could lose. */
#include "search_internal.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int run_append_log(const char *dir, const char *line, sn_error *e) {
    char p[SN_SEARCH_PATH_LEN + 32];
    run_path(p, sizeof p, dir, "cand");
    fsync_dir(p); /* the files this line names are durable first */
    run_path(p, sizeof p, dir, "results.log");
    int fd = open(p, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return sn_errf(e, "%s: %s", p, strerror(errno));
    size_t left = strlen(line);
    const char *s = line;
    while (left) {
        ssize_t w = write(fd, s, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            return sn_errf(e, "%s: %s", p, strerror(err));
        }
        s += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        return sn_errf(e, "%s: fsync: %s", p, strerror(err));
    }
    close(fd);
    fsync_dir(dir);
    return 0;
}

static cJSON *num_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        /* 6 significant digits keep lines short; curves are for display */
        char buf[32];
        snprintf(buf, sizeof buf, "%.6g", v[i]);
        cJSON_AddItemToArray(a, cJSON_CreateNumber(strtod(buf, NULL)));
    }
    return a;
}

char *run_cand_line(const cand *c) {
    const sn_cand_info *i = &c->info;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", i->id);
    cJSON_AddNumberToObject(j, "parent", i->parent);
    cJSON_AddStringToObject(j, "morph", i->morph);
    cJSON_AddStringToObject(j, "op", i->op);
    cJSON_AddStringToObject(j, "status", sn_cand_status_name(i->status));
    cJSON_AddNumberToObject(j, "params", (double)i->params);
    cJSON_AddNumberToObject(j, "flops", (double)i->flops);
    cJSON_AddNumberToObject(j, "memory", (double)i->memory);
    cJSON_AddNumberToObject(j, "val_acc", i->val_acc);
    cJSON_AddNumberToObject(j, "train_loss", i->train_loss);
    cJSON_AddNumberToObject(j, "epochs", i->epochs);
    cJSON_AddNumberToObject(j, "fidelity", i->fidelity > 0 ? i->fidelity : 1);
    cJSON_AddNumberToObject(j, "seconds", i->seconds);
    cJSON_AddNumberToObject(j, "elapsed", i->elapsed);
    cJSON_AddNumberToObject(j, "hypervolume", i->hypervolume);
    if (c->n_curve > 0) {
        cJSON_AddItemToObject(j, "curve_loss", num_array(c->loss, c->n_curve));
        cJSON_AddItemToObject(j, "curve_val", num_array(c->val, c->n_curve));
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    size_t n = strlen(s);
    char *out = sn_xmalloc(n + 2);
    memcpy(out, s, n);
    out[n] = '\n';
    out[n + 1] = 0;
    free(s);
    return out;
}

/* ---- loading ---------------------------------------------------------- */

static int get_num(const cJSON *o, const char *k, double *v, int required) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) return required ? -1 : 0;
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

static int parse_final(sn_search *se, const cJSON *o, const char *file,
                       int line, sn_error *e) {
    double id = -1, test = -1, val = -1;
    if (get_num(o, "final", &id, 1) || id != floor(id) || id < 0 ||
        id >= se->n)
        return sn_errf(e, "%s:%d: \"final\" names no known candidate", file,
                       line);
    if (get_num(o, "test_acc", &test, 1) || get_num(o, "val_acc", &val, 0))
        return sn_errf(e, "%s:%d: final record needs a numeric test_acc",
                       file, line);
    se->c[(int)id].info.test_acc = test;
    se->c[(int)id].info.final_val_acc = val;
    return 0;
}

static int parse_cand(sn_search *se, const cJSON *o, const char *file,
                      int line, int verify, sn_error *e) {
    cand c;
    memset(&c, 0, sizeof c);
    sn_cand_info *i = &c.info;
    double id, parent, v;
    char st[32];
    if (get_num(o, "id", &id, 1) || id != floor(id))
        return sn_errf(e, "%s:%d: missing or bad \"id\"", file, line);
    if ((int)id != se->n)
        return sn_errf(e, "%s:%d: expected candidate %d, found id %d", file,
                       line, se->n, (int)id);
    i->id = (int)id;
    if (get_num(o, "parent", &parent, 1) || parent != floor(parent) ||
        parent < -1 || parent >= id)
        return sn_errf(e, "%s:%d: missing or bad \"parent\"", file, line);
    i->parent = (int)parent;
    if (get_str(o, "status", st, sizeof st) ||
        sn_cand_status_from_name(st) < 0)
        return sn_errf(e, "%s:%d: missing or bad \"status\"", file, line);
    i->status = (sn_cand_status)sn_cand_status_from_name(st);
    if (i->status == SN_CAND_QUEUED || i->status == SN_CAND_TRAINING)
        return sn_errf(e, "%s:%d: status '%s' cannot be in the log", file,
                       line, st);
    if (get_str(o, "op", i->op, sizeof i->op) ||
        get_str(o, "morph", i->morph, sizeof i->morph))
        return sn_errf(e, "%s:%d: \"op\" and \"morph\" must be strings",
                       file, line);
    static const char *const nums[] = {"params", "flops", "memory"};
    int64_t *dst[] = {&i->params, &i->flops, &i->memory};
    for (int k = 0; k < 3; k++) {
        if (get_num(o, nums[k], &v, 1) || v < 0)
            return sn_errf(e, "%s:%d: missing or bad \"%s\"", file, line,
                           nums[k]);
        *dst[k] = (int64_t)v;
    }
    i->val_acc = -1;
    i->train_loss = -1;
    i->test_acc = -1;
    i->final_val_acc = -1;
    v = 0;
    if (get_num(o, "val_acc", &i->val_acc, i->status == SN_CAND_DONE) ||
        get_num(o, "train_loss", &i->train_loss, 0) ||
        get_num(o, "seconds", &i->seconds, 0) ||
        get_num(o, "elapsed", &i->elapsed, 0) ||
        get_num(o, "hypervolume", &i->hypervolume, 0) ||
        get_num(o, "epochs", &v, 0))
        return sn_errf(e, "%s:%d: a numeric field is missing or bad", file,
                       line);
    i->epochs = (int)v;
    v = 1; /* logs before multi-fidelity: every record the cheap one */
    if (get_num(o, "fidelity", &v, 0) || v != floor(v) || v < 1 || v > 9)
        return sn_errf(e, "%s:%d: bad \"fidelity\" (an integer 1..9)", file,
                       line);
    i->fidelity = (int)v;
    if (get_curve(o, "curve_loss", &c.loss, &c.n_curve) ||
        get_curve(o, "curve_val", &c.val, &c.n_curve)) {
        free(c.loss);
        free(c.val);
        return sn_errf(e, "%s:%d: bad curve array", file, line);
    }
    if (!c.loss || !c.val) {
        free(c.loss);
        free(c.val);
        c.loss = c.val = NULL;
        c.n_curve = 0;
    }
    i->depth = i->parent >= 0 ? se->c[i->parent].info.depth + 1 : 0;
    char p[SN_SEARCH_PATH_LEN + 64];
    run_path(p, sizeof p, se->dir, "cand/%d.json", i->id);
    c.graph = sn_graph_load(p, e);
    if (!c.graph) {
        free(c.loss);
        free(c.val);
        return -1;
    }
    if (verify && i->status == SN_CAND_DONE) {
        run_path(p, sizeof p, se->dir, "cand/%d.bin", i->id);
        sn_weights *w = sn_weights_load(c.graph, p, e);
        if (!w) {
            sn_graph_free(c.graph);
            free(c.loss);
            free(c.val);
            return -1;
        }
        sn_weights_free(w);
    }
    search_add_cand(se, &c);
    return 0;
}

int run_load(sn_search *se, const char *dir, int verify, sn_error *e) {
    char p[SN_SEARCH_PATH_LEN + 64];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return sn_errf(e, "%s: no such run directory", dir);
    snprintf(se->dir, sizeof se->dir, "%s", dir);
    run_path(p, sizeof p, dir, "settings.json");
    if (access(p, F_OK) != 0)
        return sn_errf(e, "%s: missing (is %s a run directory?)", p, dir);
    se->s = sn_settings_default();
    se->s.pinned = -1;
    if (sn_settings_load(&se->s, p, e)) return -1;
    if (sn_settings_check(&se->s, e)) {
        sn_err_prefix(e, "%s: ", p);
        return -1;
    }
    run_path(p, sizeof p, dir, "results.log");
    char *text = NULL;
    size_t len = 0;
    if (access(p, F_OK) == 0) {
        if (sn_read_file(p, &text, &len, e)) return -1;
    } else {
        text = sn_xstrdup("");
    }
    /* A last line without its newline is a torn append: drop it and, when
     * opening the run to continue it (verify), rewrite the log without it
     * so later appends start clean. A read-only load (fork, show) leaves
     * the file alone: its writer may be appending right now. */
    if (len > 0 && text[len - 1] != '\n') {
        size_t k = len;
        while (k > 0 && text[k - 1] != '\n') k--;
        int line, col;
        sn_text_position(text, k, &line, &col);
        snprintf(se->warning, sizeof se->warning,
                 "%s:%d: dropped an incomplete last line (a write cut short)",
                 p, line);
        len = k;
        text[len] = 0;
        if (verify && sn_write_atomic(p, text, len, e)) {
            free(text);
            return -1;
        }
    }
    int rc = 0, line = 0;
    char *s = text;
    while (*s) {
        char *nl = strchr(s, '\n');
        line++;
        *nl = 0;
        const char *q = s;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) {
            cJSON *o = cJSON_ParseWithLengthOpts(s, (size_t)(nl - s), NULL, 0);
            if (!o || !cJSON_IsObject(o)) {
                rc = sn_errf(e, "%s:%d: not a JSON object (corrupt line)", p,
                             line);
                cJSON_Delete(o);
                break;
            }
            if (cJSON_GetObjectItemCaseSensitive(o, "final"))
                rc = parse_final(se, o, p, line, e);
            else
                rc = parse_cand(se, o, p, line, verify, e);
            cJSON_Delete(o);
            if (rc) break;
        }
        s = nl + 1;
    }
    free(text);
    if (rc) return -1;
    for (int k = 0; k < se->n; k++)
        if (se->c[k].info.elapsed > se->spent) se->spent = se->c[k].info.elapsed;
    return 0;
}
