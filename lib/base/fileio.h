/*
 * Files from outside and files we write: opening only regular files (a
 * FIFO or a directory named by mistake must not hang or mislead a run),
 * and atomic writes.
 */
#ifndef PKIROLL_FILEIO_H
#define PKIROLL_FILEIO_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

/*
 * Opens path read-only if it is a regular file, without blocking on a FIFO
 * (O_NONBLOCK, then fstat). Returns the descriptor (blocking again), or -1
 * with err set: "PATH: is a directory", "PATH: is not a regular file (a
 * FIFO, socket or device)" or "PATH: <strerror>"; *enoent is set when the
 * file does not exist (may be NULL). *st gets the file's status (may be
 * NULL).
 */
int file_open_regular(const char *path, struct stat *st, int *enoent, char *err, size_t errlen);

/* The same as a stdio stream ("rb"); NULL with err set. */
FILE *file_fopen_regular(const char *path, int *enoent, char *err, size_t errlen);

/* The same, refusing a path whose last component is a symbolic link ("PATH:
 * is a symbolic link"): for files pkiroll wrote itself and hands on. */
FILE *file_fopen_regular_nofollow(const char *path, char *err, size_t errlen);

/*
 * Writes data to dir/name atomically with the given mode (temporary file in
 * dir, rename; the temporary is removed on every error), synced to disk
 * before the rename when durable is set. 0 or -1 with errno set.
 */
int file_atomic_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		      int durable);

/*
 * The first half of file_atomic_write(), for a caller that puts many files
 * in place together: writes data to a hidden temporary in dir
 * (".NAME.XXXXXX", mode; synced when durable is set) and names it in tmp.
 * The caller renames it over its name or removes it. 0, or -1 with errno
 * set and nothing left behind.
 */
int file_stage_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		     int durable, char *tmp, size_t tmplen);

/*
 * A file written as a stream and put in place atomically, for output too
 * large to build in memory first: file_atomic_open() makes a temporary
 * beside path (".NAME.XXXXXX" in its directory, so a collector reading
 * *.prom never sees it); file_atomic_commit() flushes, closes, sets mode
 * and renames it over path, or removes it when ok is 0 or any step failed.
 * Matched pairs: every open ends in one commit.
 */
struct file_atomic {
	FILE *f;
	char tmp[4096];
	char path[4096];
};
/* 0 (a->f open for writing), or -1 with errno set. */
int file_atomic_open(struct file_atomic *a, const char *path);
/* 0 when path now holds what was written, or -1 with errno set (the
 * temporary is gone either way). */
int file_atomic_commit(struct file_atomic *a, int ok, int mode);

/*
 * Makes dir ready for files: creates it (its last part, with mode) when it
 * is missing, then checks that it is a directory we can write in by making
 * and removing a file there. 0, or -1 with err set to one line that names
 * the path and the real reason: "DIR: cannot create it: PARENT does not
 * exist", "DIR: exists and is not a directory", "DIR: cannot write in it:
 * Read-only file system", ...
 */
int file_dir_ready(const char *dir, int mode, char *err, size_t errlen);

/* file_safe_name() flags, and the size its output needs */
#define FILE_SAFE_NAME_MAX 112
#define SAFE_NAME_PORTABLE 1 /* also safe on Windows */
#define SAFE_NAME_HASH 2     /* always add the hash (to part two names that differ in case) */

/*
 * The file name for a name from outside (a community, a partner), at most
 * 106 bytes: letters, digits, '-', '_' and '.' (not first) are kept, other
 * bytes become '_'. A name that had to change, or that looks like a
 * changed one (ends in "-" and 8 hex digits), gets "-" and 8 hex digits of
 * its SHA-256, so two names never share a file but by a 32-bit hash
 * collision, which the store refuses. With SAFE_NAME_PORTABLE, Windows
 * device names (CON, NUL, COM1, aux.txt ...), the names of a partner
 * bundle's own entries (ca, fingerprints.*, SHA256SUMS, README.*) and a
 * trailing '.' count as changes too (the first two get a '_' in front).
 * Names that differ only in case are the caller's to part, with
 * SAFE_NAME_HASH for all but the first.
 */
void file_safe_name(const char *name, int flags, char *out, size_t len);

#endif
