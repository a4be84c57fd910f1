/* policy_journal.c: the search journal (RESULTS.h5.search/journal), rank 0's record of
 * every rung report and decision of a rung policy, appended and fsynced line by line so
 * that --resume after kill -9 replays it (policy.h).
 *
 * Lines (text, one event each; doubles in C99 hex, %a, so they read back exactly):
 *   attnsweep-search 2 <policy> <name>=<value>...                     (header)
 *     the settings that drive the decisions (as_journal_settings): search.min_epochs,
 *     search.max_epochs, search.eta, search.metric, search.mode, search.samples,
 *     search.seed (when it draws: hyperband, asha, samples > 0), repeats, seed (the
 *     sweep seed) and data_sha256 (the dataset's: <key> holds neither). A replay
 *     refuses a journal whose settings differ, naming each with both values. Journals
 *     of the first format (header "attnsweep-search 1 <policy>") recorded only the
 *     policy: they are replayed when the policy matches, their settings unchecked.
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

#define HEADER "attnsweep-search 2 "
#define HEADER_V1 "attnsweep-search 1 " /* the policy only */

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

void as_journal_settings(const as_sweep *s, const char *data_sha256, char *buf, size_t cap) {
    const as_search_cfg *c = &s->search;
    int n = snprintf(buf, cap, "%s search.min_epochs=%d search.max_epochs=%d search.eta=%d "
                     "search.metric=%s search.mode=%s search.samples=%d", as_search_type_name(c->type),
                     c->min_epochs, c->max_epochs, c->eta, as_metric_name(c->metric),
                     c->maximize ? "max" : "min", c->samples);
    /* the seed decides only what is drawn: Hyperband's brackets, ASHA's order, samples */
    if (n > 0 && (size_t)n < cap && (c->type == AS_SEARCH_HYPERBAND || c->type == AS_SEARCH_ASHA || c->samples > 0))
        n += snprintf(buf + n, cap - (size_t)n, " search.seed=%llu", (unsigned long long)c->seed);
    /* the runs' seeds and data, which the run keys of the journal's lines do not hold */
    if (n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " repeats=%d seed=%llu data_sha256=%s", s->repeats,
                 (unsigned long long)s->seed, data_sha256 && *data_sha256 ? data_sha256 : "-");
}

/* The value of setting `name` in a header's "name=value" words ("none" when absent). */
static void setting_of(const char *words, const char *name, char *val, size_t cap) {
    size_t nl = strlen(name);
    snprintf(val, cap, "none");
    for (const char *p = words; p && *p;) {
        while (*p == ' ') p++;
        size_t wl = strcspn(p, " ");
        if (wl > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            snprintf(val, cap, "%.*s", (int)(wl - nl - 1), p + nl + 1);
            return;
        }
        p += wl;
    }
}

/* Appends to msg each setting named in the words `from` whose value differs between the
 * journal's words (have) and this sweep's (want); only_new: only those want has not. */
static void diff_settings(const char *from, const char *have, const char *want, int only_new,
                          char *msg, size_t cap) {
    for (const char *p = from; *p;) {
        while (*p == ' ') p++;
        size_t wl = strcspn(p, " "), el = strcspn(p, "=");
        char name[64], h[128], w[128];
        if (el < wl && el < sizeof name) {
            snprintf(name, sizeof name, "%.*s", (int)el, p);
            setting_of(have, name, h, sizeof h);
            setting_of(want, name, w, sizeof w);
            size_t ml = strlen(msg);
            if (strcmp(h, w) && (!only_new || !strcmp(w, "none")) && ml < cap)
                snprintf(msg + ml, cap - ml, "%s%s: the journal has %s, %s %s", ml ? "; " : "", name,
                         h, strncmp(name, "data", 4) ? "the sweep file" : "the data now", w);
        }
        p += wl;
    }
}

/* Checks the journal's first line against this sweep's settings (as_journal_settings). */
static as_status check_header(const char *path, const char *line, const char *want, as_error *err) {
    size_t pl = strcspn(want, " "), hl = strlen(HEADER);
    int v1 = !strncmp(line, HEADER_V1, hl), v2 = !strncmp(line, HEADER, hl);
    const char *rest = line + hl;
    if ((!v1 && !v2) || strncmp(rest, want, pl) || (rest[pl] != '\0' && rest[pl] != ' ') ||
        (v1 && rest[pl] != '\0'))
        return as_error_set(err, AS_ERR_ARG, "%s: not the journal of a %.*s search (first line "
                            "'%.60s')", path, (int)pl, want, line);
    if (v1) return AS_OK; /* the first format: the policy only, its settings unchecked */
    char msg[900] = "";
    diff_settings(want + pl, rest + pl, want + pl, 0, msg, sizeof msg);
    diff_settings(rest + pl, rest + pl, want + pl, 1, msg, sizeof msg); /* none in the sweep */
    if (!msg[0]) return AS_OK;
    return as_error_set(err, AS_ERR_ARG, "--resume: %s was written under other settings, which "
                        "its decisions depend on (even with --force): %s%s; restore them in the "
                        "sweep file, or start the changed search with another -o", path, msg,
                        strstr(msg, "search.max_epochs:") ? " (--epochs sets search.max_epochs)" : "");
}

as_status as_journal_open(as_journal *j, const char *path, const char *settings, long keep_bytes,
                          as_error *err) {
    memset(j, 0, sizeof *j);
    snprintf(j->path, sizeof j->path, "%s", path);
    if (keep_bytes > 0 && truncate(path, keep_bytes) != 0) return io_fail(j, err);
    j->f = fopen(path, keep_bytes > 0 ? "a" : "w");
    if (!j->f) return io_fail(j, err);
    if (keep_bytes > 0) return AS_OK;
    fprintf(j->f, HEADER "%s\n", settings);
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
    as_result_set_kept(r); /* from the curves: the line has them */
    return 1;
}

as_status as_journal_replay(const char *path, const char *settings, as_journal_visit fn, void *ud,
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
            if ((st = check_header(path, line, settings, err))) break;
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
            if (fn) fn(ud, 'R', key, &t, &r, metric); /* takes r's arrays */
            else as_result_free(&r);
        } else if ((line[0] == 'P' || line[0] == 'S') && line[1] == ' ') {
            char key[17];
            as_sched_task t;
            memset(&t, 0, sizeof t);
            if (sscanf(line + 2, "%16s %d", key, &t.rung) != 2) {
                st = as_error_set(err, AS_ERR_DATA, "%s:%d: unreadable decision line", path, lineno);
                break;
            }
            if (fn) fn(ud, line[0], key, &t, NULL, (double)NAN);
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
