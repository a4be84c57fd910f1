/* cmd_sweep.c: `attnsweep sweep FILE -o RESULTS.h5` -- every variant of a grid, across
 * MPI ranks, into one results file. */
#include <cjson/cJSON.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/blas.h"
#include "attnsweep/dataset.h"
#include "attnsweep/memory.h"
#include "attnsweep/grid.h"
#include "attnsweep/h5util.h"
#include "attnsweep/hosts.h"
#include "attnsweep/runkey.h"
#include "attnsweep/sha256.h"
#include "attnsweep/spec.h"
#include "attnsweep/sweep.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/commands.h"
#include "cli/runtime.h"
#include "cli/sweep_data.h"
#include "sweep/summary_row.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep sweep SWEEP.json -o RESULTS.h5 [options]\n"
            "       mpirun -np P attnsweep sweep SWEEP.json -o RESULTS.h5 [options]\n"
            "       attnsweep sweep --dry-run SWEEP.json\n"
            "\n"
            "Expands the grid of a sweep file (see sweeps/README.md) and trains every variant\n"
            "and repeat, ranks taking the next variant as they finish (costliest first).\n"
            "Rank 0 writes each finished run into RESULTS.h5 before handing out more work.\n"
            "A \"search\" block may instead sample (random) or train in rungs and stop weak\n"
            "variants early (successive_halving, hyperband, asha; state in RESULTS.h5.search/).\n"
            "\n"
            "options:\n"
            "  -o, --output FILE        the results file (required unless --dry-run)\n"
            "  --dry-run                list the variants (id, name, parameters, multiply-adds\n"
            "                           per epoch) and exit; with --shard, those of the shard;\n"
            "                           refuses variants that are one run as the run does\n"
            "                           (the files of a data axis are hashed)\n"
            "  --resume                 keep the runs already in RESULTS.h5, train the rest\n"
            "  --force                  with --resume: resume even if the sweep file, --epochs\n"
            "                           or dataset changed; stored runs of other configurations\n"
            "                           are kept apart, named \"... [not in grid]\"\n"
            "                           (a rung search still refuses changed search settings,\n"
            "                           repeats, seed or dataset: its journal records them)\n"
            "  --data PATH              override the dataset (relative to the current directory);\n"
            "                           refused (exit 2) when the sweep's data is a grid axis\n"
            "  --epochs N               override train.epochs of every variant\n"
            "  --threads N              BLAS threads per rank (default: all cores for a rank\n"
            "                           alone on its node, 1 when several share a node)\n"
            "  --ranks-per-variant R    train each variant data parallel over R ranks\n"
            "  --shard I/N              train only shard I (0..N-1) of N: the runs whose\n"
            "                           configuration key and repeat hash to I (any N; merge\n"
            "                           the shards' files with attnsweep merge); the file\n"
            "                           records it: --resume must give the same --shard\n"
            "  --journal MODE           who writes a finished run's journal file: rank0 (the\n"
            "                           default: rank 0 writes every run), shared (each rank\n"
            "                           writes its own, rank 0 only indexes them: checked that\n"
            "                           every rank sees the results folder, exit 2 if not), auto\n"
            "                           (shared where every rank sees it, else rank0)\n"
            "  --verbose                per-epoch lines\n"
            "\n"
            "SIGTERM (e.g. Slurm's --signal): no new variants start; running ones finish and\n"
            "are written; the resume command is printed. Exit status: 0 done (failed and\n"
            "diverged variants are recorded, not fatal), 2 bad sweep/dataset/flag, 1 other.\n");
}

typedef struct {
    const char *file, *out, *data;
    long epochs, threads, rpv;
    long shard, n_shards; /* --shard I/N (n_shards 0: the whole sweep) */
    int dry, resume, force, verbose;
    int journal; /* --journal: 0 rank0, 1 shared, 2 auto */
    int argc; /* the command line, for the resume hint */
    char **argv;
} sweep_opts;

/* "I/N" with 0 <= I < N <= 1000000 */
static int parse_shard(const char *v, sweep_opts *o) {
    char i_txt[32], n_txt[32];
    const char *slash = strchr(v, '/');
    size_t il = slash ? (size_t)(slash - v) : 0;
    if (!slash || il == 0 || il >= sizeof i_txt || strlen(slash + 1) >= sizeof n_txt) {
        fprintf(stderr, "attnsweep sweep: --shard: expected I/N (e.g. 0/4), got '%s'\n", v);
        return 0;
    }
    memcpy(i_txt, v, il);
    i_txt[il] = 0;
    snprintf(n_txt, sizeof n_txt, "%s", slash + 1);
    if (!as_arg_int("sweep", "--shard N", n_txt, 1, 1000000, &o->n_shards) ||
        !as_arg_int("sweep", "--shard I", i_txt, 0, o->n_shards - 1, &o->shard))
        return 0;
    return 1;
}

static int parse(int argc, char **argv, sweep_opts *o) {
    memset(o, 0, sizeof *o);
    o->argc = argc;
    o->argv = argv;
    const char *cmd = "sweep";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(o->out = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--data")) {
            if (!(o->data = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--epochs")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 1, 10000000, &o->epochs))
                return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 1, 1024, &o->threads))
                return 2;
        } else if (!strcmp(a, "--ranks-per-variant")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 1, 1 << 20, &o->rpv))
                return 2;
        } else if (!strcmp(a, "--shard")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !parse_shard(v, o)) return 2;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry = 1;
        } else if (!strcmp(a, "--resume")) {
            o->resume = 1;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "--journal")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i))) return 2;
            o->journal = !strcmp(v, "rank0") ? 0 : !strcmp(v, "shared") ? 1 : !strcmp(v, "auto") ? 2 : -1;
            if (o->journal < 0) {
                fprintf(stderr, "attnsweep sweep: --journal: expected rank0, shared or auto, got '%s'\n", v);
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "attnsweep sweep: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (o->file) {
            fprintf(stderr, "attnsweep sweep: one sweep file expected, got '%s' and '%s'\n", o->file, a);
            return 2;
        } else {
            o->file = a;
        }
    }
    if (!o->file) {
        fprintf(stderr, "attnsweep sweep: missing SWEEP.json (see --help)\n");
        return 2;
    }
    if (!o->dry && !o->out) {
        fprintf(stderr, "attnsweep sweep: missing -o RESULTS.h5 (see --help)\n");
        return 2;
    }
    if (o->force && !o->resume) {
        fprintf(stderr, "attnsweep sweep: --force only applies with --resume\n");
        return 2;
    }
    return 0;
}

/* The load-time check of every variant: the spec's own rules (keys, types, bounds). */
static as_status check_variant(void *ud, const cJSON *spec, const char *origin, as_error *err) {
    (void)ud;
    as_spec s;
    as_status st = as_spec_parse(spec, origin, NULL, NULL, &s, err);
    if (!st && s.train.threads > 0)
        st = as_error_set(err, AS_ERR_SPEC, "%s: train.threads: a sweep sets the threads of every "
                          "run (sweep --threads); remove the key", origin);
    as_spec_free(&s);
    return st;
}

static volatile int g_stop = 0; /* the signal that asked the sweep to stop */
static void on_term(int sig) { g_stop = sig; }

/* --data replaces a single dataset: refused when the sweep's data is a grid axis ("$ds"),
 * even of one value (the runs would be labelled with the axis value, not the override). */
static as_status data_not_axis(const as_sweep *s, const char *file, const char *data, as_error *err) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(s->root, "data");
    if (!cJSON_IsString(d) || d->valuestring[0] != '$' || d->valuestring[1] == '$') return AS_OK;
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(s->root, "grid");
    const cJSON *axis = cJSON_GetObjectItemCaseSensitive(grid, d->valuestring + 1);
    char *vals = axis ? cJSON_PrintUnformatted(axis) : NULL;
    as_error_set(err, AS_ERR_ARG, "--data: the data of %s is a grid axis (\"data\": \"%s\", values "
                 "%.200s%s); --data %s replaces a single dataset only: put it in the axis instead",
                 file, d->valuestring, vals ? vals : "?", vals && strlen(vals) > 200 ? "..." : "", data);
    if (vals) cJSON_free(vals);
    return AS_ERR_ARG;
}

/* What rewrote every variant's train.epochs, for as_run_keys_distinct's message ("" when
 * nothing did). */
static void epochs_note(const sweep_opts *o, const as_sweep *s, char *buf, size_t n) {
    if (s->search.type >= AS_SEARCH_HALVING)
        snprintf(buf, n, "%s %d replaced train.epochs", o->epochs ? "--epochs" : "search.max_epochs",
                 s->search.max_epochs);
    else if (o->epochs)
        snprintf(buf, n, "--epochs %ld replaced train.epochs", o->epochs);
    else
        buf[0] = '\0';
}

/* Per-rank set-up: the expanded sweep, its datasets (one, or a data axis), the sweep
 * file's text. Two variants that are one run (the same spec after the overrides, on the
 * same dataset) are refused here; two datasets of one content once they are hashed. */
static as_status setup(const sweep_opts *o, as_sweep *s, as_sweep_data *sd, char **text,
                       as_error *err) {
    as_status st = as_sweep_load(o->file, check_variant, NULL, s, err);
    if (st) return st;
    if (s->n == 0) return as_error_set(err, AS_ERR_SPEC, "%s: the grid expands to no variant", o->file);
    if (o->data && (st = data_not_axis(s, o->file, o->data, err))) return st;
    int epochs = (int)o->epochs;
    if (s->search.type >= AS_SEARCH_HALVING) { /* every run's identity has max_epochs */
        if (epochs && epochs < s->search.min_epochs)
            return as_error_set(err, AS_ERR_ARG, "--epochs %d: less than search.min_epochs %d of %s",
                                epochs, s->search.min_epochs, o->file);
        if (epochs) s->search.max_epochs = epochs;
        epochs = s->search.max_epochs;
    }
    if ((o->data || epochs) && (st = as_sweep_override(s, o->data, epochs, err))) return st;
    if ((st = as_sweep_data_load(s, o->file, sd, err))) return st;
    if (sd->n > 1 && s->search.type >= AS_SEARCH_HALVING) /* rungs rank runs against each other */
        return as_error_set(err, AS_ERR_SPEC, "%s: data: a %s search cannot span a data axis "
                            "(it ranks runs on one dataset): sweep each dataset on its own", o->file,
                            as_search_type_name(s->search.type));
    for (int v = 0; v < s->n && !st; v++) { /* "n_classes" / "n_outputs" from its dataset */
        const as_dataset *d = &sd->d[s->v[v].data_index];
        st = as_spec_json_resolve(s->v[v].spec, d->task == AS_TASK_CLASSIFICATION, d->n_classes,
                                  d->train.yc, s->v[v].name, err);
    }
    if (st) return as_error_prefix(err, "%s: variant", o->file);
    for (int k = 0; k < sd->n && !st; k++) st = as_sweep_check_search(s, &sd->d[k], o->file, err);
    char why[96];
    epochs_note(o, s, why, sizeof why);
    if (!st) st = as_run_keys_distinct(s, o->file, why, err);
    if (st) return st;
    return as_read_text_file(o->file, text, NULL, err);
}

/* Rank 0: --shard I/N: the other shards' runs are not this sweep's to train. */
static as_status mark_shard(const sweep_opts *o, const as_sweep *s, unsigned char *done,
                            as_error *err) {
    if (s->search.type >= AS_SEARCH_HALVING)
        return as_error_set(err, AS_ERR_ARG, "--shard: a %s search decides over all of its runs "
                            "together and cannot be split into shards", as_search_type_name(s->search.type));
    as_status st = as_sweep_shard_mark(s, (int)o->shard, (int)o->n_shards, done, err);
    if (st) return st;
    size_t total = (size_t)s->n * (size_t)s->repeats, mine = 0;
    for (size_t k = 0; k < total; k++) mine += done[k] != 2;
    printf("shard %ld/%ld: %zu of the sweep's %zu runs (by run key)\n", o->shard, o->n_shards, mine,
           total);
    fflush(stdout);
    return AS_OK;
}

/* Rank 0: --dry-run lists the variants (with --shard, those with a run in the shard, as
 * the real run would select and refuse them). */
static as_status dry_run(const sweep_opts *o, const as_sweep *s, const as_sweep_data *sd,
                         as_error *err) {
    const as_dataset *d0 = &sd->d[0];
    size_t runs = (size_t)s->n * (size_t)s->repeats;
    unsigned char *other = o->n_shards ? as_calloc(runs + 1, 1) : NULL; /* 2: another shard's */
    if (o->n_shards && !other) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    as_status st = o->n_shards ? mark_shard(o, s, other, err) : AS_OK;
    if (st) {
        as_free(other);
        return st;
    }
    printf("%d variant%s x %d repeat%s = %d run%s on ", s->n, s->n == 1 ? "" : "s", s->repeats,
           s->repeats == 1 ? "" : "s", s->n * s->repeats, s->n * s->repeats == 1 ? "" : "s");
    if (sd->n == 1)
        printf("%s (%d training series of length %d)\n", d0->path, d0->train.n, d0->train.t);
    else
        printf("%d datasets (a data axis)\n", sd->n);
    printf("%5s  %-60s %10s %14s %10s\n", "id", "name", "params", "MACs/epoch", "memory");
    for (int v = 0; v < s->n; v++) {
        int mine = 0;
        for (int r = 0; r < s->repeats; r++) mine += !other || other[(size_t)v * s->repeats + r] != 2;
        if (!mine) continue;
        int64_t params = 0;
        size_t bytes = 0;
        as_error e;
        double macs = as_sweep_estimate_mem(s, v, &sd->d[s->v[v].data_index], s->ranks_per_variant,
                                            &params, &bytes, &e);
        char mem[32];
        as_mem_format(bytes, mem, sizeof mem);
        if (macs < 0) printf("%5d  %-60.60s  fails: %s", v, s->v[v].name, e.msg);
        else printf("%5d  %-60.60s %10lld %14.4g %10s", v, s->v[v].name, (long long)params, macs, mem);
        if (mine < s->repeats) { /* some of its repeats are another shard's */
            printf("  (this shard's repeats:");
            for (int r = 0; r < s->repeats; r++)
                if (other[(size_t)v * s->repeats + r] != 2) printf(" %d", r);
            printf(")");
        }
        printf("\n");
    }
    as_free(other);
    char avail[32];
    as_mem_format(as_mem_available(), avail, sizeof avail);
    printf("memory: per rank, to train (model, optimizer, batch); %s available\n", avail);
    const as_search_cfg *c = &s->search;
    if (c->type >= AS_SEARCH_HALVING) {
        printf("search: %s by %s (%s), eta %d, rungs at", as_search_type_name(c->type),
               as_metric_name(c->metric), c->maximize ? "max" : "min", c->eta);
        for (long b = c->min_epochs; b < c->max_epochs; b *= c->eta) printf(" %ld", b);
        printf(" %d epochs%s\n", c->max_epochs,
               c->type == AS_SEARCH_HYPERBAND ? " (the most exploratory bracket; see sweeps/README.md)" : "");
    }
    return AS_OK;
}

/* Rank 0: takes the results' lock, checks them against --resume (filling done[]) and
 * packs the results file with a free /summary row for every run of this session. */
static as_status prepare_results(const sweep_opts *o, const as_sweep *s, const as_sweep_data *sd,
                                 const char *text, int P, int R, as_results_meta *meta,
                                 unsigned char *done, as_store *store, as_error *err) {
    as_status st;
    meta->sweep_path = o->file;
    meta->sweep_text = text;
    meta->data_path = sd->path_all;
    meta->ranks = P;
    meta->ranks_per_variant = R;
    meta->override_epochs = (int)o->epochs;
    meta->runs_planned = s->n * s->repeats;
    meta->shard = (int)o->shard;
    meta->n_shards = (int)o->n_shards;
    meta->data = &sd->d[0]; /* the task (one for every dataset) */
    const char **inputs = as_calloc((size_t)sd->n + 1, sizeof *inputs);
    if (!inputs) return as_error_set(err, AS_ERR_NOMEM, "out of memory");
    inputs[0] = o->file;
    for (int k = 0; k < sd->n; k++) inputs[k + 1] = sd->path[k];
    st = as_output_check("-o", o->out, inputs, (size_t)sd->n + 1, err);
    as_free(inputs);
    if (st) return st;
    if ((st = as_store_open(store, o->out, err))) return st; /* the lock, for the whole sweep */
    if (o->resume && access(o->out, F_OK) != 0)
        return as_error_set(err, AS_ERR_ARG, "--resume: %s does not exist (run without --resume)", o->out);
    if (!o->resume && access(o->out, F_OK) == 0)
        return as_error_set(err, AS_ERR_ARG,
                            "%s exists: use --resume to continue it, or remove it to start over", o->out);
    char search_dir[4200];
    snprintf(search_dir, sizeof search_dir, "%s.search", o->out);
    if (!o->resume && s->search.type >= AS_SEARCH_HALVING && access(search_dir, F_OK) == 0)
        return as_error_set(err, AS_ERR_ARG, "%s exists (the search state of an earlier sweep): "
                            "remove it to start over", search_dir);
    if (!o->resume && as_store_journal_runs(store) > 0)
        return as_error_set(err, AS_ERR_ARG, "%s holds runs of an earlier sweep whose results file is "
                            "gone: remove the folder to start over", store->journal);
    size_t total = (size_t)s->n * (size_t)s->repeats, todo = total;
    /* a rung search's journal must match: its decisions were taken under its settings
       (before the sweep file's check, which --force passes); then, with the stored runs,
       that it is there */
    if (o->resume && (st = as_sweep_search_check(s, o->out, meta->data_sha256, NULL, err))) return st;
    if (o->resume && (st = as_results_done(o->out, s, meta, o->force, done, err))) return st;
    if (o->resume && (st = as_sweep_search_check(s, o->out, meta->data_sha256, done, err))) return st;
    if ((st = as_sweep_keys_digest(s, meta->data_sha256, meta->run_keys_sha256, err))) return st;
    if (o->n_shards && (st = mark_shard(o, s, done, err))) return st;
    if (o->n_shards) { /* a shard plans its own runs (merge plans the whole sweep's) */
        size_t mine = 0;
        for (size_t i = 0; i < total; i++) mine += done[i] != 2;
        meta->runs_planned = (int)mine;
    }
    for (size_t i = 0; i < total; i++) todo -= done[i] != 0;
    if ((st = as_store_pack(store, s, meta, 0, todo, 0, err))) return st;
    printf("attnsweep sweep: %s: %d variant%s x %d repeat%s on %s; %d rank%s, %d per variant\n",
           o->file, s->n, s->n == 1 ? "" : "s", s->repeats, s->repeats == 1 ? "" : "s", sd->path_all, P,
           P == 1 ? "" : "s", R);
    as_runtime_print(stdout, P);
    fflush(stdout);
    return AS_OK;
}

/* --journal shared|auto (collective): leaders write their own journal files when every
 * rank sees the results folder (as_store_probe_shared), checked before anything is
 * written there; shared refuses otherwise (exit 2 naming the first rank that does not),
 * auto falls back to rank 0 writing every run, with a message. */
static as_status choose_journal(const sweep_opts *o, const as_sweep *s, int rank, int P,
                                int *shared, as_error *err) {
    *shared = 0;
    if (o->journal == 0 || P == 1) return AS_OK;
    if (s->search.type >= AS_SEARCH_HALVING) {
        if (rank == 0 && o->journal == 1)
            printf("--journal shared: a %s search stores its runs through rank 0 (when it ends "
                   "them)\n", as_search_type_name(s->search.type));
        return AS_OK;
    }
    char probe[4600];
    as_error e;
    as_status st = as_store_probe_shared(o->out, rank, probe, sizeof probe, &e);
    as_status all = as_runtime_agree(st, rank, P, &e);
    if (rank == 0) unlink(probe);
    if (!all) {
        *shared = 1;
        if (rank == 0) printf("--journal %s: every rank writes its own runs into %s.journal; "
                              "rank 0 indexes them\n", o->journal == 1 ? "shared" : "auto", o->out);
        return AS_OK;
    }
    if (o->journal == 1) {
        *err = e;
        return as_error_prefix(err, "--journal shared");
    }
    if (rank == 0) printf("--journal auto: %s; rank 0 writes every run\n", e.msg);
    return AS_OK;
}

/* A sweep whose results file (with --shard, this shard's runs) holds runs but no run that
 * finished ok (every one failed or diverged, in this session or a resumed one) is an error
 * (exit 3). The file decides: done[] also counts other shards' runs and stored diverged runs. */
static as_status all_failed(const as_sched_opts *so, as_error *err) {
    as_summary_row *rows = NULL;
    size_t n = 0;
    as_status st = as_store_rows(so->out_path, &rows, &n, err);
    if (st) return st;
    int ok = 0, div = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = rows[i].status;
        ok += !strcmp(t, "ok") || !strcmp(t, "stopped");
        div += !strcmp(t, "diverged");
        bad += !strcmp(t, "failed");
    }
    as_free(rows);
    if (ok > 0 || n == 0) return AS_OK;
    return as_error_set(err, AS_ERR_DIVERGED, "no run finished ok: %d failed, %d diverged, none ok in "
                        "%s (messages: attnsweep summary %s)", bad, div, so->out_path, so->out_path);
}

/* Collective: the datasets' hashes and, for a data axis, the refusal of two of its files
 * of one content (setup compared paths: toy.h5 and ./toy.h5, a hard link, a copy). A dry
 * run hashes a data axis too (one dataset needs no hash there), so it gives the run's
 * verdict and message. */
static as_status hash_data(const sweep_opts *o, as_sweep *s, as_sweep_data *sd, int rank, int P,
                           as_error *err) {
    if (o->dry && sd->n == 1) return AS_OK;
    as_status st = as_sweep_data_hash(s, sd, rank, P, err);
    if (st || sd->n == 1) return st;
    char why[96];
    epochs_note(o, s, why, sizeof why);
    st = as_run_keys_distinct(s, o->file, why, err);
    return P > 1 ? as_runtime_agree(st, rank, P, err) : st;
}

static as_status run(const sweep_opts *o, int rank, int P, as_error *err) {
    as_store store;
    memset(&store, 0, sizeof store);
    store.lock_fd = store.index_fd = -1;
    as_sweep s;
    as_sweep_data sd;
    memset(&s, 0, sizeof s);
    memset(&sd, 0, sizeof sd);
    char *text = NULL;
    unsigned char *done = NULL;
    as_status st = setup(o, &s, &sd, &text, err);
    /* every rank must be ready before the first collective of the sweep */
    if (P > 1) st = as_runtime_agree(st, rank, P, err);
    if (st) goto out;
    if ((st = hash_data(o, &s, &sd, rank, P, err))) goto out;
    if (o->dry) {
        if (rank == 0) st = dry_run(o, &s, &sd, err);
        if (P > 1) st = as_runtime_agree(st, rank, P, err);
        goto out;
    }
    int R = o->rpv ? (int)o->rpv : s.ranks_per_variant;
    if (P % R != 0) {
        st = as_error_set(err, AS_ERR_ARG, "ranks_per_variant %d does not divide the %d ranks", R, P);
        goto out;
    }
    as_results_meta meta;
    memset(&meta, 0, sizeof meta);
    as_sha256_hex(text, strlen(text), meta.sweep_sha256);
    memcpy(meta.data_sha256, sd.sha_all, sizeof meta.data_sha256);
    int shared = 0;
    if ((st = choose_journal(o, &s, rank, P, &shared, err))) goto out;
    if (rank == 0 && !(done = as_calloc((size_t)s.n * (size_t)s.repeats, 1)))
        st = as_error_set(err, AS_ERR_NOMEM, "out of memory");
    if (rank == 0 && !st)
        st = prepare_results(o, &s, &sd, text, P, R, &meta, done, &store, err);
    if (P > 1) st = as_runtime_agree(st, rank, P, err);
    if (st) goto out;
    int counts[4] = {0, 0, 0, 0};
    as_sched_opts so = {.sweep_path = o->file, .out_path = o->out, .verbose = o->verbose,
                        .ranks_per_variant = R, .done = done, .stop = &g_stop, .resume = o->resume,
                        .data_sha256 = meta.data_sha256, .store = &store, .counts = counts,
                        .journal_shared = shared};
    double t0 = MPI_Wtime();
    st = as_sweep_schedule(&s, sd.d, &so, err);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) { /* self-contained again, also after a failure (what could be stored is) */
        as_error e2;
        as_status p = as_store_pack(&store, &s, &meta, MPI_Wtime() - t0, 0, 1, &e2);
        if (p && !st) {
            st = p;
            *err = e2;
        } else if (p) {
            fprintf(stderr, "attnsweep sweep: %s\n", e2.msg);
        }
    }
    if (rank == 0 && !st) st = all_failed(&so, err);
    if (rank == 0 && (!st || st == AS_ERR_DIVERGED)) {
        if (g_stop) {
            printf("stopped by %s after the running variants; resume with:\n",
                   g_stop == SIGINT ? "SIGINT" : "SIGTERM");
            as_runtime_print_command(stdout, P, o->argc, o->argv, o->resume ? NULL : "--resume");
        }
        else
            printf("wrote %s (%.1fs); leaderboard: attnsweep summary %s\n", o->out,
                   MPI_Wtime() - t0, o->out);
    }
out:
    if (rank == 0) as_store_close(&store);
    as_free(done);
    as_free(text);
    as_sweep_data_free(&sd);
    as_sweep_free(&s);
    return st;
}

/* Collective: rank 0 makes the paths absolute (cluster.h) and, as the only writer,
 * checks the results file's folder. */
static as_status resolve_paths(sweep_opts *o, int rank, int P, char **owned, as_error *err) {
    const char **paths[] = {&o->file, &o->out, &o->data};
    const char *names[] = {"SWEEP", "-o", "--data"};
    as_status st = as_cluster_resolve(paths, names, 3, owned, err);
    if (!st && rank == 0 && o->out && !o->dry) st = as_cluster_check_output("-o", o->out, err);
    return P > 1 ? as_runtime_agree(st, rank, P, err) : st;
}

int as_cmd_sweep(int argc, char **argv) {
    sweep_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    /* before MPI_Init: a stop asked for during start-up is kept, not lost */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    as_h5_hold_release_on(&g_stop); /* ATTNSWEEP_TEST_HOLD waits for a stop signal */
    if (as_runtime_init(&argc, &argv) != 0) return 1;
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    as_runtime_set_threads((int)o.threads, P);
    as_error err;
    as_error_clear(&err);
    char *paths = NULL;
    as_status st = as_cluster_check_launch(P, &err);
    if (!st) st = as_hosts_gather(MPI_COMM_WORLD, as_blas_threads(), &err);
    if (!st) st = resolve_paths(&o, rank, P, &paths, &err);
    if (!st) st = run(&o, rank, P, &err);
    /* no run finished ok: 3, like train's diverged run */
    int worst = as_runtime_report("sweep", st, st == AS_ERR_DIVERGED ? 3 : as_status_exit_code(st), rank, &err);
    as_free(paths);
    as_hosts_free();
    MPI_Finalize();
    return worst;
}
