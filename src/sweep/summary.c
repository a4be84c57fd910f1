/* summary.c: the leaderboard of a results file -- repeats aggregated, failures apart. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/alloc.h"
#include "attnsweep/h5util.h"
#include "attnsweep/sweep.h"
#include "sweep/summary_row.h"

#define NM 6 /* aggregated metrics */

typedef struct {
    int id;
    char name[AS_SUMMARY_NAME_MAX];
    char group[128]; /* value of the group-by axis */
    int64_t params;
    int n_ok, n_bad;
    double m[NM], sd[NM]; /* best_val_loss, final_val_loss, best_val_accuracy, train_seconds,
                             test_loss, test_accuracy */
} agg;

static const char *const k_keys[] = {"best_val_loss", "final_val_loss", "best_val_accuracy",
                                     "train_seconds", "test_loss",      "test_accuracy",
                                     "params",        "id",             "name"};
#define N_KEYS (int)(sizeof k_keys / sizeof k_keys[0])

static int g_key, g_desc;

static int cmp_agg(const void *pa, const void *pb) {
    const agg *a = pa, *b = pb;
    if ((a->n_ok > 0) != (b->n_ok > 0)) return a->n_ok > 0 ? -1 : 1;
    double x, y;
    if (g_key < NM) {
        x = a->m[g_key];
        y = b->m[g_key];
        if (isnan(x) != isnan(y)) return isnan(x) ? 1 : -1;
    } else if (g_key == NM) {
        x = (double)a->params;
        y = (double)b->params;
    } else if (g_key == NM + 1) {
        x = a->id;
        y = b->id;
    } else {
        return strcmp(a->name, b->name);
    }
    if (x == y && g_key == 2 && a->m[0] != b->m[0] && !isnan(a->m[0]) && !isnan(b->m[0]))
        return a->m[0] < b->m[0] ? -1 : 1; /* equal accuracy: the lower loss first */
    if (x == y) return a->id - b->id;
    return ((x < y) ^ g_desc) ? -1 : 1;
}

/* The value of `axis` in the variant's params attribute, as text. */
static int axis_value(hid_t f, int id, int repeat, const char *axis, char *buf, size_t cap) {
    char path[96];
    snprintf(path, sizeof path, "/variants/v%04d_r%d", id, repeat);
    if (H5Lexists(f, "/variants", H5P_DEFAULT) <= 0 || H5Lexists(f, path, H5P_DEFAULT) <= 0) return 0;
    hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
    char *txt = NULL;
    int found = 0;
    if (as_h5_read_attr_string(g, "params", &txt, NULL) == AS_OK) {
        cJSON *p = cJSON_Parse(txt);
        const cJSON *v = p ? cJSON_GetObjectItemCaseSensitive(p, axis) : NULL;
        if (v) {
            char *s = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
            snprintf(buf, cap, "%s", s ? s : v->valuestring);
            if (s) cJSON_free(s);
            found = 1;
        }
        cJSON_Delete(p);
    }
    as_free(txt);
    H5Gclose(g);
    return found;
}

static void fmt_ms(char *buf, size_t cap, double m, double sd, int n, int prec) {
    if (isnan(m)) snprintf(buf, cap, "-");
    else if (n > 1) snprintf(buf, cap, "%.*f ± %.*f", prec, m, prec, sd);
    else snprintf(buf, cap, "%.*f", prec, m);
}

/* Runs a search policy stopped, best first within each rung (the epochs they reached),
 * higher rungs first. */
static void print_stopped(const as_summary_row *rows, size_t n, int classification, FILE *out) {
    int count = 0, max_ep = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].status, "stopped")) {
            count++;
            if (rows[i].epochs_run > max_ep) max_ep = rows[i].epochs_run;
        }
    if (!count) return;
    fprintf(out, "\nstopped by the search (%d runs; status stopped, trained to the epochs of "
                 "their last rung):\n", count);
    for (int ep = max_ep; ep > 0; ep--)
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].status, "stopped") || rows[i].epochs_run != ep) continue;
            fprintf(out, "  v%04d_r%d  rung at %3d epochs  best val_loss %-10.5g", rows[i].id,
                    rows[i].repeat, ep, rows[i].best_val_loss);
            if (classification) fprintf(out, " val_accuracy %.4f", rows[i].best_val_accuracy);
            fprintf(out, "  %s\n", rows[i].name);
        }
}

as_status as_summary_print(const char *path, const as_summary_opts *o, FILE *out, as_error *err) {
    hid_t f = as_h5_open_read(path, err);
    if (f < 0) return AS_ERR_DATA;
    as_summary_row *rows = NULL;
    size_t n = 0;
    as_status st = as_summary_read(f, &rows, &n, err);
    if (st) {
        H5Fclose(f);
        return as_error_prefix(err, "%s", path);
    }
    char *task = NULL;
    int classification = as_h5_read_attr_string(f, "task", &task, NULL) == AS_OK &&
                         !strcmp(task, "classification");
    as_free(task);
    g_key = classification ? 2 : 0;
    if (o->sort) {
        g_key = -1;
        for (int k = 0; k < N_KEYS; k++)
            if (!strcmp(o->sort, k_keys[k])) g_key = k;
        if (g_key < 0) {
            as_free(rows);
            H5Fclose(f);
            return as_error_set(err, AS_ERR_ARG, "--sort %s: unknown key (one of best_val_loss, "
                                "final_val_loss, best_val_accuracy, train_seconds, test_loss, test_accuracy, params, "
                                "id, name)",
                                o->sort);
        }
    }
    if ((g_key == 2 || g_key == 5) && !classification) {
        as_free(rows);
        H5Fclose(f);
        return as_error_set(err, AS_ERR_ARG, "--sort %s: %s is a regression sweep "
                            "(no accuracy); sort by best_val_loss or final_val_loss", k_keys[g_key],
                            path);
    }
    g_desc = g_key == 2 || g_key == 5;
    agg *a = as_calloc(n ? n : 1, sizeof *a);
    int na = 0;
    if (!a) {
        as_free(rows);
        H5Fclose(f);
        return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    }
    /* aggregate repeats: mean and (sample) std over ok runs */
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        while (k < na && a[k].id != rows[i].id) k++;
        if (k == na) {
            memset(&a[na], 0, sizeof a[na]);
            a[na].id = rows[i].id;
            memcpy(a[na].name, rows[i].name, sizeof a[na].name);
            a[na].name[sizeof a[na].name - 1] = '\0';
            a[na].params = rows[i].params;
            if (o->group_by && !axis_value(f, rows[i].id, rows[i].repeat, o->group_by, a[na].group,
                                           sizeof a[na].group))
                snprintf(a[na].group, sizeof a[na].group, "(not used)");
            na++;
        }
        if (!strcmp(rows[i].status, "ok")) a[k].n_ok++;
        else if (strcmp(rows[i].status, "stopped") != 0) a[k].n_bad++; /* stopped: by the search */
    }
    for (int k = 0; k < na; k++) {
        double sum[NM] = {0}, sq[NM] = {0};
        int cnt[NM] = {0};
        for (size_t i = 0; i < n; i++) {
            if (rows[i].id != a[k].id || strcmp(rows[i].status, "ok") != 0) continue;
            double v[NM] = {rows[i].best_val_loss, rows[i].final_val_loss, rows[i].best_val_accuracy,
                            rows[i].train_seconds, rows[i].test_loss, rows[i].test_accuracy};
            for (int j = 0; j < NM; j++)
                if (!isnan(v[j])) {
                    sum[j] += v[j];
                    sq[j] += v[j] * v[j];
                    cnt[j]++;
                }
        }
        for (int j = 0; j < NM; j++) {
            a[k].m[j] = cnt[j] ? sum[j] / cnt[j] : (double)NAN;
            a[k].sd[j] = cnt[j] > 1 ? sqrt(fmax(0, (sq[j] - sum[j] * sum[j] / cnt[j]) / (cnt[j] - 1))) : 0;
        }
    }
    if (o->group_by) {
        int any = 0;
        for (int k = 0; k < na; k++) any |= strcmp(a[k].group, "(not used)") != 0;
        if (!any && na > 0) {
            as_free(a);
            as_free(rows);
            H5Fclose(f);
            return as_error_set(err, AS_ERR_ARG, "--group-by %s: no variant of %s uses that axis",
                                o->group_by, path);
        }
    }
    qsort(a, (size_t)na, sizeof *a, cmp_agg);
    int shown = 0;
    if (o->csv) {
        fprintf(out, "id,name,%sparams,repeats_ok,repeats_failed,best_val_loss_mean,best_val_loss_std,"
                     "final_val_loss_mean,best_val_accuracy_mean,best_val_accuracy_std,train_seconds_mean,"
                     "test_loss_mean,test_loss_std,test_accuracy_mean,test_accuracy_std\n",
                o->group_by ? "group," : "");
        for (int k = 0; k < na && (!o->top || shown < o->top); k++, shown++) {
            fprintf(out, "%d,\"%s\",", a[k].id, a[k].name);
            if (o->group_by) fprintf(out, "\"%s\",", a[k].group);
            fprintf(out, "%lld,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n",
                    (long long)a[k].params, a[k].n_ok, a[k].n_bad, a[k].m[0], a[k].sd[0], a[k].m[1],
                    a[k].m[2], a[k].sd[2], a[k].m[3], a[k].m[4], a[k].sd[4], a[k].m[5], a[k].sd[5]);
        }
    } else {
        int passes = o->group_by ? na : 1, has_test = 0;
        for (int k = 0; k < na; k++) has_test |= !isnan(a[k].m[4]);
        for (int p = 0; p < passes; p++) {
            const char *grp = o->group_by ? a[p].group : NULL;
            int first = 1;
            if (grp) { /* print each group once, at its best member */
                int seen = 0;
                for (int q = 0; q < p; q++) seen |= !strcmp(a[q].group, grp);
                if (seen) continue;
            }
            for (int k = 0, row = 0; k < na; k++) {
                if (a[k].n_ok == 0 || (grp && strcmp(a[k].group, grp) != 0)) continue;
                if (o->top && row >= o->top) break;
                if (first) {
                    if (grp) fprintf(out, "\n%s = %s\n", o->group_by, grp);
                    fprintf(out, "%4s  %5s  %-56s %9s  %-21s ", "rank", "id", "name", "params",
                            "best val_loss");
                    if (classification) fprintf(out, "%-21s ", "best val_accuracy");
                    if (has_test) fprintf(out, "%-21s ", classification ? "test accuracy" : "test loss");
                    fprintf(out, "%s\n", "seconds");
                    first = 0;
                }
                char l[64], acc[64], sec[64];
                fmt_ms(l, sizeof l, a[k].m[0], a[k].sd[0], a[k].n_ok, 5);
                fmt_ms(acc, sizeof acc, a[k].m[2], a[k].sd[2], a[k].n_ok, 4);
                fmt_ms(sec, sizeof sec, a[k].m[3], a[k].sd[3], a[k].n_ok, 1);
                fprintf(out, "%4d  %5d  %-56.56s %9lld  %-21s ", ++row, a[k].id, a[k].name,
                        (long long)a[k].params, l);
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
        print_stopped(rows, n, classification, out);
        int bad = 0;
        for (size_t i = 0; i < n; i++) bad += strcmp(rows[i].status, "ok") && strcmp(rows[i].status, "stopped");
        if (bad) {
            fprintf(out, "\nfailed or diverged runs (%d):\n", bad);
            for (size_t i = 0; i < n; i++) {
                if (!strcmp(rows[i].status, "ok") || !strcmp(rows[i].status, "stopped")) continue;
                char gpath[96], *msg = NULL;
                snprintf(gpath, sizeof gpath, "/variants/v%04d_r%d", rows[i].id, rows[i].repeat);
                hid_t g = H5Lexists(f, gpath, H5P_DEFAULT) > 0 ? H5Gopen2(f, gpath, H5P_DEFAULT) : -1;
                if (g >= 0) {
                    as_h5_read_attr_string(g, "error", &msg, NULL);
                    H5Gclose(g);
                }
                fprintf(out, "  v%04d_r%d  %-10s %s: %s\n", rows[i].id, rows[i].repeat, rows[i].status,
                        rows[i].name, msg ? msg : "");
                as_free(msg);
            }
        }
        fprintf(out, "\n%zu runs of %d variants in %s\n", n, na, path);
    }
    as_free(a);
    as_free(rows);
    H5Fclose(f);
    return AS_OK;
}
