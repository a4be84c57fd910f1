/* h5util.h: small HDF5 helpers shared by the writers and readers of the project.
 *
 * Atomic writes: as_h5_writer_open creates PATH.tmp.<pid> (truncating), the caller
 * writes into w.file, then as_h5_writer_commit closes it and renames it onto PATH;
 * as_h5_writer_abort closes and removes the temporary. Readers therefore never see a
 * half-written file, and a failed write leaves nothing at PATH.
 *
 * Every function that takes an as_error names the HDF5 object in its message;
 * callers usually prefix the file name. All hid_t handles returned are owned by the
 * caller (close them with H5Gclose/H5Fclose). Strings are written as variable-length
 * UTF-8 scalar attributes; the readers accept fixed-length strings too, and integer
 * attributes of any integer type.
 */
#ifndef ATTNSWEEP_H5UTIL_H
#define ATTNSWEEP_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "attnsweep/status.h"

/* Turns off HDF5's automatic error-stack printing (idempotent). */
void as_h5_quiet(void);

typedef struct {
    hid_t file;  /* the open in-memory file, or -1 */
    char *path;  /* final path (owned) */
    char *tmp;   /* unused (NULL) */
} as_h5_writer;

/* An empty HDF5 file in memory (close degree strong). -1 and AS_ERR_NOMEM on failure.
 * (The 1.8+ object formats are not used: HDF5 1.10's file image of a version-2
 * superblock carries a stale checksum.) */
hid_t as_h5_mem_create(as_error *err);
/* Serialises f, closes it (always) and stores it at path with as_write_file_durable. */
as_status as_h5_mem_commit(hid_t f, const char *path, const char *crash_tag, int sync, as_error *err);
/* Stores n bytes at path atomically and durably (see above). crash_tag (may be NULL)
 * names the test-hook points "<tag>-temp-written" and "<tag>-before-rename". sync 0
 * skips the fsyncs (the caller syncs later, e.g. a batch of journal files): the file is
 * still whole or absent after a process kill, only a power loss can lose it. */
as_status as_write_file_durable(const char *path, const void *buf, size_t n, const char *crash_tag,
                                int sync, as_error *err);
/* Test hooks (documented in README.md): with ATTNSWEEP_TEST_CRASH=NAME or NAME:N in the
 * environment, the N-th call (default 1) with this name raises SIGKILL;
 * ATTNSWEEP_TEST_STOP the same with SIGSTOP (the process waits for SIGCONT). */
void as_h5_crash_point(const char *name);
/* ATTNSWEEP_TEST_HOLD=NAME[:N]: the N-th call with this name waits (polling every 10 ms, at
 * most 600 s) until *flag, registered here, is non-zero: e.g. a sweep holds after its N-th
 * stored run until a stop signal has arrived, whatever the speed of the machine. flag is
 * not owned; NULL (the default) makes a hold wait the whole 600 s. */
void as_h5_hold_release_on(volatile int *flag);

/* Creates the temporary file. On error w->file is -1 and nothing needs freeing. */
as_status as_h5_writer_open(as_h5_writer *w, const char *path, as_error *err);
/* The same for a file whose root group may hold an attribute larger than an object
 * header message (64 KiB, e.g. 16,370 or more int labels): the root group tracks its
 * attributes' creation order, which gives it a version-2 object header (the superblock
 * stays version 0), so HDF5 stores such an attribute densely (fractal heap). HDF5 >= 1.8
 * and h5py read it as any attribute. */
as_status as_h5_writer_open_dense(as_h5_writer *w, const char *path, as_error *err);
/* Closes and renames into place; on failure removes the temporary. Always frees w. */
as_status as_h5_writer_commit(as_h5_writer *w, as_error *err);
/* Closes and removes the temporary; frees w. Safe on a failed or committed writer. */
void as_h5_writer_abort(as_h5_writer *w);

/* Opens an existing file read-only (HDF5 file locking off, so every MPI rank may open
 * it at once; attnsweep's writers never change a file in place, see above). A file
 * another process holds open for writing (an exclusive flock, as HDF5 writers take) is
 * refused: "PATH: another process has it open for writing ...". Returns -1 and sets err
 * (AS_ERR_DATA) with "PATH: no such file", "PATH: cannot open (REASON)" (e.g. a
 * symlink loop) or "PATH: not an HDF5 file". */
hid_t as_h5_open_read(const char *path, as_error *err);

/* A file's bytes standing in for it: while set, as_h5_open_read(path) opens this
 * in-memory image (HDF5's core driver) instead of the file system, so a file one MPI
 * rank read and broadcast opens the same on every rank. One image at a time; buf must
 * stay valid until as_h5_image_clear. AS_ERR_NOMEM. */
as_status as_h5_image_set(const char *path, const void *buf, size_t n, as_error *err);
void as_h5_image_clear(void);
/* 1 when path is the file the current image stands for. */
int as_h5_image_covers(const char *path);

/* A new creation property list of class cls (H5P_DATASET_CREATE, H5P_GROUP_CREATE,
 * H5P_FILE_CREATE) that records no object times: every attnsweep writer creates its
 * datasets and groups with one, so writing the same content twice gives the same bytes
 * (HDF5 otherwise stamps each object header with its creation time). Close with H5Pclose. */
hid_t as_h5_create_plist(hid_t cls);

/* Creates group `name` under loc (intermediate groups too); -1 on error. */
hid_t as_h5_group(hid_t loc, const char *name, as_error *err);

/* Writes a dataset of rank dims under loc (name may contain '/': intermediate groups
 * are created). data holds prod(dims) values. */
as_status as_h5_write_float(hid_t loc, const char *name, int rank, const hsize_t *dims,
                            const float *data, as_error *err);
as_status as_h5_write_int(hid_t loc, const char *name, int rank, const hsize_t *dims,
                          const int *data, as_error *err);
as_status as_h5_write_double(hid_t loc, const char *name, int rank, const hsize_t *dims,
                             const double *data, as_error *err);

/* The general form: file type ftype, memory type mtype; compress: datasets of 2 KiB or
 * more are chunked (at most ~1 MiB a chunk) with HDF5's shuffle and deflate filters. */
as_status as_h5_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                      const hsize_t *dims, const void *data, int compress, as_error *err);

/* Attributes on obj (a file, group or dataset); an existing attribute is replaced. */
as_status as_h5_attr_string(hid_t obj, const char *name, const char *value, as_error *err);
as_status as_h5_attr_int(hid_t obj, const char *name, int64_t value, as_error *err); /* int64 */
as_status as_h5_attr_int32(hid_t obj, const char *name, int value, as_error *err);
as_status as_h5_attr_ints(hid_t obj, const char *name, const int *v, size_t n, as_error *err);
as_status as_h5_attr_double(hid_t obj, const char *name, double value, as_error *err);

/* Checks that the values a dataset declares are in the file: without filters its
 * stored bytes must hold them all (a chunked dataset whose chunks were never written
 * reads as fill values: a 7 KB file could declare gigabytes); with deflate (and
 * shuffle, fletcher32) at most 1100 declared bytes per stored byte. AS_ERR_DATA
 * "PATH: NAME: declares N values (B bytes) but the file stores only S bytes of them". */
as_status as_h5_check_storage(hid_t ds, const char *path, const char *name, as_error *err);

/* Reads a scalar attribute. Missing attribute or wrong class: AS_ERR_DATA naming it.
 * as_h5_read_attr_string returns an as_malloc'ed string in *out (caller as_free's). */
int as_h5_has_attr(hid_t obj, const char *name);
as_status as_h5_read_attr_string(hid_t obj, const char *name, char **out, as_error *err);
as_status as_h5_read_attr_int(hid_t obj, const char *name, int64_t *out, as_error *err);
as_status as_h5_read_attr_double(hid_t obj, const char *name, double *out, as_error *err);

#endif
