/* policy_journal.c: the search journal (RESULTS.h5.search/journal), rank 0's record of
 * every rung report and decision of a rung policy, appended and fsynced line by line so
 * that --resume after kill -9 replays it (policy.h).
 *
 * Lines (text, one event each; doubles in C99 hex, %a, so they read back exactly):
 *   attnsweep-search 1 <policy>                                       (header)
 *   R <key> <repeat> <rung> <budget> <from> <last> <status> <metric> <params> <seed> <rank>
 *     <epochs_run> <best_epoch> <in_t> <in_c> <best_val_loss> <final_val_loss>
 *     <best_val_accuracy> <train_seconds> <ncurves> {<name> <n> <v1> ... <vn>}... |<error>
 *   P <key> <rung>        a promotion to rung
 *   S <key> <rung>        a variant stopped at rung
 * <key> is the 16-hex-digit hash of the variant's run key. A last line without its
 * newline (a write cut by a kill) is dropped, and the file cut back to the last whole
 * line before appending. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "sweep/policy.h"

#define HEADER "attnsweep-search 1 "

static const char *const CURVES[] = {"loss",     "val_loss",     "epoch_seconds",
                                     "accuracy", "val_accuracy", "learning_rate"};
#define NCURVES 6

static as_status io_fail(const as_journal *j, as_error *err) {
    return as_error_set(err, AS_ERR_IO, "%s: cannot write: %s", j->path, strerror(errno));
}

/* Test hook: AS_TEST_SEARCH_KILL=N kills this process (SIGKILL) right after its N-th
 * journal line is on disk, before the scheduler acts on it. */
static void test_kill_hook(void) {
    static long lines = 0, limit = -1;
    if (limit < 0) {
        const char *e = getenv("AS_TEST_SEARCH_KILL");
        limit = e && *e ? strtol(e, NULL, 10) : 0;
    }
    if (limit > 0 && ++lines == limit) raise(SIGKILL);
}

static as_status sync_line(as_journal *j, as_error *err) {
    if (fflush(j->f) != 0 || fsync(fileno(j->f)) != 0) return io_fail(j, err);
    test_kill_hook();
    return AS_OK;
}

as_status as_journal_open(as_journal *j, const char *path, const char *policy, long keep_bytes,
                          as_error *err) {
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    if (keep_bytes > 0 && truncate(path, keep_bytes) != 0) return io_fail(j, err);
    j->f = fopen(path, keep_bytes > 0 ? "a" : "w");
    if (!j->f) return io_fail(j, err);
    if (keep_bytes > 0) return AS_OK;
    fprintf(j->f, HEADER "%s\n", policy);
    return sync_line(j, err);
}

void as_journal_close(as_journal *j) {
    if (j->f) fclose(j->f);
    j->f = NULL;
}

static const as_array *find_curve(const as_result *r, const char *name) {
    for (int i = 0; i < r->n_arrays; i++)
        if (!strcmp(r->arrays[i].name, name) && r->arrays[i].type == AS_ARR_F64 && r->arrays[i].rank == 1)
            return &r->arrays[i];
    return NULL;
}

as_status as_journal_report(as_journal *j, const char *key, const as_sched_task *t, const as_result *r,
                            double metric, as_error *err) {
    FILE *f = j->f;
    fprintf(f, "R %s %d %d %d %d %d %d %a %lld %llu %d %d %d %d %d %a %a %a %a", key, t->r, t->rung,
            t->budget, t->from, t->last, (int)r->status, metric, (long long)r->params,
            (unsigned long long)r->seed, r->rank, r->epochs_run, r->best_epoch, r->in_t, r->in_c,
            r->best_val_loss, r->final_val_loss, r->best_val_accuracy, r->train_seconds);
    /* what the run kept and its test metrics (callbacks, issue 13) */
    fprintf(f, " %d %d %d %d %a %a %s", r->stopped_epoch, r->kept_epoch, r->kept_best, r->has_test,
            r->test_loss, r->test_accuracy, r->validation[0] ? r->validation : "-");
    int nc = 0;
    for (int i = 0; i < NCURVES; i++) nc += find_curve(r, CURVES[i]) != NULL;
    fprintf(f, " %d", nc);
    for (int i = 0; i < NCURVES; i++) {
        const as_array *a = find_curve(r, CURVES[i]);
        if (!a) continue;
        fprintf(f, " %s %llu", a->name, (unsigned long long)a->dims[0]);
        for (hsize_t k = 0; k < a->dims[0]; k++) fprintf(f, " %a", ((const double *)a->data)[k]);
    }
    fputs(" |", f);
    for (const char *p = r->error; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
    fputc('\n', f);
    return ferror(f) ? io_fail(j, err) : sync_line(j, err);
}

as_status as_journal_decision(as_journal *j, char kind, const char *key, int rung, as_error *err) {
    fprintf(j->f, "%c %s %d\n", kind, key, rung);
    return ferror(j->f) ? io_fail(j, err) : sync_line(j, err);
}

/* Parses the fields of an R line after "R " into key, t, r (arrays added), metric. */
static int parse_report(char *line, char key[17], as_sched_task *t, as_result *r, double *metric) {
    memset(r, 0, sizeof *r);
    memset(t, 0, sizeof *t);
    char *bar = strstr(line, " |");
    if (!bar) return 0;
    *bar = '\0';
    snprintf(r->error, sizeof r->error, "%s", bar + 2);
    char *p = line, *end;
    int status, nc;
    long long params;
    unsigned long long seed;
    int used = 0;
    if (sscanf(p, "%16s %d %d %d %d %d %d %la %lld %llu %d %d %d %d %d %la %la %la %la %d %d %d %d %la %la "
               "%127s %d%n", key, &t->r, &t->rung, &t->budget, &t->from, &t->last, &status, metric, &params,
               &seed, &r->rank, &r->epochs_run, &r->best_epoch, &r->in_t, &r->in_c, &r->best_val_loss,
               &r->final_val_loss, &r->best_val_accuracy, &r->train_seconds, &r->stopped_epoch,
               &r->kept_epoch, &r->kept_best, &r->has_test, &r->test_loss, &r->test_accuracy,
               r->validation, &nc, &used) != 27)
        return 0;
    if (!strcmp(r->validation, "-")) r->validation[0] = '\0';
    r->status = (as_var_status)status;
    r->params = params;
    r->seed = seed;
    p += used;
    for (int c = 0; c < nc && c < NCURVES; c++) {
        char name[AS_ARRAY_NAME_MAX];
        unsigned long long n;
        if (sscanf(p, " %63s %llu%n", name, &n, &used) != 2 || n > 10000000ULL) return 0;
        p += used;
        double *v = as_malloc((size_t)(n ? n : 1) * sizeof(double));
        if (!v) return 0;
        for (unsigned long long k = 0; k < n; k++) {
            v[k] = strtod(p, &end);
            if (end == p) {
                as_free(v);
                return 0;
            }
            p = end;
        }
        hsize_t dims[1] = {(hsize_t)n};
        as_error e;
        as_status st = as_result_add(r, name, AS_ARR_F64, 1, dims, v, &e);
        as_free(v);
        if (st) return 0;
    }
    return 1;
}

as_status as_journal_replay(const char *path, const char *policy, as_journal_visit fn, void *ud,
                            long *good_bytes, as_error *err) {
    *good_bytes = 0;
    FILE *f = fopen(path, "r");
    if (!f) return as_error_set(err, AS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    size_t cap = 1 << 16;
    char *line = as_malloc(cap);
    as_status st = line ? AS_OK : as_error_set(err, AS_ERR_NOMEM, "out of memory");
    long off = 0;
    int lineno = 0;
    while (!st) {
        size_t len = 0;
        int c = 0;
        while ((c = fgetc(f)) != EOF && c != '\n') {
            if (len + 1 >= cap) {
                char *nl = as_realloc(line, cap * 2);
                if (!nl) {
                    st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
                    break;
                }
                line = nl;
                cap *= 2;
            }
            line[len++] = (char)c;
        }
        if (st || c == EOF) break; /* a last line without its newline is dropped */
        line[len] = '\0';
        lineno++;
        if (lineno == 1) {
            size_t hl = strlen(HEADER);
            if (strncmp(line, HEADER, hl) || strcmp(line + hl, policy)) {
                st = as_error_set(err, AS_ERR_ARG, "%s: not the journal of a %s search (first line "
                                  "'%.60s')", path, policy, line);
                break;
            }
        } else if (line[0] == 'R' && line[1] == ' ') {
            char key[17];
            as_sched_task t;
            as_result r;
            double metric;
            if (!parse_report(line + 2, key, &t, &r, &metric)) {
                as_result_free(&r);
                st = as_error_set(err, AS_ERR_DATA, "%s:%d: unreadable report line", path, lineno);
                break;
            }
            fn(ud, 'R', key, &t, &r, metric); /* takes r's arrays */
        } else if ((line[0] == 'P' || line[0] == 'S') && line[1] == ' ') {
            char key[17];
            as_sched_task t;
            memset(&t, 0, sizeof t);
            if (sscanf(line + 2, "%16s %d", key, &t.rung) != 2) {
                st = as_error_set(err, AS_ERR_DATA, "%s:%d: unreadable decision line", path, lineno);
                break;
            }
            fn(ud, line[0], key, &t, NULL, (double)NAN);
        } else {
            st = as_error_set(err, AS_ERR_DATA, "%s:%d: unknown line", path, lineno);
            break;
        }
        off = ftell(f);
    }
    as_free(line);
    fclose(f);
    if (!st) *good_bytes = off;
    return st;
}
