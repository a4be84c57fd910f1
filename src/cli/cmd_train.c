/* cmd_train.c: `attnsweep train SPEC.json` -- one model, one process or data parallel. */
#include <math.h>
#include <signal.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnsweep/alloc.h"
#include "attnsweep/blas.h"
#include "attnsweep/checkpoint.h"
#include "attnsweep/dataset.h"
#include "attnsweep/h5util.h"
#include "attnsweep/hosts.h"
#include "attnsweep/model.h"
#include "attnsweep/rng.h"
#include "attnsweep/sha256.h"
#include "attnsweep/spec.h"
#include "attnsweep/train.h"
#include "attnsweep/weights.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/commands.h"
#include "cli/runtime.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: attnsweep train SPEC.json [options]\n"
            "       mpirun -np P attnsweep train SPEC.json [options]   (data parallel)\n"
            "\n"
            "Trains the model of a JSON spec on its dataset, printing one line per epoch.\n"
            "Under mpirun every rank trains the same model on a shard of each global batch\n"
            "and gradients are summed with MPI allreduce.\n"
            "\n"
            "options:\n"
            "  --epochs N            override train.epochs\n"
            "  --seed S              override train.seed (initialisation, shuffling, dropout)\n"
            "  --threads N           BLAS threads per rank (default: train.threads, else all cores\n"
            "                        for one rank, 1 when several share a node)\n"
            "  --init-weights W.h5   start from a weights file\n"
            "  --save-weights W.h5   write the kept weights (train.keep, restore_best_weights)\n"
            "  --history H.h5        write per-epoch loss, val_loss, [val_]accuracy, epoch_seconds,\n"
            "                        learning_rate; best/stopped/kept epochs, test metrics, threads\n"
            "  --checkpoint C.h5     save the whole training state after every epoch; when C.h5\n"
            "                        exists, resume from it (same spec file and seed)\n"
            "  --bucket-kb N         data parallel: allreduce bucket size in KiB (default 1024)\n"
            "  --no-overlap          data parallel: allreduce after backward instead of during it\n"
            "  --quiet               no per-epoch lines\n"
            "\n"
            "SIGTERM (e.g. Slurm's --signal): training stops after the current epoch; with\n"
            "--checkpoint the state is saved and the resume command printed.\n"
            "\n"
            "exit status: 0 trained (or stopped by SIGTERM), 2 bad spec/dataset/flag, 3 diverged\n"
            "(non-finite loss), 1 other failure.\n");
}

typedef struct {
    const char *spec_path, *init_weights, *save_weights, *history, *checkpoint;
    int argc; /* the command line, for the resume hint */
    char **argv;
    long epochs, threads, bucket_kb;
    uint64_t seed;
    int has_seed, overlap, quiet;
} train_opts;

static int parse_opts(int argc, char **argv, train_opts *o) {
    memset(o, 0, sizeof *o);
    o->argc = argc;
    o->argv = argv;
    o->epochs = -1;
    o->threads = 0;
    o->bucket_kb = 1024;
    o->overlap = 1;
    const char *cmd = "train";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--epochs")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 1, 10000000, &o->epochs))
                return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_u64(cmd, a, v, &o->seed)) return 2;
            o->has_seed = 1;
        } else if (!strcmp(a, "--threads")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) || !as_arg_int(cmd, a, v, 1, 1024, &o->threads))
                return 2;
        } else if (!strcmp(a, "--bucket-kb")) {
            if (!(v = as_arg_value(cmd, argc, argv, &i)) ||
                !as_arg_int(cmd, a, v, 1, 1 << 20, &o->bucket_kb))
                return 2;
        } else if (!strcmp(a, "--init-weights")) {
            if (!(o->init_weights = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--save-weights")) {
            if (!(o->save_weights = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--checkpoint")) {
            if (!(o->checkpoint = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--history")) {
            if (!(o->history = as_arg_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--no-overlap")) {
            o->overlap = 0;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "attnsweep train: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (o->spec_path) {
            fprintf(stderr, "attnsweep train: one spec file expected, got '%s' and '%s'\n",
                    o->spec_path, a);
            return 2;
        } else {
            o->spec_path = a;
        }
    }
    if (!o->spec_path) {
        fprintf(stderr, "attnsweep train: missing SPEC.json (see --help)\n");
        return 2;
    }
    return 0;
}

static volatile sig_atomic_t g_stop = 0;
static void on_term(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct {
    int rank, quiet, classification;
    const char *checkpoint, *spec_sha, *data_sha;
    uint64_t seed;
    const as_model *model;
} epoch_ctx;

/* Rank 0 saves the state after every epoch (the other ranks hold the same). */
static int save_checkpoint(void *ud, const as_fit_state *st, const as_history *h) {
    epoch_ctx *c = ud;
    if (c->rank != 0) return 0;
    as_error e;
    if (as_checkpoint_save(c->checkpoint, c->model, st, h, c->spec_sha, c->seed, c->data_sha, &e) == AS_OK)
        return 0;
    fprintf(stderr, "attnsweep train: %s\n", e.msg);
    return 1;
}

static int print_epoch(void *ud, const as_epoch_stats *s) {
    epoch_ctx *c = ud;
    /* test hook: rank 0 gets SIGTERM after epoch N, at a known point of the run */
    const char *hook = getenv("ATTNSWEEP_TEST_SIGTERM_EPOCH");
    if (c->rank == 0 && hook && atoi(hook) == s->epoch) raise(SIGTERM);
    if (c->rank != 0 || c->quiet) return g_stop;
    printf("epoch %3d/%d  loss %.6g", s->epoch, s->epochs, s->loss);
    if (c->classification) printf("  accuracy %.4f", s->accuracy);
    if (!isnan(s->val_loss)) printf("  val_loss %.6g", s->val_loss);
    if (c->classification && !isnan(s->val_accuracy)) printf("  val_accuracy %.4f", s->val_accuracy);
    printf("  %.2fs  %.0f samples/s\n", s->seconds, s->samples_per_sec);
    fflush(stdout);
    return g_stop;
}

/* Early stopping, the kept weights and the test metrics of a finished run. */
static void print_outcome(const as_history *h) {
    if (h->stopped_epoch)
        printf("early stopping at epoch %d (no %s improvement)\n", h->stopped_epoch,
               as_monitor_name(h->monitor));
    printf("kept the weights of epoch %d (%s; best %s at epoch %d)\n", h->kept_epoch,
           h->kept_best ? "best" : "last", as_monitor_name(h->monitor), h->best_epoch);
    if (h->has_test) {
        printf("test: loss %.6g", h->test_loss);
        if (h->classification) printf("  accuracy %.4f", h->test_accuracy);
        printf("  (reported only: validation chose the weights)\n");
    }
    fflush(stdout);
}

static as_status write_history_file(const char *path, const as_history *h, as_error *err) {
    as_h5_writer w;
    as_status st = as_h5_writer_open(&w, path, err);
    if (st) return st;
    if ((st = as_history_write(w.file, h, err))) {
        as_h5_writer_abort(&w);
        return as_error_prefix(err, "%s", path);
    }
    return as_h5_writer_commit(&w, err);
}

/* Collective: rank 0 reads the file at path (when it exists) and broadcasts its bytes;
 * they stand in for the file on every rank (as_h5_image_set) until release_image. A
 * rank whose set-up failed (st) takes part and returns st. */
static as_status share_file(const char *path, as_status st, int *exists, char **buf,
                            as_error *err) {
    size_t n = 0;
    as_error e;
    as_error_clear(&e);
    as_status bs = as_cluster_bcast_file(path, exists, buf, &n, &e);
    if (!st && bs) *err = e;
    if (!st) st = bs;
    if (!st && *exists) st = as_h5_image_set(path, *buf, n, err);
    return st;
}

static void release_image(char *buf) {
    as_h5_image_clear();
    as_free(buf);
}

/* Every rank loads the initial weights and the checkpoint rank 0 read (cluster.h). */
static as_status load_shared(const train_opts *o, as_status st, as_model *model,
                             as_fit_state *resume, as_history *prev, const char *spec_sha,
                             const char *data_sha, const as_spec *spec, int *resuming,
                             int *unrecorded, as_error *err) {
    int exists = 0;
    char *buf = NULL;
    if (o->init_weights) {
        st = share_file(o->init_weights, st, &exists, &buf, err);
        if (!st) st = as_weights_load(o->init_weights, model, err);
        release_image(buf);
        buf = NULL;
    }
    if (o->checkpoint) {
        st = share_file(o->checkpoint, st, &exists, &buf, err);
        if (!st && exists) /* another dataset's state is refused: the same bits need the same rows */
            st = as_checkpoint_check_data(o->checkpoint, spec->data, data_sha, unrecorded, err);
        if (!st && exists) {
            st = as_checkpoint_load(o->checkpoint, model, resume, prev, spec_sha, spec->train.seed,
                                    err);
            *resuming = st == AS_OK;
        }
        release_image(buf);
    }
    return st;
}

/* Collective: rank 0 makes the paths absolute (cluster.h) and checks the outputs it will
 * write; the other ranks neither check nor write them. */
static as_status resolve_paths(train_opts *o, int rank, int P, char **owned, as_error *err) {
    const char **paths[] = {&o->spec_path, &o->init_weights, &o->save_weights, &o->history,
                            &o->checkpoint};
    const char *names[] = {"SPEC", "--init-weights", "--save-weights", "--history", "--checkpoint"};
    as_status st = as_cluster_resolve(paths, names, 5, owned, err);
    const char *flags[] = {"--save-weights", "--history", "--checkpoint"};
    const char *outs[] = {o->save_weights, o->history, o->checkpoint};
    for (int i = 0; i < 3 && rank == 0 && !st; i++) /* st: agreed below, on every rank */
        if (outs[i]) st = as_cluster_check_output(flags[i], outs[i], err);
    return P > 1 ? as_runtime_agree(st, rank, P, err) : st;
}

/* No output may be an input (the spec, its data, --init-weights, an existing checkpoint,
 * which is read) or another output, nor a link or a device. */
static as_status check_outputs(const train_opts *o, const char *data, as_error *err) {
    const char *outs[3][2] = {{"--history", o->history}, {"--save-weights", o->save_weights},
                              {"--checkpoint", o->checkpoint}};
    for (int i = 0; i < 3; i++) {
        if (!outs[i][1]) continue;
        const char *in[6] = {o->spec_path, data, o->init_weights, i != 2 ? o->checkpoint : NULL,
                             i != 0 ? o->history : NULL, i != 1 ? o->save_weights : NULL};
        for (int k = 3; k < 6; k++)
            if (in[k] && as_output_same(in[k], outs[i][1]))
                return as_error_set(err, AS_ERR_ARG, "%s %s: another output (or the checkpoint) "
                                    "has the same path", outs[i][0], outs[i][1]);
        as_status st = as_output_check(outs[i][0], outs[i][1], in, 6, err);
        if (st) return st;
    }
    return AS_OK;
}

/* train.threads (e.g. an exported run's thread count) unless --threads overrides it, with a
 * warning when they differ: a run is bit-identical only with the same count. Collective. */
static as_status spec_threads(const train_opts *o, const as_spec *spec, int rank, int P,
                              as_error *err) {
    int want = spec->train.threads;
    if (want <= 0) return AS_OK;
    if (o->threads > 0) {
        if (rank == 0 && o->threads != want)
            fprintf(stderr, "attnsweep train: warning: --threads %ld differs from train.threads %d "
                    "of %s (the thread count of the run it reproduces): the results will not be "
                    "bit-identical to that run's\n", o->threads, want, o->spec_path);
        return AS_OK;
    }
    /* every rank takes this branch (the same spec and flags), so the collective calls
     * below are reached by all, whatever thread count each rank had by default */
    as_runtime_set_threads(want, P);
    as_hosts_free(); /* the start-up lines name the threads each rank uses */
    return as_hosts_gather(MPI_COMM_WORLD, as_blas_threads(), err);
}

/* The refit's epochs: no lines (the refit prints one at its end), only the stop flag. */
static int refit_epoch(void *ud, const as_epoch_stats *s) {
    const epoch_ctx *c = ud;
    /* test hook: rank 0 gets SIGTERM after the refit's epoch N */
    const char *hook = getenv("ATTNSWEEP_TEST_SIGTERM_REFIT_EPOCH");
    if (c->rank == 0 && hook && atoi(hook) == s->epoch) raise(SIGTERM);
    return g_stop;
}

/* train.refit: the model retrained on every training row for the kept epoch's count, from
 * the selection run's start weights (--init-weights loaded again, else the seed's); its
 * test metrics go into hist (refit_epochs says so). A stop signal ends it after its
 * current epoch: *stopped, nothing to save. Collective. */
static as_status refit(const train_opts *o, as_model *m, const as_dataset *d, const as_spec *spec,
                       const as_fit_opts *fo, int rank, as_history *hist, int *diverged,
                       int *stopped, as_error *err) {
    as_history hr;
    as_fit_opts ro = *fo;
    ro.on_epoch = refit_epoch;
    ro.on_checkpoint = NULL;
    ro.resume = NULL;
    ro.resume_history = NULL;
    as_status st = AS_OK;
    if (o->init_weights) {
        int exists = 0;
        char *buf = NULL;
        as_model_init(m, spec->train.seed); /* buffers the file lacks start as the seed's */
        st = share_file(o->init_weights, st, &exists, &buf, err);
        if (!st) st = as_weights_load(o->init_weights, m, err);
        release_image(buf);
        if (st) return st;
    }
    if ((st = as_fit_refit(m, d, &spec->train, hist, o->init_weights != NULL, &ro, &hr, err)))
        return st;
    if (hr.status == AS_RUN_STOPPED) {
        *stopped = 1;
        if (rank == 0)
            printf("stopped by SIGTERM during the refit (epoch %d of %d): nothing saved%s\n",
                   hr.epochs_run, hist->kept_epoch,
                   o->checkpoint ? "; the checkpoint holds the finished selection run, and "
                                   "resuming from it runs the refit again" : "");
    } else if (hr.status == AS_RUN_DIVERGED) {
        *diverged = 1;
        if (rank == 0) fprintf(stderr, "attnsweep train: refit diverged: %s\n", hr.message);
    } else if (rank == 0 && !o->quiet) {
        printf("refit: %d epochs on all %d training rows (validation rows too), final loss %.6g",
               hr.epochs_run, hr.n_train, hr.epochs_run ? hr.loss[hr.epochs_run - 1] : (double)NAN);
        if (hr.kept_best)
            printf("; kept epoch %d (lowest training loss, %.6g)", hr.kept_epoch,
                   hr.loss[hr.kept_epoch - 1]);
        printf("\n");
        if (hr.has_test) {
            printf("test (refit model): loss %.6g", hr.test_loss);
            if (hr.classification) printf("  accuracy %.4f", hr.test_accuracy);
            printf("\n");
        }
    }
    as_history_free(&hr);
    return AS_OK;
}

/* The start-up lines (rank 0): the run, the runtime, the start weights, a resume
 * (resume_epoch < 0: none). */
static void print_start(const train_opts *o, const as_spec *spec, const as_dataset *data,
                        const as_model *model, int P, uint64_t checksum, int resume_epoch) {
    int n_train, n_val;
    as_fit_split_rows(data->train.n, spec->train.validation_split, &n_train, &n_val);
    printf("attnsweep train: %s: %d layers, %zu parameters; %d training and %d validation "
           "series of length %d (%s validation rows); %s; %s test split\n", o->spec_path,
           model->n_layers, model->n_params, n_train, n_val, data->train.t,
           as_val_mode_name(spec->train.validation_mode),
           data->task == AS_TASK_CLASSIFICATION ? "classification" : "regression",
           data->has_test ? "a" : "no");
    as_runtime_print(stdout, P);
    if (P > 1)
        printf("start weights: checksum %016llx identical on %d ranks\n",
               (unsigned long long)checksum, P);
    if (resume_epoch >= 0)
        printf("resuming from %s after epoch %d of %d\n", o->checkpoint, resume_epoch,
               spec->train.epochs);
}

/* A stop by signal (rank 0): where the state is and the command that resumes it. */
static void print_stopped(const train_opts *o, const as_history *hist, int epochs, int P) {
    printf("stopped by SIGTERM after epoch %d of %d", hist->epochs_run, epochs);
    if (o->checkpoint) {
        printf("; state saved in %s; resume with:\n", o->checkpoint);
        as_runtime_print_command(stdout, P, o->argc, o->argv, NULL);
    } else {
        printf(" (no --checkpoint: nothing to resume from)\n");
    }
}

/* After a finished fit: its outcome, the refit (train.refit), then rank 0 writes the
 * history and the weights (not after a divergence, nor after a stop during the refit).
 * Collective. */
static as_status finish(const train_opts *o, as_model *model, const as_dataset *data,
                        const as_spec *spec, const as_fit_opts *fo, int rank, int P,
                        as_history *hist, int *diverged, as_error *err) {
    if (hist->status == AS_RUN_DIVERGED) {
        *diverged = 1;
        if (rank == 0) fprintf(stderr, "attnsweep train: diverged: %s\n", hist->message);
    } else if (rank == 0 && !o->quiet) {
        print_outcome(hist);
    }
    int stopped = 0;
    as_status st = AS_OK;
    if (!*diverged && spec->train.refit &&
        ((st = refit(o, model, data, spec, fo, rank, hist, diverged, &stopped, err)) || stopped))
        return st;
    if (rank == 0 && P > 1 && !o->quiet)
        printf("data parallel: %d ranks, %.3f s waiting on gradient allreduce (rank 0)\n", P,
               hist->comm_wait_seconds);
    if (rank == 0 && o->history && (st = write_history_file(o->history, hist, err))) return st;
    if (rank == 0 && o->save_weights && !*diverged)
        st = as_weights_save_refit(o->save_weights, model, hist->refit_epochs, err);
    return st;
}

static as_status run(const train_opts *o, int rank, int P, int *diverged, as_error *err) {
    as_spec spec;
    as_dataset data;
    as_model model;
    as_history hist;
    memset(&data, 0, sizeof data);
    memset(&model, 0, sizeof model);
    memset(&hist, 0, sizeof hist);
    memset(&spec, 0, sizeof spec);
    as_fit_state resume;
    as_history prev;
    memset(&resume, 0, sizeof resume);
    memset(&prev, 0, sizeof prev);
    int resuming = 0;
    char spec_sha[65] = "", data_sha[65] = "";
    as_status st = as_spec_load(o->spec_path, &spec, err);
    if (P > 1) st = as_runtime_agree(st, rank, P, err); /* spec_threads is collective */
    if (!st) st = spec_threads(o, &spec, rank, P, err);
    if (!st && o->checkpoint) st = as_sha256_file(o->spec_path, spec_sha, err);
    if (!st) {
        if (o->epochs > 0) spec.train.epochs = (int)o->epochs;
        if (o->has_seed) spec.train.seed = o->seed;
        if (spec.train.keep == AS_KEEP_DEFAULT) spec.train.keep = AS_KEEP_LAST; /* Keras's fit */
        if ((st = as_dataset_load(spec.data, &data, err)))
            as_error_prefix(err, "%s: data", o->spec_path);
        if (!st && o->checkpoint) st = as_sha256_file(spec.data, data_sha, err);
    }
    if (!st && rank == 0) st = check_outputs(o, spec.data, err); /* agreed below */
    if (!st) st = as_fit_prepare(&model, &spec, &data, P, spec.train.seed, o->spec_path, err);
    int unrecorded = 0;
    st = load_shared(o, st, &model, &resume, &prev, spec_sha, data_sha, &spec, &resuming,
                     &unrecorded, err);
    if (!st && rank == 0 && unrecorded && resuming)
        fprintf(stderr, "attnsweep train: warning: %s records no dataset hash (written by an older "
                        "version): resuming without checking that %s is the dataset it was "
                        "trained on\n", o->checkpoint, spec.data);
    if (P > 1) st = as_runtime_agree(st, rank, P, err);
    if (st) goto done;
    uint64_t checksum = 0;
    if ((st = as_fit_check_same_weights(&model, P > 1 ? MPI_COMM_WORLD : MPI_COMM_NULL, &checksum,
                                        err)))
        goto done;
    int classification = data.task == AS_TASK_CLASSIFICATION;
    if (rank == 0 && !o->quiet)
        print_start(o, &spec, &data, &model, P, checksum, resuming ? resume.epoch : -1);
    epoch_ctx ctx = {rank, o->quiet, classification, o->checkpoint, spec_sha, data_sha,
                     spec.train.seed, &model};
    as_fit_opts fo = {.comm = P > 1 ? MPI_COMM_WORLD : MPI_COMM_NULL, .overlap = o->overlap,
                      .bucket_kb = (int)o->bucket_kb, .on_epoch = print_epoch, .ud = &ctx,
                      .resume = resuming ? &resume : NULL, .resume_history = resuming ? &prev : NULL,
                      .on_checkpoint = o->checkpoint ? save_checkpoint : NULL};
    if ((st = as_fit(&model, &data, &spec.train, &fo, &hist, err))) {
        if (st == AS_ERR_SPEC) as_error_prefix(err, "%s", o->spec_path);
        if (st == AS_ERR_DATA && resuming) as_error_prefix(err, "%s", o->checkpoint);
        goto done;
    }
    if (hist.status == AS_RUN_STOPPED) {
        if (rank == 0) print_stopped(o, &hist, spec.train.epochs, P);
        goto done; /* no final weights or history for an unfinished run */
    }
    st = finish(o, &model, &data, &spec, &fo, rank, P, &hist, diverged, err);
done:
    as_checkpoint_state_free(&resume);
    as_history_free(&prev);
    as_history_free(&hist);
    as_model_free(&model);
    as_dataset_free(&data);
    as_spec_free(&spec);
    return st;
}

int as_cmd_train(int argc, char **argv) {
    train_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
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
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    int diverged = 0;
    if (!st) st = run(&o, rank, P, &diverged, &err);
    int code = st ? as_status_exit_code(st) : (diverged ? 3 : 0);
    int worst = as_runtime_report("train", st, code, rank, &err);
    as_free(paths);
    as_hosts_free();
    MPI_Finalize();
    return worst;
}
