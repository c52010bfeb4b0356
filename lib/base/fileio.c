/*
 * Opening files from outside safely, and atomic writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/fileio.h"

static int open_regular(const char *path, int flags, struct stat *stp, int *enoent, char *err,
			size_t errlen)
{
	struct stat st;
	int fd, fl;

	if (enoent != NULL)
		*enoent = 0;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | flags)) < 0) {
		struct stat ln;
		int e = errno;

		if (enoent != NULL)
			*enoent = e == ENOENT;

		/* ELOOP under O_NOFOLLOW: the last component is a link, or a
		 * directory above it loops */
		snprintf(err, errlen, "%s: %s", path,
			 e == ELOOP && (flags & O_NOFOLLOW) && lstat(path, &ln) == 0 &&
					 S_ISLNK(ln.st_mode)
				 ? "is a symbolic link"
				 : strerror(e));
		errno = e;
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

int file_open_regular(const char *path, struct stat *stp, int *enoent, char *err, size_t errlen)
{
	return open_regular(path, 0, stp, enoent, err, errlen);
}

/* fd as a stdio stream ("rb"), closed on failure; NULL with err set. */
static FILE *stream_rb(int fd, const char *path, char *err, size_t errlen)
{
	FILE *f;

	if (fd < 0)
		return NULL;
	if ((f = fdopen(fd, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

FILE *file_fopen_regular_nofollow(const char *path, char *err, size_t errlen)
{
	return stream_rb(open_regular(path, O_NOFOLLOW, NULL, NULL, err, errlen), path, err,
			 errlen);
}

FILE *file_fopen_regular(const char *path, int *enoent, char *err, size_t errlen)
{
	return stream_rb(file_open_regular(path, NULL, enoent, err, errlen), path, err, errlen);
}

int file_stage_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		     int durable, char *tmp, size_t tmplen)
{
	const unsigned char *p = data;
	int fd, saved;
	size_t off = 0;

	if (snprintf(tmp, tmplen, "%s/.%s.XXXXXX", dir, name) >= (int)tmplen) {
		errno = ENAMETOOLONG;
		return -1;
	}
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
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int file_atomic_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		      int durable)
{
	char tmp[4096], path[4096];
	int saved;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (file_stage_write(dir, name, data, len, mode, durable, tmp, sizeof(tmp)) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

int file_atomic_open(struct file_atomic *a, const char *path)
{
	const char *slash = strrchr(path, '/');
	int n, fd;

	a->f = NULL;
	if (slash == NULL)
		n = snprintf(a->tmp, sizeof(a->tmp), ".%s.XXXXXX", path);
	else
		n = snprintf(a->tmp, sizeof(a->tmp), "%.*s/.%s.XXXXXX", (int)(slash - path), path,
			     slash + 1);
	if (n < 0 || n >= (int)sizeof(a->tmp) ||
	    snprintf(a->path, sizeof(a->path), "%s", path) >= (int)sizeof(a->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(a->tmp)) < 0)
		return -1;
	if ((a->f = fdopen(fd, "w")) == NULL) {
		n = errno;
		close(fd);
		unlink(a->tmp);
		errno = n;
		return -1;
	}
	return 0;
}

int file_atomic_commit(struct file_atomic *a, int ok, int mode)
{
	int saved = 0;

	if (a->f == NULL)
		return -1;
	if (!ok)
		saved = EIO;
	else if (fflush(a->f) != 0 || ferror(a->f) || fchmod(fileno(a->f), (mode_t)mode) < 0)
		saved = errno ? errno : EIO;
	if (fclose(a->f) != 0 && saved == 0)
		saved = errno;
	a->f = NULL;
	if (saved == 0 && rename(a->tmp, a->path) < 0)
		saved = errno;
	if (saved != 0) {
		unlink(a->tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/* Does s end in "-" and 8 lower-case hex digits, as a changed name does? */
static int looks_changed(const char *s, size_t n)
{
	if (n < 9 || s[n - 9] != '-')
		return 0;
	for (size_t i = n - 8; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Is the part of s before its first '.' one that Windows or a bundle
 * reserves (any case)? */
static int reserved(const char *s)
{
	static const char *const names[] = {"con", "prn",	   "aux",	 "nul",
					    "ca",  "fingerprints", "sha256sums", "readme"};
	size_t n = strcspn(s, ".");
	char base[16];

	if (n >= sizeof(base))
		return 0;
	for (size_t i = 0; i < n; i++)
		base[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	base[n] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(base, names[i]) == 0)
			return 1;
	/* COM1-COM9, LPT1-LPT9 */
	return n == 4 && (strncmp(base, "com", 3) == 0 || strncmp(base, "lpt", 3) == 0) &&
	       base[3] >= '1' && base[3] <= '9';
}

void file_safe_name(const char *name, int flags, char *out, size_t len)
{
	unsigned char md[32];
	const char *s = name;
	size_t n = 0, in = strlen(name);
	int changed = 0, portable = flags & SAFE_NAME_PORTABLE;

	if (len < 12) {
		if (len > 0)
			out[0] = '\0';
		return;
	}
	/* Phase: the characters. */
	if (portable && reserved(name)) {
		out[n++] = '_';
		changed = 1;
	}
	for (; *s != '\0' && n + 10 < len && n < 97; s++) {
		unsigned char c = (unsigned char)*s;
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			 (c >= 'A' && c <= 'Z') || (c == '.' && n > 0);

		out[n++] = ok ? (char)c : '_';
		changed |= !ok;
	}
	out[n] = '\0';
	changed |= *s != '\0'; /* cut short */
	if (portable && n > 0 && out[n - 1] == '.') {
		out[n - 1] = '_';
		changed = 1;
	}
	changed |= looks_changed(out, n) || (flags & SAFE_NAME_HASH);
	/* Phase: a name that had to change gets a hash of what it was. */
	if (changed && EVP_Digest(name, in, md, NULL, EVP_sha256(), NULL))
		snprintf(out + n, len - n, "-%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

/* The directory part of path ("." when it has none), into out. */
static void parent_of(const char *path, char *out, size_t n)
{
	size_t len = strlen(path);

	while (len > 1 && path[len - 1] == '/')
		len--; /* "a/b/" is "a/b" */
	while (len > 0 && path[len - 1] != '/')
		len--;
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0)
		snprintf(out, n, ".");
	else
		snprintf(out, n, "%.*s", (int)len, path);
}

int file_dir_ready(const char *dir, int mode, char *err, size_t errlen)
{
	char parent[4096], probe[4200];
	struct stat st;
	int fd, e;

	/* Phase: there, and a directory. */
	if (mkdir(dir, (mode_t)mode) < 0 && errno != EEXIST) {
		e = errno;
		parent_of(dir, parent, sizeof(parent));
		if (e == ENOENT && stat(parent, &st) < 0 && errno == ENOENT)
			snprintf(err, errlen, "%s: cannot create it: %s does not exist", dir,
				 parent);
		else if (e == ENOTDIR && stat(parent, &st) == 0 && !S_ISDIR(st.st_mode))
			snprintf(err, errlen, "%s: cannot create it: %s is not a directory", dir,
				 parent);
		else if (e == ENOTDIR)
			snprintf(err, errlen,
				 "%s: cannot create it: a part of %s is not a directory", dir,
				 parent);
		else
			snprintf(err, errlen, "%s: cannot create it: %s", dir, strerror(e));
		return -1;
	}
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a directory", dir);
		return -1;
	}
	/* Phase: writable, as the kernel sees it (root, read-only mounts, ACLs). */
	snprintf(probe, sizeof(probe), "%s/.pkiroll-probe.XXXXXX", dir);
	if ((fd = mkstemp(probe)) < 0) {
		snprintf(err, errlen, "%s: cannot write in it: %s", dir, strerror(errno));
		return -1;
	}
	close(fd);
	unlink(probe);
	return 0;
}
