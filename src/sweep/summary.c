/* summary.c: the leaderboard of a results file -- repeats aggregated, failures apart. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/spec.h"
#include "attnsweep/h5util.h"
#include "attnsweep/sweep.h"
#include "sweep/summary_row.h"

#define N_STATS 8 /* best_val_loss, final_val_loss, best_val_accuracy, train_seconds, test_loss,
                     test_accuracy, kept_val_loss, kept_val_accuracy */
#define K_KEPT_LOSS 6 /* the kept model's validation figures: the default order */
#define K_KEPT_ACC 7
#define K_N_PARAMS 8
#define K_NAME 10
#define MAX_AXES 64

typedef struct {
    int id;
    char name[AS_SUMMARY_NAME_MAX];
    char group[128];   /* value of the group-by axis */
    char family[64];   /* from the layer types (as scripts/attnsweep_results.py) */
    cJSON *grid;       /* the group's params attribute: the grid values (owned) */
    int64_t n_params;
    int n_ok, n_bad, n_runs;
    double epochs_run; /* mean over every repeat */
    double best_epoch; /* mean over ok repeats */
    double m[N_STATS], sd[N_STATS];
} agg;

static const char *const k_keys[] = {"best_val_loss",     "final_val_loss", "best_val_accuracy",
                                     "train_seconds",     "test_loss",      "test_accuracy",
                                     "kept_val_loss",     "kept_val_accuracy", "n_params",
                                     "id",                "name",
                                     "params" /* the old name of n_params */};
#define N_KEYS (int)(sizeof k_keys / sizeof k_keys[0])

static int g_key, g_desc;

/* x before y (-1), after (1) or equal (0): a NaN after every number, desc larger first. */
static int cmp_num(double x, double y, int desc) {
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    if (x == y) return 0;
    return ((x < y) ^ desc) ? -1 : 1;
}

/* The leaderboard order, a total order (qsort needs one): variants with an ok repeat
 * first; then the sort key, a missing value (NaN) last (equal accuracy: the lower loss
 * first: test_loss for test_accuracy, then best_val_loss; kept_val_loss for
 * kept_val_accuracy); among missing values more epochs run first (a search's stopped variants: the
 * higher rung first); then the variant id. */
static int cmp_agg(const void *pa, const void *pb) {
    const agg *a = pa, *b = pb;
    if ((a->n_ok > 0) != (b->n_ok > 0)) return a->n_ok > 0 ? -1 : 1;
    int c = 0;
    if (g_key < N_STATS) c = cmp_num(a->m[g_key], b->m[g_key], g_desc);
    else if (g_key == K_N_PARAMS || g_key == N_KEYS - 1)
        c = cmp_num((double)a->n_params, (double)b->n_params, 0);
    else if (g_key == K_NAME) c = strcmp(a->name, b->name);
    if (!c && g_key == 5) c = cmp_num(a->m[4], b->m[4], 0); /* test_accuracy: test_loss */
    if (!c && (g_key == 2 || g_key == 5)) c = cmp_num(a->m[0], b->m[0], 0);
    if (!c && g_key == K_KEPT_ACC) c = cmp_num(a->m[K_KEPT_LOSS], b->m[K_KEPT_LOSS], 0);
    if (!c && g_key < N_STATS && isnan(a->m[g_key])) c = cmp_num(a->epochs_run, b->epochs_run, 1);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

static int cmp_id(const void *pa, const void *pb) {
    return ((const agg *)pa)->id - ((const agg *)pb)->id;
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

/* A grid value as text: strings as they are, a layer object as its type, else JSON. */
static void value_text(const cJSON *v, char *buf, size_t cap) {
    const cJSON *t = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "type") : NULL;
    if (cJSON_IsString(v)) {
        snprintf(buf, cap, "%s", v->valuestring);
    } else if (cJSON_IsString(t)) {
        snprintf(buf, cap, "%s", t->valuestring);
    } else {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(buf, cap, "%s", s ? s : "");
        if (s) cJSON_free(s);
    }
}

/* The model's family from its layer types (scripts/attnsweep_results.py family_of):
 * "attention", "residual" or "attention+residual"; else "conv" with a conv1d layer; else
 * its distinct layer types in order, activation and dropout left out, joined by '+'
 * ("flatten+dense"), or "empty". */
static void family_of(const cJSON *config, char *buf, size_t cap) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(config, "model"), *L;
    int att = 0, res = 0, conv = 0;
    char kinds[256] = "";
    size_t used = 0;
    cJSON_ArrayForEach(L, model) {
        const cJSON *t = cJSON_IsObject(L) ? cJSON_GetObjectItemCaseSensitive(L, "type") : NULL;
        const char *ty = cJSON_IsString(t) ? t->valuestring : "?";
        att |= !strcmp(ty, "self_attention");
        res |= !strcmp(ty, "residual_conv1d");
        conv |= !strcmp(ty, "conv1d");
        if (!strcmp(ty, "activation") || !strcmp(ty, "dropout")) continue;
        char probe[80]; /* a type already listed? (kinds holds "+a+b+") */
        snprintf(probe, sizeof probe, "+%s+", ty);
        if (!strstr(kinds, probe) && used + strlen(ty) + 2 < sizeof kinds)
            used += (size_t)snprintf(kinds + used, sizeof kinds - used, "%s%s+", used ? "" : "+", ty);
    }
    if (used) kinds[used - 1] = '\0'; /* the trailing '+' */
    const char *fam = att && res ? "attention+residual" : att ? "attention" : res ? "residual"
                      : conv ? "conv" : used ? kinds + 1 : "empty";
    size_t n = strlen(fam) < cap ? strlen(fam) : cap - 1; /* a longer list is cut */
    memcpy(buf, fam, n);
    buf[n] = '\0';
}

/* Reads the grid values and the family of one run's group (absent: NULL, "other"). */
static const char *g_path; /* the results file: runs not yet packed are in its journal */

static void read_group(hid_t f, const as_summary_row *row, agg *a) {
    snprintf(a->family, sizeof a->family, "other");
    hid_t g = as_store_open_run(f, g_path, row->key); /* the index, or the journal */
    if (g < 0) return;
    char *txt = NULL, where[AS_SUMMARY_KEY_MAX + 32];
    as_error e;
    snprintf(where, sizeof where, "run %s: params", row->key);
    if (as_h5_read_attr_string(g, "params", &txt, NULL) == AS_OK &&
        as_json_parse(txt, where, &a->grid, &e) != AS_OK) /* a damaged file: say so, go on */
        fprintf(stderr, "attnsweep summary: %s: %s (no grid columns for it)\n", g_path, e.msg);
    as_free(txt);
    txt = NULL;
    snprintf(where, sizeof where, "run %s: config", row->key);
    if (as_h5_read_attr_string(g, "config", &txt, NULL) == AS_OK) {
        cJSON *c = NULL;
        if (as_json_parse(txt, where, &c, &e) == AS_OK) family_of(c, a->family, sizeof a->family);
        else fprintf(stderr, "attnsweep summary: %s: %s (family \"other\")\n", g_path, e.msg);
        cJSON_Delete(c);
    }
    as_free(txt);
    H5Gclose(g);
}

/* Mean and sample std of the ok repeats of each aggregate; equal values have exactly their
 * value as mean and 0 as std (the sums alone may leave rounding residue). */
static void aggregate_stats(const as_summary_row *rows, size_t n, agg *a, int na) {
    for (int k = 0; k < na; k++) {
        double sum[N_STATS] = {0}, sq[N_STATS] = {0}, lo[N_STATS] = {0}, hi[N_STATS] = {0}, be = 0, er = 0;
        int cnt[N_STATS] = {0};
        for (size_t i = 0; i < n; i++) {
            if (rows[i].id != a[k].id) continue;
            er += rows[i].epochs_run;
            if (strcmp(rows[i].status, "ok") != 0) continue;
            be += rows[i].best_epoch;
            double v[N_STATS] = {rows[i].best_val_loss, rows[i].final_val_loss,
                                 rows[i].best_val_accuracy, rows[i].train_seconds,
                                 rows[i].test_loss, rows[i].test_accuracy,
                                 rows[i].kept_val_loss, rows[i].kept_val_accuracy};
            for (int j = 0; j < N_STATS; j++)
                if (!isnan(v[j])) {
                    sum[j] += v[j];
                    sq[j] += v[j] * v[j];
                    lo[j] = cnt[j] && lo[j] < v[j] ? lo[j] : v[j];
                    hi[j] = cnt[j] && hi[j] > v[j] ? hi[j] : v[j];
                    cnt[j]++;
                }
        }
        a[k].epochs_run = a[k].n_runs ? er / a[k].n_runs : (double)NAN;
        a[k].best_epoch = a[k].n_ok ? be / a[k].n_ok : (double)NAN;
        for (int j = 0; j < N_STATS; j++) {
            a[k].m[j] = cnt[j] ? sum[j] / cnt[j] : (double)NAN;
            a[k].sd[j] = cnt[j] > 1 ? sqrt(fmax(0, (sq[j] - sum[j] * sum[j] / cnt[j]) / (cnt[j] - 1)))
                                    : (double)NAN; /* undefined for one repeat */
            if (cnt[j] > 1 && lo[j] == hi[j]) a[k].m[j] = lo[j], a[k].sd[j] = 0;
        }
    }
}

/* One aggregate per variant id, in the order the rows list them. */
static int aggregate(hid_t f, const as_summary_row *rows, size_t n, const as_summary_opts *o, agg *a) {
    int na = 0;
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        while (k < na && a[k].id != rows[i].id) k++;
        if (k == na) {
            memset(&a[na], 0, sizeof a[na]);
            a[na].id = rows[i].id;
            memcpy(a[na].name, rows[i].name, sizeof a[na].name);
            a[na].name[sizeof a[na].name - 1] = '\0';
            a[na].n_params = rows[i].n_params;
            read_group(f, &rows[i], &a[na]);
            const cJSON *gv = o->group_by ? cJSON_GetObjectItemCaseSensitive(a[na].grid, o->group_by) : NULL;
            if (gv) value_text(gv, a[na].group, sizeof a[na].group);
            else snprintf(a[na].group, sizeof a[na].group, "(not used)");
            na++;
        }
        a[k].n_runs++;
        if (!strcmp(rows[i].status, "ok")) a[k].n_ok++;
        else if (strcmp(rows[i].status, "stopped") != 0) a[k].n_bad++; /* stopped: by the search */
    }
    aggregate_stats(rows, n, a, na);
    return na;
}

/* The grid axes in the order the variants (by id) meet them. */
static int collect_axes(agg *a, int na, const char **names) {
    int n = 0;
    qsort(a, (size_t)na, sizeof *a, cmp_id);
    for (int k = 0; k < na; k++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, a[k].grid) {
            int seen = 0;
            for (int j = 0; j < n && !seen; j++) seen = !strcmp(names[j], it->string);
            if (!seen && n < MAX_AXES) names[n++] = it->string;
        }
    }
    return n;
}

/* A CSV field, "axis_" k times then s: quoted (quotes doubled) when s holds a comma, quote
 * or line break. */
static void csv_field(FILE *out, int k, const char *s) {
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote) fputc('"', out);
    for (; k > 0; k--) fputs("axis_", out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    if (quote) fputc('"', out);
}

static void csv_text(FILE *out, const char *s) { csv_field(out, 0, s); }

static void csv_num(FILE *out, double v) {
    if (isnan(v)) fputs(",", out);
    else fprintf(out, ",%.9g", v);
}

/* The CSV's fixed columns: before the grid axes (group only with --group-by) and after. */
static const char *const k_csv_fixed[] = {
    "position", "id", "name", "group", "family", "n_params", "repeats_ok", "repeats_failed",
    "epochs_run", "best_epoch", "kept_val_loss_mean", "kept_val_loss_std",
    "kept_val_accuracy_mean", "kept_val_accuracy_std", "best_val_loss_mean", "best_val_loss_std",
    "final_val_loss_mean",
    "final_val_loss_std", "best_val_accuracy_mean", "best_val_accuracy_std", "train_seconds_mean",
    "test_loss_mean", "test_loss_std", "test_accuracy_mean", "test_accuracy_std"};
#define N_CSV_FIXED (int)(sizeof k_csv_fixed / sizeof k_csv_fixed[0])
#define N_CSV_HEAD 5 /* position .. family */

/* 1 when column s is ("axis_" times k) name. */
static int is_column(const char *s, int k, const char *name) {
    for (; k > 0; k--, s += 5)
        if (strncmp(s, "axis_", 5) != 0) return 0;
    return !strcmp(s, name);
}

/* How many "axis_" prefixes axis j's column needs to be unlike every fixed column, every
 * other axis name and the columns of the axes before it (an axis "id" is "axis_id", as
 * scripts/attnsweep_results.py names it). */
static int axis_prefixes(const char **axes, const int *pre, int j, int n) {
    for (int k = 0;; k++) {
        int taken = 0;
        for (int i = 0; i < N_CSV_FIXED && !taken; i++) taken = is_column(k_csv_fixed[i], k, axes[j]);
        for (int i = 0; i < n && !taken; i++) taken = i != j && is_column(axes[i], k, axes[j]);
        for (int i = 0; i < j && !taken; i++) /* axis i's column is "axis_" x pre[i] axes[i] */
            taken = k >= pre[i] ? is_column(axes[i], k - pre[i], axes[j])
                                : is_column(axes[j], pre[i] - k, axes[i]);
        if (!taken) return k;
    }
}

static void print_csv(FILE *out, agg *a, int na, const as_summary_opts *o) {
    const char *axes[MAX_AXES];
    int n_axes = collect_axes(a, na, axes), pre[MAX_AXES];
    qsort(a, (size_t)na, sizeof *a, cmp_agg);
    for (int i = 0; i < N_CSV_HEAD; i++)
        if (i != 3 || o->group_by) fprintf(out, "%s%s", i ? "," : "", k_csv_fixed[i]);
    for (int j = 0; j < n_axes; j++) {
        pre[j] = axis_prefixes(axes, pre, j, n_axes);
        fputc(',', out);
        csv_field(out, pre[j], axes[j]);
    }
    for (int i = N_CSV_HEAD; i < N_CSV_FIXED; i++) fprintf(out, ",%s", k_csv_fixed[i]);
    fputc('\n', out);
    for (int k = 0; k < na && (!o->top || k < o->top); k++) {
        fprintf(out, "%d,%d,", k + 1, a[k].id);
        csv_text(out, a[k].name);
        if (o->group_by) {
            fputc(',', out);
            csv_text(out, a[k].group);
        }
        fprintf(out, ",%s", a[k].family);
        for (int j = 0; j < n_axes; j++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(a[k].grid, axes[j]);
            char buf[512];
            fputc(',', out);
            if (!v) continue;
            value_text(v, buf, sizeof buf);
            csv_text(out, buf);
        }
        fprintf(out, ",%lld,%d,%d", (long long)a[k].n_params, a[k].n_ok, a[k].n_bad);
        csv_num(out, a[k].epochs_run);
        csv_num(out, a[k].best_epoch);
        double v[15] = {a[k].m[6], a[k].sd[6], a[k].m[7], a[k].sd[7], a[k].m[0], a[k].sd[0],
                        a[k].m[1], a[k].sd[1], a[k].m[2], a[k].sd[2], a[k].m[3], a[k].m[4],
                        a[k].sd[4], a[k].m[5], a[k].sd[5]};
        for (int j = 0; j < 15; j++) csv_num(out, v[j]);
        fputc('\n', out);
    }
}

/* "m ± sd" at prec decimals; "m" for one repeat or equal repeats (sd 0: no "± 0.0000");
 * "m ± <0.0001" for a spread that rounds to 0 at prec. */
static void fmt_ms(char *buf, size_t cap, double m, double sd, int n, int prec) {
    if (isnan(m)) snprintf(buf, cap, "-");
    else if (n < 2 || !(sd > 0)) snprintf(buf, cap, "%.*f", prec, m);
    else if (sd < 0.5 * pow(10, -prec)) snprintf(buf, cap, "%.*f ± <%.*f", prec, m, prec, pow(10, -prec));
    else snprintf(buf, cap, "%.*f ± %.*f", prec, m, prec, sd);
}

static void print_rows(FILE *out, const agg *a, int na, const as_summary_opts *o, const char *grp,
                       int classification, int has_test) {
    int first = 1;
    for (int k = 0, row = 0; k < na; k++) {
        if (a[k].n_ok == 0 || (grp && strcmp(a[k].group, grp) != 0)) continue;
        if (o->top && row >= o->top) break;
        if (first) {
            if (grp) fprintf(out, "\n%s = %s\n", o->group_by, grp);
            fprintf(out, "%4s  %5s  %-56s %9s  %-21s ", "#", "id", "name", "n_params", "kept val_loss");
            if (classification) fprintf(out, "%-21s ", "kept val_accuracy");
            if (has_test) fprintf(out, "%-21s ", classification ? "test accuracy" : "test loss");
            fprintf(out, "%s\n", "seconds");
            first = 0;
        }
        char l[64], acc[64], sec[64];
        fmt_ms(l, sizeof l, a[k].m[K_KEPT_LOSS], a[k].sd[K_KEPT_LOSS], a[k].n_ok, 5);
        fmt_ms(acc, sizeof acc, a[k].m[K_KEPT_ACC], a[k].sd[K_KEPT_ACC], a[k].n_ok, 4);
        fmt_ms(sec, sizeof sec, a[k].m[3], a[k].sd[3], a[k].n_ok, 1);
        fprintf(out, "%4d  %5d  %-56.56s %9lld  %-21s ", ++row, a[k].id, a[k].name,
                (long long)a[k].n_params, l);
        if (classification) fprintf(out, "%-21s ", acc);
        if (has_test) {
            char tst[64];
            int j = classification ? 5 : 4;
            fmt_ms(tst, sizeof tst, a[k].m[j], a[k].sd[j], a[k].n_ok, classification ? 4 : 5);
            fprintf(out, "%-21s ", tst);
        }
        fprintf(out, "%s%s\n", sec, a[k].n_bad ? "  (some repeats failed)" : "");
    }
}

static int g_stop_acc; /* cmp_stopped: a classification sweep (best by accuracy) */

/* The stopped runs' order: the higher rung (more epochs) first; within a rung the best
 * first (the higher kept val_accuracy for classification, then the lower kept val_loss; a
 * missing value last); then id and repeat. */
static int cmp_stopped(const void *pa, const void *pb) {
    const as_summary_row *a = *(const as_summary_row *const *)pa;
    const as_summary_row *b = *(const as_summary_row *const *)pb;
    int c = (a->epochs_run < b->epochs_run) - (a->epochs_run > b->epochs_run);
    if (!c && g_stop_acc) c = cmp_num(a->kept_val_accuracy, b->kept_val_accuracy, 1);
    if (!c) c = cmp_num(a->kept_val_loss, b->kept_val_loss, 0);
    if (!c) c = (a->id > b->id) - (a->id < b->id);
    return c ? c : (a->repeat > b->repeat) - (a->repeat < b->repeat);
}

/* The runs a search policy stopped, in cmp_stopped's order. */
static void print_stopped(const as_summary_row *rows, size_t n, int classification, FILE *out) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += !strcmp(rows[i].status, "stopped");
    if (!count) return;
    const as_summary_row **s = as_malloc(count * sizeof *s); /* count <= n rows: no overflow */
    if (!s) {
        fprintf(out, "\nstopped by the search: %zu runs (out of memory to list them)\n", count);
        return;
    }
    for (size_t i = 0, k = 0; i < n; i++)
        if (!strcmp(rows[i].status, "stopped")) s[k++] = &rows[i];
    g_stop_acc = classification;
    qsort(s, count, sizeof *s, cmp_stopped);
    fprintf(out, "\nstopped by the search (%zu run%s; status stopped, trained to the epochs of "
                 "their last rung):\n", count, plural(count == 1 ? 1 : 2));
    for (size_t k = 0; k < count; k++) {
        fprintf(out, "  v%04d_r%d  rung at %3d epochs  kept val_loss %-10.5g", s[k]->id,
                s[k]->repeat, s[k]->epochs_run, s[k]->kept_val_loss);
        if (classification) fprintf(out, " val_accuracy %.4f", s[k]->kept_val_accuracy);
        fprintf(out, "  %s\n", s[k]->name);
    }
    as_free(s);
}

static int is_bad(const char *status) { return strcmp(status, "ok") && strcmp(status, "stopped"); }

static void print_failures(FILE *out, hid_t f, const as_summary_row *rows, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += is_bad(rows[i].status);
    if (!bad) return;
    fprintf(out, "\nfailed or diverged runs (%d):\n", bad);
    for (size_t i = 0; i < n; i++) {
        if (!is_bad(rows[i].status)) continue;
        char *msg = NULL;
        hid_t g = as_store_open_run(f, g_path, rows[i].key);
        if (g >= 0) {
            as_h5_read_attr_string(g, "error", &msg, NULL);
            H5Gclose(g);
        }
        fprintf(out, "  v%04d_r%d  %-10s %s: %s\n", rows[i].id, rows[i].repeat, rows[i].status,
                rows[i].name, msg ? msg : "");
        as_free(msg);
    }
}

static void print_table(FILE *out, hid_t f, const char *path, agg *a, int na,
                        const as_summary_row *rows, size_t n, const as_summary_opts *o,
                        int classification) {
    qsort(a, (size_t)na, sizeof *a, cmp_agg);
    int passes = o->group_by ? na : 1, has_test = 0;
    for (int k = 0; k < na; k++) has_test |= !isnan(a[k].m[4]);
    for (int p = 0; p < passes; p++) {
        const char *grp = o->group_by ? a[p].group : NULL;
        if (grp) { /* print each group once, at its best member */
            int seen = 0;
            for (int q = 0; q < p; q++) seen |= !strcmp(a[q].group, grp);
            if (seen) continue;
        }
        print_rows(out, a, na, o, grp, classification, has_test);
    }
    print_stopped(rows, n, classification, out);
    print_failures(out, f, rows, n);
    fprintf(out, "\n%zu run%s of %d variant%s in %s\n", n, plural((int)n), na, plural(na), path);
}

/* The sort key of o (default by task); AS_ERR_ARG naming the valid keys. */
static as_status pick_key(const as_summary_opts *o, int classification, const char *path,
                          as_error *err) {
    g_key = classification ? K_KEPT_ACC : K_KEPT_LOSS;
    if (o->sort) {
        g_key = -1;
        for (int k = 0; k < N_KEYS; k++)
            if (!strcmp(o->sort, k_keys[k])) g_key = k;
        if (g_key < 0)
            return as_error_set(err, AS_ERR_ARG, "--sort %s: unknown key (one of kept_val_loss, "
                                "kept_val_accuracy, best_val_loss, final_val_loss, "
                                "best_val_accuracy, train_seconds, test_loss, test_accuracy, "
                                "n_params, id, name)", o->sort);
    }
    int acc = g_key == 2 || g_key == 5 || g_key == K_KEPT_ACC;
    if (acc && !classification)
        return as_error_set(err, AS_ERR_ARG, "--sort %s: %s is a regression sweep (no accuracy); "
                            "sort by kept_val_loss, best_val_loss or final_val_loss", k_keys[g_key],
                            path);
    g_desc = acc;
    return AS_OK;
}

as_status as_summary_print(const char *path, const as_summary_opts *o, FILE *out, as_error *err) {
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_DATA;
    as_summary_row *rows = NULL;
    size_t n = 0;
    g_path = path;
    as_status st = as_store_rows(path, &rows, &n, err); /* with the runs still in the journal */
    if (st) { /* the message names path (as_store_rows) */
        H5Fclose(f);
        return st;
    }
    char *task = NULL;
    int classification = as_h5_read_attr_string(f, "task", &task, NULL) == AS_OK &&
                         !strcmp(task, "classification");
    as_free(task);
    agg *a = NULL;
    int na = 0;
    st = pick_key(o, classification, path, err);
    if (!st && !(a = as_calloc(n ? n : 1, sizeof *a))) st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (!st) na = aggregate(f, rows, n, o, a);
    if (!st && o->group_by && na > 0) {
        int any = 0;
        for (int k = 0; k < na; k++) any |= strcmp(a[k].group, "(not used)") != 0;
        if (!any)
            st = as_error_set(err, AS_ERR_ARG, "--group-by %s: no variant of %s uses that axis",
                              o->group_by, path);
    }
    if (!st && o->csv) print_csv(out, a, na, o);
    else if (!st) print_table(out, f, path, a, na, rows, n, o, classification);
    for (int k = 0; k < na; k++) cJSON_Delete(a[k].grid);
    as_free(a);
    as_free(rows);
    H5Fclose(f);
    return st;
}
