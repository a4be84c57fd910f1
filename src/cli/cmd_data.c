/* cmd_data.c: `attnsweep data toy | ucr | info`. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnsweep/dataset.h"
#include "attnsweep/toy.h"
#include "attnsweep/ucr.h"
#include "cli/args.h"
#include "cli/cluster.h"
#include "cli/commands.h"

static const char *usage_text =
    "usage:\n"
    "  attnsweep data toy [--seed S] [--samples N] [--test-samples M] [--noise F] -o FILE.h5\n"
    "      the notebook's toy seq2seq task, drawn exactly as numpy's legacy RandomState\n"
    "      (np.random.seed(S); gen_data(N); gen_data(M)); defaults S=0 (0..2^32-1),\n"
    "      N=1000, M=10 (0: no /test), F=0.1\n"
    "  attnsweep data ucr --train A_TRAIN.tsv [--test A_TEST.tsv] [--merge-shuffle]\n"
    "                     [--seed S] [--znorm] [--fill interpolate|zero]\n"
    "                     [--length pad [N]|truncate [N]|resample N] -o FILE.h5\n"
    "      import UCR/UEA text files (tab, comma or whitespace separated, label first);\n"
    "      --merge-shuffle merges train and test rows, shuffles them with the project RNG\n"
    "      seeded with S (default 0) and writes them all to /train; --znorm z-normalises\n"
    "      each series; --fill fills missing values (NaN, empty fields): linear\n"
    "      interpolation (nearest value at the ends) or zeros; --length makes series of\n"
    "      different lengths (rows padded with NaN at the end) one length: zeros at the\n"
    "      end up to N (default the longest), the first N values (default the shortest),\n"
    "      or linear resampling to N points; without them both are refused\n"
    "  attnsweep data info FILE.h5\n"
    "      task, shapes, class counts or value ranges, NaN/Inf counts, attributes; exits 2\n"
    "      (after the description) when the loader rejects the file\n"
    "exit status: 0 ok, 2 bad input (flags, files), 1 other failures\n";

static int bad_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_arg(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "attnsweep data: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'attnsweep data --help')\n");
    va_end(ap);
    return 2;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (!s || !*s || *s == '-') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return 0;
    *out = v;
    return 1;
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static int is_one_of(const char *a, const char *const *names) {
    for (; *names; names++)
        if (!strcmp(a, *names)) return 1;
    return 0;
}

static int fail(const as_error *e) {
    fprintf(stderr, "attnsweep data: %s\n", e->msg);
    return as_status_exit_code(e->code);
}

static int cmd_toy(int argc, char **argv) {
    as_toy_params p = as_toy_defaults();
    const char *out = NULL;
    static const char *const opts[] = {"-o", "--seed", "--samples", "--test-samples", "--noise", NULL};
    for (int i = 1; i < argc; i++) { /* every option takes a value */
        const char *a = argv[i], *v;
        uint64_t u;
        if (is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!is_one_of(a, opts)) return bad_arg("toy: unknown option '%s'", a);
        if (!(v = as_arg_value("data toy", argc, argv, &i))) return 2;
        if (!strcmp(a, "-o")) {
            out = v;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_u64(v, UINT32_MAX, &u))
                return bad_arg("--seed must be an integer in 0..4294967295 (2^32-1), got '%s'", v);
            p.seed = (uint32_t)u;
        } else if (!strcmp(a, "--samples")) {
            if (!parse_u64(v, 100000000, &u) || u < 1)
                return bad_arg("--samples must be an integer in 1..100000000, got '%s'", v);
            p.samples = (int)u;
        } else if (!strcmp(a, "--test-samples")) {
            if (!parse_u64(v, 100000000, &u))
                return bad_arg("--test-samples must be an integer in 0..100000000, got '%s'", v);
            p.test_samples = (int)u;
        } else { /* --noise */
            char *end = NULL;
            /* decimal only, as data ucr reads its values (strtod also takes 0x10, inf, nan) */
            p.noise = v[strspn(v, "0123456789+-.eE")] ? -1.0 : strtod(v, &end);
            if (p.noise < 0.0 || *end || !*v || !(p.noise >= 0.0) || p.noise > 1e30)
                return bad_arg("--noise must be a decimal number in 0..1e30, got '%s'", v);
        }
    }
    if (!out) return bad_arg("%s", "toy: -o FILE.h5 is required");
    as_error e;
    as_error_clear(&e);
    if (as_output_check("-o", out, NULL, 0, &e) || as_cluster_check_output("-o", out, &e) ||
        as_toy_write(&p, out, &e) != AS_OK)
        return fail(&e);
    printf("wrote %s: toy regression, seed %u, %d train + %d test series of length %d, noise %g\n",
           out, p.seed, p.samples, p.test_samples, AS_TOY_LENGTH, p.noise);
    return 0;
}

/* --length MODE [N]: pad and truncate take an optional N, resample needs one. Returns
 * how many arguments after MODE it used (0 or 1), or -1 after printing the error. */
static int parse_length(as_ucr_options *o, const char *mode, const char *n) {
    if (!strcmp(mode, "pad")) o->length = AS_LENGTH_PAD;
    else if (!strcmp(mode, "truncate")) o->length = AS_LENGTH_TRUNCATE;
    else if (!strcmp(mode, "resample")) o->length = AS_LENGTH_RESAMPLE;
    else {
        bad_arg("ucr: --length must be pad, truncate or resample, got '%s'", mode);
        return -1;
    }
    uint64_t v;
    int is_n = n && n[0] != '-' && parse_u64(n, 1 << 24, &v);
    if (is_n && v < 1) is_n = 0;
    if (o->length == AS_LENGTH_RESAMPLE && !is_n) {
        bad_arg("ucr: --length resample N needs a length N in 1..16777216, got '%s'", n ? n : "");
        return -1;
    }
    if (n && !is_n && n[0] != '-') {
        bad_arg("ucr: --length %s N: N must be a length in 1..16777216, got '%s'", mode, n);
        return -1;
    }
    o->length_n = is_n ? (int)v : 0;
    return is_n;
}

static int cmd_ucr(int argc, char **argv) {
    as_ucr_options o = {0};
    const char *out = NULL;
    int seed_given = 0;
    static const char *const opts[] = {"-o", "--train", "--test", "--seed", "--fill", "--length", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (is_help(a)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--merge-shuffle")) {
            o.merge_shuffle = 1;
            continue;
        } else if (!strcmp(a, "--znorm")) {
            o.znorm = 1;
            continue;
        }
        if (!is_one_of(a, opts)) return bad_arg("ucr: unknown option '%s'", a);
        if (!(v = as_arg_value("data ucr", argc, argv, &i))) return 2;
        if (!strcmp(a, "-o")) {
            out = v;
        } else if (!strcmp(a, "--train")) {
            o.train_path = v;
        } else if (!strcmp(a, "--test")) {
            o.test_path = v;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_u64(v, UINT64_MAX, &o.seed))
                return bad_arg("--seed must be an integer in 0..18446744073709551615 (2^64-1), "
                               "got '%s'", v);
            seed_given = 1;
        } else if (!strcmp(a, "--fill")) {
            if (!strcmp(v, "interpolate")) o.fill = AS_FILL_INTERPOLATE;
            else if (!strcmp(v, "zero")) o.fill = AS_FILL_ZERO;
            else return bad_arg("ucr: --fill must be interpolate or zero, got '%s'", v);
        } else { /* --length MODE [N] */
            int used = parse_length(&o, v, i + 1 < argc ? argv[i + 1] : NULL);
            if (used < 0) return 2;
            i += used;
        }
    }
    if (!o.train_path) return bad_arg("%s", "ucr: --train FILE is required");
    if (seed_given && !o.merge_shuffle)
        return bad_arg("%s", "ucr: --seed only applies with --merge-shuffle (rows keep the files' order)");
    if (!out) return bad_arg("%s", "ucr: -o FILE.h5 is required");
    as_error e;
    as_error_clear(&e);
    const char *inputs[] = {o.train_path, o.test_path};
    if (as_output_check("-o", out, inputs, 2, &e) || as_cluster_check_output("-o", out, &e) ||
        as_ucr_write(&o, out, stdout, &e) != AS_OK)
        return fail(&e);
    printf("wrote %s\n", out);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (path) return bad_arg("info: one file only, extra '%s'", argv[i]);
        path = argv[i];
    }
    if (!path) return bad_arg("%s", "info: FILE.h5 is required");
    as_error e;
    as_error_clear(&e);
    as_status st = as_dataset_info(path, stdout, &e);
    fflush(stdout);
    if (st != AS_OK) return fail(&e);
    return 0;
}

int as_cmd_data(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (is_help(sub)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(sub, "toy")) return cmd_toy(argc - 1, argv + 1);
    if (!strcmp(sub, "ucr")) return cmd_ucr(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return cmd_info(argc - 1, argv + 1);
    return bad_arg("unknown subcommand '%s' (toy, ucr, info)", sub);
}
