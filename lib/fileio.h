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

/*
 * Writes data to dir/name atomically with the given mode (temporary file in
 * dir, rename; the temporary is removed on every error), synced to disk
 * before the rename when durable is set. 0 or -1 with errno set.
 */
int atomic_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		 int durable);

#endif
