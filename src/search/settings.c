/* settings.c — search settings: defaults, the key table shared by the
 * command line, config files, settings.json and live `set` commands, and
 * the JSON form. */
#include "slimnas/search.h"

#include "search_internal.h"

#include <cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const obj_names[] = {"params", "flops", "memory"};
_Static_assert(sizeof obj_names / sizeof obj_names[0] == SN_OBJ_COUNT,
               "objective names");
static const char *const strat_names[] = {"bo", "evolution", "random"};
_Static_assert(sizeof strat_names / sizeof strat_names[0] == SN_STRAT_COUNT,
               "strategy names");
static const char *const status_names[] = {
    "queued", "training", "done", "diverged", "infeasible", "failed",
    "damaged"};
_Static_assert(sizeof status_names / sizeof status_names[0] == SN_CAND_COUNT,
               "candidate status names");

const char *sn_objective_name(sn_objective o) {
    return (unsigned)o < SN_OBJ_COUNT ? obj_names[o] : "?";
}
const char *sn_strategy_name(sn_strategy s) {
    return (unsigned)s < SN_STRAT_COUNT ? strat_names[s] : "?";
}
const char *sn_cand_status_name(sn_cand_status s) {
    return (unsigned)s < SN_CAND_COUNT ? status_names[s] : "?";
}
static int lookup(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}
int sn_objective_from_name(const char *s) {
    if (!strcmp(s, "macs")) return SN_OBJ_FLOPS;
    if (!strcmp(s, "mem") || !strcmp(s, "peak")) return SN_OBJ_MEMORY;
    return lookup(obj_names, SN_OBJ_COUNT, s);
}
int sn_strategy_from_name(const char *s) {
    return lookup(strat_names, SN_STRAT_COUNT, s);
}
int sn_cand_status_from_name(const char *s) {
    return lookup(status_names, SN_CAND_COUNT, s);
}

/* Default operator rates: growing and shrinking equally likely overall;
 * the special-purpose deepenings and skip removal at half weight. */
static double default_rate(int id) {
    switch (id) {
    case SN_MORPH_DEEPER_DENSE:
    case SN_MORPH_DEEPER_MBV2:
    case SN_MORPH_REMOVE_SKIP: return 0.5;
    default: return 1.0;
    }
}

/* A float default as the double a user would type: 0.1f -> 0.1, not
 * 0.10000000149011612 (what settings.json and help show). */
static double typed(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)f);
    return strtod(b, NULL);
}

sn_search_settings sn_settings_default(void) {
    sn_search_settings s;
    memset(&s, 0, sizeof s);
    snprintf(s.data, sizeof s.data, "fashion-mnist");
    sn_train_opts t = sn_train_opts_default();
    s.val_split = 0.1;
    s.max_train = 10000;
    s.epochs = 1;
    s.root_epochs = 3;
    s.batch = t.batch;
    s.lr = typed(t.lr);
    s.weight_decay = typed(t.weight_decay);
    s.n_obj = 1;
    s.obj[0] = SN_OBJ_PARAMS;
    s.obj[1] = SN_OBJ_FLOPS;
    s.strategy = SN_STRAT_BO;
    for (int i = 0; i < SN_MORPH_COUNT; i++) s.rates[i] = default_rate(i);
    s.pinned = -1;
    s.budget = 1800;
    s.max_candidates = 0;
    s.final_n = 0;
    s.final_epochs = 10;
    snprintf(s.bases, sizeof s.bases, "cnn:16,mobile_tiny");
    s.seed = 1;
    s.origin_cand = -1;
    s.hv_ref_acc = -1;
    return s;
}

static int parse_int(const char *key, const char *v, long lo, long hi,
                     long *out, sn_error *e) {
    /* "2k"-style counts are counts too */
    int64_t sz;
    if (!sn_parse_long(v, lo, hi, out)) return 0;
    if (sn_parse_size(v, &sz) == 0 && sz >= lo && sz <= hi) {
        *out = (long)sz;
        return 0;
    }
    return sn_errf(e, "%s: '%s' is not an integer in [%ld, %ld]", key, v, lo,
                   hi);
}

static int parse_num(const char *key, const char *v, double lo, double hi,
                     double *out, sn_error *e) {
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= lo && x <= hi))
        return sn_errf(e, "%s: '%s' is not a number in [%g, %g]", key, v, lo,
                       hi);
    *out = x;
    return 0;
}

static int parse_limit(const char *key, const char *v, int64_t *out,
                       sn_error *e) {
    if (!strcmp(v, "none") || !strcmp(v, "off")) {
        *out = 0;
        return 0;
    }
    int64_t x;
    if (sn_parse_size(v, &x) != 0 || x < 0)
        return sn_errf(e, "%s: '%s' is not a size like 20k or 1.5M", key, v);
    *out = x;
    return 0;
}

int base_parse(const char *tok, char *kind, size_t n, int *width,
               int *depth, sn_error *e) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", tok);
    char *w = strchr(buf, ':'), *d = NULL;
    if (w) {
        *w++ = 0;
        if ((d = strchr(w, ':'))) *d++ = 0;
    }
    int ok = 0;
    for (int i = 0; sn_arch_kinds[i]; i++)
        if (!strcmp(sn_arch_kinds[i], buf)) ok = 1;
    if (!ok) return sn_errf(e, "bases: unknown kind '%s'", buf);
    long x = 0, y = 0;
    if (w && sn_parse_long(w, 1, INT_MAX, &x))
        return sn_errf(e, "bases: '%s' needs KIND[:WIDTH[:DEPTH]]", buf);
    if (d && sn_parse_long(d, 1, INT_MAX, &y))
        return sn_errf(e, "bases: bad depth for '%s'", buf);
    snprintf(kind, n, "%s", buf);
    *width = (int)x;
    *depth = (int)y;
    return 0;
}

static int check_bases(const char *v, sn_error *e) {
    char buf[128];
    if (strlen(v) >= sizeof buf) return sn_errf(e, "bases: list too long");
    snprintf(buf, sizeof buf, "%s", v);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        char kind[48];
        int width, depth;
        if (base_parse(t, kind, sizeof kind, &width, &depth, e)) return -1;
        n++;
    }
    if (!n) return sn_errf(e, "bases: empty list");
    return 0;
}

/* ---- the keys that are not plain numbers -------------------------------- */

static int set_data(sn_search_settings *t, const char *key, const char *v,
                    sn_error *e) {
    (void)key;
    if (!*v || strlen(v) >= sizeof t->data)
        return sn_errf(e, "data: bad dataset spec '%s'", v);
    if (sn_data_spec_check(v, e)) {
        sn_err_prefix(e, "data: ");
        return -1;
    }
    snprintf(t->data, sizeof t->data, "%s", v);
    return 0;
}
static void get_data(const sn_search_settings *s, const char *key, char *buf,
                     size_t n) {
    (void)key;
    snprintf(buf, n, "%s", s->data);
}

static int set_objective(sn_search_settings *t, const char *key,
                         const char *v, sn_error *e) {
    char buf[64];
    (void)key;
    snprintf(buf, sizeof buf, "%s", v);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",+", &save); tok;
         tok = strtok_r(NULL, ",+", &save)) {
        int o = sn_objective_from_name(tok);
        if (o < 0)
            return sn_errf(e, "objective: '%s' is not params, flops or "
                              "memory", tok);
        if (n >= SN_SEARCH_MAX_OBJ)
            return sn_errf(e, "objective: at most two size metrics");
        if (n == 1 && t->obj[0] == (sn_objective)o)
            return sn_errf(e, "objective: '%s' given twice", tok);
        t->obj[n++] = (sn_objective)o;
    }
    if (!n) return sn_errf(e, "objective: needs params, flops or memory");
    t->n_obj = n;
    if (n == 1) t->obj[1] = t->obj[0] == SN_OBJ_FLOPS ? SN_OBJ_PARAMS
                                                      : SN_OBJ_FLOPS;
    return 0;
}
static void get_objective(const sn_search_settings *s, const char *key,
                          char *buf, size_t n) {
    (void)key;
    if (s->n_obj == 2)
        snprintf(buf, n, "%s,%s", sn_objective_name(s->obj[0]),
                 sn_objective_name(s->obj[1]));
    else snprintf(buf, n, "%s", sn_objective_name(s->obj[0]));
}

static int set_strategy(sn_search_settings *t, const char *key,
                        const char *v, sn_error *e) {
    (void)key;
    int st = sn_strategy_from_name(v);
    if (st < 0)
        return sn_errf(e, "strategy: '%s' is not bo, evolution or random", v);
    t->strategy = (sn_strategy)st;
    return 0;
}
static void get_strategy(const sn_search_settings *s, const char *key,
                         char *buf, size_t n) {
    (void)key;
    snprintf(buf, n, "%s", sn_strategy_name(s->strategy));
}

static int set_final_at(sn_search_settings *t, const char *key,
                        const char *v, sn_error *e) {
    (void)key;
    t->n_final_at = 0;
    if (!strcmp(v, "none") || !*v) return 0;
    char buf[256];
    if (strlen(v) >= sizeof buf) return sn_errf(e, "final-at: list too long");
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int64_t x;
        if (sn_parse_size(tok, &x) != 0 || x <= 0)
            return sn_errf(e, "final-at: '%s' is not a size like 10k", tok);
        if (t->n_final_at >= SN_FINAL_AT_MAX)
            return sn_errf(e, "final-at: at most %d sizes", SN_FINAL_AT_MAX);
        t->final_at[t->n_final_at++] = x;
    }
    return 0;
}
static void get_final_at(const sn_search_settings *s, const char *key,
                         char *buf, size_t n) {
    (void)key;
    if (!s->n_final_at) snprintf(buf, n, "none");
    for (int i = 0; i < s->n_final_at; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%lld", i ? "," : "",
                 (long long)s->final_at[i]);
    }
}

static int set_final_augment(sn_search_settings *t, const char *key,
                             const char *v, sn_error *e) {
    (void)key;
    int64_t x;
    if (!strcmp(v, "data")) t->final_augment_from = 0;
    else if (!strcmp(v, "on")) t->final_augment_from = 1;
    else if (!strcmp(v, "off")) t->final_augment_from = -1;
    else if (sn_parse_size(v, &x) == 0 && x > 1) t->final_augment_from = x;
    else
        return sn_errf(e, "final-augment: '%s' is not data, on, off or a "
                          "size like 20k", v);
    return 0;
}
static void get_final_augment(const sn_search_settings *s, const char *key,
                              char *buf, size_t n) {
    (void)key;
    int64_t f = s->final_augment_from;
    if (f == 0) snprintf(buf, n, "data");
    else if (f == 1) snprintf(buf, n, "on");
    else if (f < 0) snprintf(buf, n, "off");
    else snprintf(buf, n, "%lld", (long long)f);
}

static int set_bases(sn_search_settings *t, const char *key, const char *v,
                     sn_error *e) {
    (void)key;
    if (check_bases(v, e)) return -1;
    snprintf(t->bases, sizeof t->bases, "%s", v);
    return 0;
}
static void get_bases(const sn_search_settings *s, const char *key, char *buf,
                      size_t n) {
    (void)key;
    snprintf(buf, n, "%s", s->bases);
}

static int set_hv_accuracy(sn_search_settings *t, const char *key,
                           const char *v, sn_error *e) {
    if (!strcmp(v, "chance") || !strcmp(v, "auto")) {
        t->hv_ref_acc = -1;
        return 0;
    }
    char num[32];
    double f = 0;
    size_t l = strlen(v);
    int pct = l > 0 && l < sizeof num && v[l - 1] == '%';
    snprintf(num, sizeof num, "%.*s", (int)(pct ? l - 1 : l), v);
    if (parse_num(key, num, 0, pct ? 99.999 : 0.99999, &f, e))
        return sn_errf(e, "hv-accuracy: '%s' is not an accuracy in [0, 1) or "
                          "a percentage like 80%%, or chance", v);
    t->hv_ref_acc = pct ? f / 100 : f;
    return 0;
}
static void get_hv_accuracy(const sn_search_settings *s, const char *key,
                            char *buf, size_t n) {
    (void)key;
    if (s->hv_ref_acc >= 0) snprintf(buf, n, "%g", s->hv_ref_acc);
    else snprintf(buf, n, "chance");
}

static int set_rate(sn_search_settings *t, const char *key, const char *v,
                    sn_error *e) {
    double f = 0;
    int op = sn_morph_from_name(key + 5);
    if (op < 0) return sn_errf(e, "%s: unknown operator '%s'", key, key + 5);
    if (parse_num(key, v, 0, 1e6, &f, e)) return -1;
    t->rates[op] = f;
    return 0;
}
static void get_rate(const sn_search_settings *s, const char *key, char *buf,
                     size_t n) {
    int op = sn_morph_from_name(key + 5);
    if (op >= 0) snprintf(buf, n, "%g", s->rates[op]);
}

static int set_pin(sn_search_settings *t, const char *key, const char *v,
                   sn_error *e) {
    (void)key;
    if (!strcmp(v, "none") || !*v) {
        t->pinned = -1;
        return 0;
    }
    int op = sn_morph_from_name(v);
    if (op < 0) return sn_errf(e, "pin: unknown operator '%s'", v);
    t->pinned = op;
    return 0;
}
static void get_pin(const sn_search_settings *s, const char *key, char *buf,
                    size_t n) {
    (void)key;
    snprintf(buf, n, "%s",
             s->pinned >= 0 ? sn_morph_get(s->pinned)->name : "none");
}

/* ---- the table ------------------------------------------------------------ */

#define AT(field) offsetof(sn_search_settings, field)
#define NUM(type, lo, hi, field) type, lo, hi, AT(field), NULL, NULL, NULL
/* values: the completion spec of the value (sn_setting_info.complete) */
#define OTHER(name, values)                                                    \
    SN_SET_OTHER, 0, 0, 0, set_##name, get_##name, values

/* Help texts carry no defaults: `--help` appends them from
 * sn_settings_default (sn_cli_setting_default), the one place they live.
 * settings.json is written in this order. */
const sn_setting_info sn_setting_keys[] = {
    {"data", "SPEC", "dataset (fashion-mnist, cifar10, synthetic:N, ...)", 0,
     SN_SETCLI_NONE, 'd', OTHER(data, NULL)},
    {"val-split", "F", "validation fraction of the training files", 0,
     SN_SETCLI_SEARCH, 0, NUM(SN_SET_NUM, 0, 0.9, val_split)},
    {"max-train", "N", "training images per candidate (0 = all)", 1,
     SN_SETCLI_ALL, 0, NUM(SN_SET_SIZE, 0, 0, max_train)},
    {"epochs", "K", "epochs per candidate", 1, SN_SETCLI_ALL, 'e',
     NUM(SN_SET_INT, 1, SN_MAX_EPOCHS, epochs)},
    {"root-epochs", "K", "epochs for the roots, from scratch", 1,
     SN_SETCLI_ALL, 0, NUM(SN_SET_INT, 1, SN_MAX_EPOCHS, root_epochs)},
    {"batch", "N", "batch size", 1, SN_SETCLI_ALL, 'b',
     NUM(SN_SET_INT, 1, 65536, batch)},
    {"lr", "RATE", "SGD learning rate, cosine schedule", 1, SN_SETCLI_ALL, 0,
     NUM(SN_SET_NUM, 1e-9, 100, lr)},
    {"weight-decay", "WD", "decoupled weight decay", 1, SN_SETCLI_ALL, 0,
     NUM(SN_SET_NUM, 0, 1, weight_decay)},
    {"objective", "M[,M]", "size objective(s): params, flops, memory", 1,
     SN_SETCLI_ALL, 0, OTHER(objective, "objective")},
    {"max-params", "SIZE", "hard limit on parameters (k/M suffixes)", 1,
     SN_SETCLI_ALL, 0, NUM(SN_SET_SIZE, 0, 0, max_params)},
    {"max-flops", "SIZE", "hard limit on multiply-accumulates", 1,
     SN_SETCLI_ALL, 0, NUM(SN_SET_SIZE, 0, 0, max_flops)},
    {"max-memory", "SIZE", "hard limit on peak activation bytes", 1,
     SN_SETCLI_ALL, 0, NUM(SN_SET_SIZE, 0, 0, max_memory)},
    {"strategy", "S", "bo, evolution or random", 1, SN_SETCLI_ALL, 0,
     OTHER(strategy, "strategy")},
    {"budget", "TIME", "search wall time, s/m/h (0 = none)", 1, SN_SETCLI_ALL,
     0, NUM(SN_SET_DURATION, 0, 0, budget)},
    {"max-candidates", "N", "stop after N candidates (0 = none)", 1,
     SN_SETCLI_ALL, 0, NUM(SN_SET_INT, 0, 100000000L, max_candidates)},
    {"final", "N", "retrain N front members on all data at the end", 1,
     SN_SETCLI_ALL, 0, NUM(SN_SET_INT, 0, 1000, final_n)},
    {"final-epochs", "K", "epochs of that retraining", 1, SN_SETCLI_ALL, 0,
     NUM(SN_SET_INT, 1, SN_MAX_EPOCHS, final_epochs)},
    {"final-at", "SIZE,...",
     "also retrain the best network at or under each size (the largest "
     "within one standard error of it when retrained with crop+flip)", 1,
     SN_SETCLI_ALL, 0, OTHER(final_at, NULL)},
    {"final-augment", "data|on|off|SIZE",
     "crop+flip in that retraining: as the dataset, all, none, or members "
     "of at least SIZE", 1, SN_SETCLI_ALL, 0,
     OTHER(final_augment, "data,on,off")},
    {"final-augment-epochs", "K",
     "epochs of a retraining with crop+flip (0 = final-epochs)", 1,
     SN_SETCLI_ALL, 0,
     NUM(SN_SET_INT, 0, SN_MAX_EPOCHS, final_augment_epochs)},
    {"bases", "LIST", "roots: KIND[:WIDTH[:DEPTH]],...", 0, SN_SETCLI_SEARCH,
     0, OTHER(bases, NULL)},
    {"seed", "S", "seed of the whole search", 0, SN_SETCLI_SEARCH, 0,
     NUM(SN_SET_SEED, 0, 2147483647L, seed)},
    {"hv-accuracy", "ACC", "hypervolume reference accuracy, 0..1 or N%", 0,
     SN_SETCLI_ALL, 0, OTHER(hv_accuracy, NULL)},
    {"rate.OP", "W", "relative rate of operator OP (0 bans it)", 1,
     SN_SETCLI_NONE, 0, OTHER(rate, NULL)},
    {"pin", "OP|none", "draw only operator OP", 1, SN_SETCLI_ALL, 0,
     OTHER(pin, "morph|none")},
    {0}};

const sn_setting_info *sn_setting_find(const char *key) {
    if (!strncmp(key, "rate.", 5)) key = "rate.OP";
    for (int i = 0; sn_setting_keys[i].key; i++)
        if (!strcmp(sn_setting_keys[i].key, key)) return &sn_setting_keys[i];
    return NULL;
}

int sn_settings_is_live(const char *key) {
    const sn_setting_info *k = sn_setting_find(key);
    return k ? k->live : -1;
}

int sn_settings_set(sn_search_settings *s, const char *key,
                    const char *value, sn_error *e) {
    sn_search_settings t = *s;
    const char *v = value ? value : "";
    const sn_setting_info *k = sn_setting_find(key);
    if (!k) return sn_errf(e, "unknown setting '%s'", key);
    char *field = (char *)&t + k->offset;
    long l = 0;
    double f = 0;
    switch (k->type) {
    case SN_SET_INT:
        if (parse_int(key, v, (long)k->lo, (long)k->hi, &l, e)) return -1;
        *(int *)field = (int)l;
        break;
    case SN_SET_SEED:
        if (parse_int(key, v, (long)k->lo, (long)k->hi, &l, e)) return -1;
        *(uint64_t *)field = (uint64_t)l;
        break;
    case SN_SET_SIZE:
        if (parse_limit(key, v, (int64_t *)field, e)) return -1;
        break;
    case SN_SET_NUM:
        if (parse_num(key, v, k->lo, k->hi, &f, e)) return -1;
        *(double *)field = f;
        break;
    case SN_SET_DURATION:
        if (!strcmp(v, "none")) f = 0;
        else if (sn_parse_duration(v, &f) != 0 || f < 0)
            return sn_errf(e, "%s: '%s' is not a duration like 40s, 30m or "
                              "2h", key, v);
        *(double *)field = f;
        break;
    case SN_SET_OTHER:
        if (k->parse(&t, key, v, e)) return -1;
        break;
    }
    *s = t;
    return 0;
}

void sn_settings_get(const sn_search_settings *s, const char *key, char *buf,
                     size_t n) {
    if (!n) return;
    buf[0] = 0;
    const sn_setting_info *k = sn_setting_find(key);
    if (!k) return;
    const char *field = (const char *)s + k->offset;
    switch (k->type) {
    case SN_SET_INT: snprintf(buf, n, "%d", *(const int *)field); break;
    case SN_SET_SEED:
        snprintf(buf, n, "%llu",
                 (unsigned long long)*(const uint64_t *)field);
        break;
    case SN_SET_SIZE:
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)field);
        break;
    case SN_SET_NUM: snprintf(buf, n, "%g", *(const double *)field); break;
    case SN_SET_DURATION:
        snprintf(buf, n, "%gs", *(const double *)field);
        break;
    case SN_SET_OTHER: k->format(s, key, buf, n); break;
    }
}

int sn_settings_check(const sn_search_settings *s, sn_error *e) {
    if (!s->data[0]) return sn_errf(e, "settings: no dataset (--data SPEC)");
    if (s->epochs < 1 || s->root_epochs < 1 || s->final_epochs < 1)
        return sn_errf(e, "settings: epochs must be >= 1");
    if (s->batch < 1) return sn_errf(e, "settings: batch must be >= 1");
    if (s->n_obj < 1 || s->n_obj > 2)
        return sn_errf(e, "settings: one or two size objectives");
    if (s->n_obj == 2 && s->obj[0] == s->obj[1])
        return sn_errf(e, "settings: the two objectives are the same");
    if ((unsigned)s->strategy >= SN_STRAT_COUNT)
        return sn_errf(e, "settings: bad strategy");
    double total = 0;
    for (int i = 0; i < SN_MORPH_COUNT; i++) {
        if (s->rates[i] < 0) return sn_errf(e, "settings: negative rate");
        total += s->rates[i];
    }
    if (total <= 0 && s->pinned < 0)
        return sn_errf(e, "settings: every operator is banned");
    if (!s->origin_run[0] && check_bases(s->bases, e)) return -1;
    return 0;
}

sn_data_opts sn_settings_data_opts(const sn_search_settings *s, int full) {
    sn_data_opts o = sn_data_opts_default();
    o.val_split = s->val_split;
    o.max_train = full ? 0 : s->max_train;
    o.seed = s->seed;
    return o;
}

int sn_settings_fits(const sn_search_settings *s, int64_t params,
                     int64_t flops, int64_t memory) {
    if (s->max_params > 0 && params > s->max_params) return 0;
    if (s->max_flops > 0 && flops > s->max_flops) return 0;
    if (s->max_memory > 0 && memory > s->max_memory) return 0;
    return 1;
}

/* ---- JSON ----------------------------------------------------------- */

/* Line and column of member key of the object at offset obj (util's JSON
 * scanner walks the members: a value that spells the key is never taken
 * for it), or of the object when the member is not found. */
static void key_pos(const char *text, size_t len, size_t obj, const char *key,
                    int *line, int *col) {
    size_t p = sn_json_key(text, len, obj, key);
    if (p == SN_JSON_NOWHERE) p = obj != SN_JSON_NOWHERE ? obj : 0;
    sn_text_position(text, p, line, col);
}

static int item_text(const cJSON *it, char *buf, size_t n) {
    if (cJSON_IsString(it)) {
        snprintf(buf, n, "%s", it->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(it)) {
        double v = it->valuedouble;
        if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, n, "%.0f", v);
        else snprintf(buf, n, "%.17g", v);
        return 0;
    }
    if (cJSON_IsBool(it)) {
        snprintf(buf, n, "%d", cJSON_IsTrue(it) ? 1 : 0);
        return 0;
    }
    if (cJSON_IsNull(it)) {
        snprintf(buf, n, "none");
        return 0;
    }
    if (cJSON_IsArray(it)) { /* objective: ["params", "flops"] */
        buf[0] = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, it) {
            if (!cJSON_IsString(x)) return -1;
            size_t l = strlen(buf);
            snprintf(buf + l, n - l, "%s%s", l ? "," : "", x->valuestring);
        }
        return 0;
    }
    return -1;
}

int sn_settings_from_json(sn_search_settings *s, const char *text,
                          size_t len, const char *file, sn_error *e) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    int line, col;
    if (!root) {
        size_t off = end ? (size_t)(end - text) : 0;
        sn_text_position(text, off, &line, &col);
        return sn_errf(e, "%s:%d:%d: not valid JSON", file, line, col);
    }
    size_t obj = sn_json_skip_ws(text, len, 0);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        sn_text_position(text, obj, &line, &col);
        return sn_errf(e, "%s:%d:%d: expected a JSON object of settings",
                       file, line, col);
    }
    size_t tail = sn_json_skip_ws(text, len, (size_t)(end - text));
    if (tail < len && text[tail]) {
        cJSON_Delete(root);
        sn_text_position(text, tail, &line, &col);
        return sn_errf(e, "%s:%d:%d: text after the settings object", file,
                       line, col);
    }
    size_t rates_at = sn_json_member(text, len, obj, "rates");
    sn_search_settings t = *s;
    int rc = 0;
    const cJSON *it;
    char val[512];
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        sn_error ke;
        if (!strcmp(k, "format") || !strcmp(k, "version") ||
            !strcmp(k, "comment") || k[0] == '_')
            continue;
        /* key_pos walks the text: only on an error (a settings.json
         * read key by key would cost members x length) */
        if (!strcmp(k, "hv_ref")) {
            for (int m = 0; m < SN_OBJ_COUNT; m++) {
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(
                    it, sn_objective_name((sn_objective)m));
                if (cJSON_IsNumber(r) && r->valuedouble >= 0)
                    t.hv_ref[m] = r->valuedouble;
            }
            const cJSON *ra = cJSON_GetObjectItemCaseSensitive(it, "accuracy");
            if (cJSON_IsNumber(ra) && ra->valuedouble >= 0 &&
                ra->valuedouble < 1)
                t.hv_ref_acc = ra->valuedouble;
            continue;
        }
        if (!strcmp(k, "origin")) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "run");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "cand");
            if (!cJSON_IsString(r) || !cJSON_IsNumber(c)) {
                key_pos(text, len, obj, k, &line, &col);
                rc = sn_errf(e, "%s:%d:%d: origin needs {\"run\": DIR, "
                                "\"cand\": ID}", file, line, col);
                break;
            }
            snprintf(t.origin_run, sizeof t.origin_run, "%s", r->valuestring);
            t.origin_cand = (int)c->valuedouble;
            continue;
        }
        if (!strcmp(k, "rates")) {
            if (!cJSON_IsObject(it)) {
                key_pos(text, len, obj, k, &line, &col);
                rc = sn_errf(e, "%s:%d:%d: rates must be an object like "
                                "{\"wider\": 2}", file, line, col);
                break;
            }
            const cJSON *r;
            cJSON_ArrayForEach(r, it) {
                char key[80];
                snprintf(key, sizeof key, "rate.%s", r->string);
                if (item_text(r, val, sizeof val) ||
                    sn_settings_set(&t, key, val, &ke)) {
                    key_pos(text, len, rates_at, r->string, &line, &col);
                    if (item_text(r, val, sizeof val))
                        snprintf(ke.msg, sizeof ke.msg, "%s: bad value", key);
                    rc = sn_errf(e, "%s:%d:%d: %s", file, line, col, ke.msg);
                    break;
                }
            }
            if (rc) break;
            continue;
        }
        if (!sn_setting_find(k)) {
            key_pos(text, len, obj, k, &line, &col);
            rc = sn_errf(e, "%s:%d:%d: unknown setting '%s'", file, line, col,
                         k);
            break;
        }
        if (item_text(it, val, sizeof val)) {
            key_pos(text, len, obj, k, &line, &col);
            rc = sn_errf(e, "%s:%d:%d: %s: expected a number or a string",
                         file, line, col, k);
            break;
        }
        if (sn_settings_set(&t, k, val, &ke)) {
            key_pos(text, len, obj, k, &line, &col);
            rc = sn_errf(e, "%s:%d:%d: %s", file, line, col, ke.msg);
            break;
        }
    }
    cJSON_Delete(root);
    if (rc == 0) *s = t;
    return rc;
}

int sn_settings_load(sn_search_settings *s, const char *path, sn_error *e) {
    char *text;
    size_t len;
    if (sn_read_file(path, &text, &len, e)) return -1;
    int rc = sn_settings_from_json(s, text, len, path, e);
    free(text);
    return rc;
}

char *sn_settings_to_json(const sn_search_settings *s) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "slimnas-search");
    cJSON_AddNumberToObject(j, "version", 1);
    for (const sn_setting_info *k = sn_setting_keys; k->key; k++) {
        const char *field = (const char *)s + k->offset;
        char buf[SN_SEARCH_PATH_LEN];
        switch (k->type) {
        case SN_SET_INT:
            cJSON_AddNumberToObject(j, k->key, *(const int *)field);
            break;
        case SN_SET_SEED:
            cJSON_AddNumberToObject(j, k->key,
                                    (double)*(const uint64_t *)field);
            break;
        case SN_SET_SIZE:
            cJSON_AddNumberToObject(j, k->key,
                                    (double)*(const int64_t *)field);
            break;
        case SN_SET_NUM:
        case SN_SET_DURATION:
            cJSON_AddNumberToObject(j, k->key, *(const double *)field);
            break;
        case SN_SET_OTHER:
            if (!strcmp(k->key, "hv-accuracy")) break; /* in hv_ref */
            if (!strcmp(k->key, "rate.OP")) {
                cJSON *r = cJSON_AddObjectToObject(j, "rates");
                for (int i = 0; i < SN_MORPH_COUNT; i++)
                    cJSON_AddNumberToObject(
                        r, sn_morph_get((sn_morph_id)i)->name, s->rates[i]);
                break;
            }
            buf[0] = 0;
            k->format(s, k->key, buf, sizeof buf);
            cJSON_AddStringToObject(j, k->key, buf);
            break;
        }
    }
    int any = 0;
    for (int m = 0; m < SN_OBJ_COUNT; m++) any |= s->hv_ref[m] > 0;
    if (any || s->hv_ref_acc >= 0) {
        cJSON *h = cJSON_AddObjectToObject(j, "hv_ref");
        for (int m = 0; m < SN_OBJ_COUNT; m++)
            if (s->hv_ref[m] > 0)
                cJSON_AddNumberToObject(h, sn_objective_name((sn_objective)m),
                                        s->hv_ref[m]);
        if (s->hv_ref_acc >= 0)
            cJSON_AddNumberToObject(h, "accuracy", s->hv_ref_acc);
    }
    if (s->origin_run[0]) {
        cJSON *o = cJSON_AddObjectToObject(j, "origin");
        cJSON_AddStringToObject(o, "run", s->origin_run);
        cJSON_AddNumberToObject(o, "cand", s->origin_cand);
    }
    return sn_json_print(j, 1);
}
