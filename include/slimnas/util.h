/* slimnas/util.h — the bottom layer: errors, memory, files, time, random
 * numbers, crc32 and the worker pool every other module uses.
 *
 * Errors from user input travel as a return value (-1 or NULL) plus an
 * sn_error holding one human sentence, usually "file:line:col: what is wrong".
 * Programmer errors use SN_ASSERT, which aborts with file:line.
 */
#ifndef SLIMNAS_UTIL_H
#define SLIMNAS_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SN_VERSION "0.1.0"

/* ---- errors ---------------------------------------------------------- */

typedef struct sn_error {
    char msg[512];
} sn_error;

/* Formats into e->msg (e may be NULL) and returns -1, so a caller can write
 * `return sn_errf(e, "%s: bad magic", path);`. */
int sn_errf(sn_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefixes e->msg with the formatted text (for adding context). */
void sn_err_prefix(sn_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define SN_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) sn_assert_fail(#cond, __FILE__, __LINE__);                \
    } while (0)
_Noreturn void sn_assert_fail(const char *what, const char *file, int line);

/* ---- memory ---------------------------------------------------------- */

/* All abort with a message on out-of-memory (nothing sensible to recover). */
void *sn_xmalloc(size_t n);
void *sn_xcalloc(size_t n, size_t size);
void *sn_xrealloc(void *p, size_t n);
char *sn_xstrdup(const char *s);
/* 64-byte aligned, zero-filled float buffer; free with sn_free_aligned. */
float *sn_falloc(size_t count);
void sn_free_aligned(void *p);

/* ---- files ----------------------------------------------------------- */

/* Reads a whole file ("-" is stdin) into a NUL-terminated buffer. */
int sn_read_file(const char *path, char **data, size_t *len, sn_error *e);
/* Write-temp, fsync, rename: the file is either old or new, never torn.
 * A full disk is reported, and the old file stays. */
int sn_write_atomic(const char *path, const void *data, size_t len,
                    sn_error *e);
/* The same for name relative to the directory descriptor dir (AT_FDCWD:
 * the working directory); errors name `name`. The temp file is
 * NAME.tmp.PID; after the rename the directory holding NAME is fsync'd,
 * so the new name is durable on return. SN_WRITE_NOREPLACE: an existing
 * NAME is an error ("already exists"), never replaced. */
#define SN_WRITE_NOREPLACE 1
int sn_write_atomic_at(int dir, const char *name, const void *data,
                       size_t len, int flags, sn_error *e);
/* Reads name relative to dir into a NUL-terminated buffer. */
int sn_read_file_at(int dir, const char *name, char **data, size_t *len,
                    sn_error *e);
/* fsyncs the directory that holds name (relative to dir); 0 or -1. */
int sn_fsync_dir_at(int dir, const char *name);
/* Durability events, for tests (NULL, the default: nothing is called).
 * SN_IO_NAMED: a rename or link just gave a file its final name (dir,
 * name as passed to the call that made it; sn_write_atomic_at and a run's
 * check --repair report theirs). SN_IO_DIR_SYNCED: sn_fsync_dir_at just
 * fsync'd fd, the directory holding name. A test records these to prove
 * that every new name is followed by an fsync of its own directory. */
enum { SN_IO_NAMED, SN_IO_DIR_SYNCED };
extern void (*sn_io_hook)(int event, int fd, const char *name);
/* 1 for a temp name sn_write_atomic leaves when killed mid-write
 * ("3.json.tmp.4711"). */
int sn_is_tmp_name(const char *name);
/* Removes such temp files in dir/sub (only safe for the directory's one
 * writer); returns how many. */
int sn_remove_stale_tmp(int dir, const char *sub);
/* Converts a byte offset in text into 1-based line and column. */
void sn_text_position(const char *text, size_t offset, int *line, int *col);

/* ---- checksums, time, parsing ---------------------------------------- */

uint32_t sn_crc32(uint32_t crc, const void *data, size_t len); /* zlib's */
double sn_now(void); /* monotonic seconds */

/* A whole-string decimal integer in [lo, hi] ("12", not "12x" or "");
 * -1 on anything else, out untouched. */
int sn_parse_long(const char *s, long lo, long hi, long *out);
/* A whole-string number in [lo, hi] (NaN refused); -1 otherwise. */
int sn_parse_double(const char *s, double lo, double hi, double *out);
/* "20k" -> 20000, "1.5M" -> 1500000, "300" -> 300. -1 on bad input. */
int sn_parse_size(const char *s, int64_t *out);
/* "40s", "30m", "2h", "90" (seconds) -> seconds. -1 on bad input. */
int sn_parse_duration(const char *s, double *out);
/* 80720 -> "80,720" into buf. */
const char *sn_fmt_int(char *buf, size_t n, int64_t v);
/* 80720 -> "80.7k", 11529354 -> "11.5M". */
const char *sn_fmt_si(char *buf, size_t n, double v);
/* Seconds as "45s", "4m05s", "30m", "1h02m", "2h". */
const char *sn_fmt_duration(char *buf, size_t n, double sec);

/* ---- random numbers (xoshiro-style, deterministic per seed) ---------- */

typedef struct sn_rng {
    uint64_t s[4];
} sn_rng;

void sn_rng_seed(sn_rng *r, uint64_t seed);
uint64_t sn_rng_u64(sn_rng *r);
double sn_rng_uniform(sn_rng *r);            /* [0, 1) */
int sn_rng_int(sn_rng *r, int n);            /* [0, n) */
double sn_rng_normal(sn_rng *r);             /* N(0, 1) */

/* ---- positions in JSON text (jsonpos.c) -------------------------------- */

#define SN_JSON_NOWHERE ((size_t)-1)
/* First offset at or after p that is not JSON whitespace. */
size_t sn_json_skip_ws(const char *t, size_t n, size_t p);
/* Offset just past the value starting at (or after whitespace before) p. */
size_t sn_json_value_end(const char *t, size_t n, size_t p);
/* Offset of the value of member key of the object at p (members are
 * walked: a string value that spells the key is never taken for it), or
 * SN_JSON_NOWHERE. */
size_t sn_json_member(const char *t, size_t n, size_t p, const char *key);
/* Offset of the opening quote of that member's key, or SN_JSON_NOWHERE. */
size_t sn_json_key(const char *t, size_t n, size_t p, const char *key);
/* Offset of element idx of the array at p, or SN_JSON_NOWHERE. */
size_t sn_json_element(const char *t, size_t n, size_t p, int idx);

/* j as malloc'd JSON text ending in a newline (cJSON_Print when pretty,
 * else one line); j is deleted. */
struct cJSON;
char *sn_json_print(struct cJSON *j, int pretty);

/* ---- command tables ---------------------------------------------------- */

/* One command of a text grammar (the engine's and the explorer's tables;
 * help, completion and the README's list come from these). A table ends
 * with an entry whose name is NULL. */
typedef struct sn_command {
    const char *name;     /* "enqueue" */
    const char *usage;    /* its arguments: "ID OP[:POS[:ARG]]" */
    const char *help;     /* one line: "train this morph of candidate ID next" */
    int min_args, max_args; /* words after the name; max_args -1: any */
    /* What Tab offers, one space-separated spec per argument: "id",
     * "morph", "morph|none", "objective", "strategy", "key", "value"
     * (the value of the setting named by the word before, as its table
     * entry's spec says), "theme", "path" (a file name), "fork-option"
     * (a fork's --options and their values; it covers every later word),
     * or a list of literal words "a,b,c"; "" offers nothing. */
    const char *complete;
    /* Runs it: ctx is the table owner's (engine call, explorer);
     * argv[0] is the full command name. -1 with e on failure. */
    int (*exec)(void *ctx, int argc, char **argv, sn_error *e);
} sn_command;

/* The command word resolves to, across n_tables tables: an exact name,
 * else a unique prefix. NULL when none or several match, with e set to
 * "unknown command 'x'HINT" or "ambiguous command 'p': pause, pin".
 * *table (may be NULL) gets the index of the table it is in. */
const sn_command *sn_command_find(const sn_command *const *tables,
                                  int n_tables, const char *word, int *table,
                                  const char *hint, sn_error *e);
/* -1 with "usage: NAME USAGE" when argc words after the name are out of
 * c's range; 0 otherwise. */
int sn_command_check_args(const sn_command *c, int argc, sn_error *e);
/* "NAME USAGE   help" as help screens list it (the synopsis padded to 22
 * columns, at least two spaces when longer). */
void sn_command_help_line(const sn_command *c, char *buf, size_t n);
/* Splits line in place into at most max whitespace-separated words; the
 * count, or -1 when there are more. */
int sn_split_words(char *line, char **w, int max);

/* ---- worker pool ----------------------------------------------------- */

/* One process-wide pool. sn_threads_init(0) picks the number of online
 * cores. OpenBLAS is set to one thread while the pool runs work: ops
 * parallelise over samples/channels themselves and call sgemm per chunk. */
void sn_threads_init(int n);
int sn_threads_count(void);
void sn_threads_shutdown(void);

/* Calls fn(ctx, begin, end, tid) on disjoint chunks covering [0, n), one
 * chunk per worker (tid in [0, sn_threads_count())), and returns when all
 * are done. Runs inline when n is small or the pool has one thread.
 * Nested: called from inside a task (or between sn_threads_serial_begin
 * and _end) it runs fn(ctx, 0, n, 0) inline on the calling thread, and
 * sn_threads_here() (the threads a sn_parallel_for called here would use)
 * says 1 there, so an op called by a task sizes and indexes its
 * per-thread scratch for one thread. With n equal to
 * sn_threads_count(), every index runs on its own thread and all of them
 * at once, so the tasks may wait for each other (sn_barrier_wait). */
typedef void (*sn_task_fn)(void *ctx, int64_t begin, int64_t end, int tid);
void sn_parallel_for(int64_t n, sn_task_fn fn, void *ctx);
int sn_threads_here(void);
void sn_threads_serial_begin(void);
void sn_threads_serial_end(void);

/* A reusable barrier for the n tasks of one sn_parallel_for(n, ...) with
 * n == sn_threads_count(): spins briefly, then sleeps (on a loaded
 * machine a spinning waiter would take the core from the thread it
 * waits for). */
typedef struct sn_barrier {
    _Atomic int count;
    _Atomic unsigned phase;
    _Atomic int sleepers;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} sn_barrier;
void sn_barrier_init(sn_barrier *b, int n);
void sn_barrier_destroy(sn_barrier *b);
void sn_barrier_wait(sn_barrier *b);

#endif
