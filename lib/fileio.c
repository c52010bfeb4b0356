/*
 * Opening files from outside safely, and atomic writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

int file_open_regular(const char *path, struct stat *stp, int *enoent, char *err, size_t errlen)
{
	struct stat st;
	int fd, fl;

	if (enoent != NULL)
		*enoent = 0;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (enoent != NULL)
			*enoent = errno == ENOENT;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path,
			 S_ISDIR(st.st_mode) ? "is a directory"
					     : "is not a regular file (a FIFO, socket or device)");
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto fail;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (stp != NULL)
		*stp = st;
	return fd;
fail:
	fl = errno;
	close(fd);
	errno = fl;
	return -1;
}

FILE *file_fopen_regular(const char *path, int *enoent, char *err, size_t errlen)
{
	int fd = file_open_regular(path, NULL, enoent, err, errlen);
	FILE *f;

	if (fd < 0)
		return NULL;
	if ((f = fdopen(fd, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

int atomic_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		 int durable)
{
	char tmp[4096], path[4096];
	const unsigned char *p = data;
	int fd, saved;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	if ((fd = mkstemp(tmp)) < 0)
		return -1;
	if (fchmod(fd, (mode_t)mode) < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if ((durable && fsync(fd) < 0) || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

