/*
 * One writer per store. The lock is the store's identity, not the path a
 * command was given: flock(2) on the database file itself (so a symlink,
 * a hard link or another spelling of the path meets the same lock), and
 * on "<resolved path>.lock", which names the holder's pid for the message.
 * SQLite's own locks are POSIX record locks, which flock does not touch;
 * the descriptor on the database is kept open until after the store is
 * closed, since closing a descriptor of a file drops the process's POSIX
 * locks on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

struct pkiroll_lock {
	int db_fd, pid_fd;
};

/* The database's resolved path (it exists by now): NULL on error. */
static char *resolved(const char *db)
{
	char *rp = realpath(db, NULL);

	return rp;
}

static void holder(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int pkiroll_store_lock(pkiroll_ctx *ctx, const char *db, pkiroll_lock **out)
{
	struct pkiroll_lock *l = calloc(1, sizeof(*l));
	char *rp = NULL, path[PATH_MAX + 8], buf[32] = "";
	int err = PKIROLL_ERR_IO;

	*out = NULL;
	if (l == NULL)
		return PKIROLL_ERR_NOMEM;
	l->db_fd = l->pid_fd = -1;
	/* Phase: the database file (made empty if new: SQLite takes that as a
	 * new database), and its identity. */
	if ((l->db_fd = open(db, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600)) < 0 ||
	    (rp = resolved(db)) == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "store %s: %s", db, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s.lock", rp);
	if ((l->pid_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600)) < 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* Phase: both locks, or neither. */
	if (flock(l->pid_fd, LOCK_EX | LOCK_NB) < 0 || flock(l->db_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: lock: %s", path, strerror(errno));
			goto fail;
		}
		holder(l->pid_fd, buf, sizeof(buf));
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"store %s is in use by another pkiroll run (pid %s); wait for it or stop "
			"it",
			db, buf[0] ? buf : "unknown");
		err = PKIROLL_ERR_LOCKED;
		goto fail;
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(l->pid_fd, 0) < 0 || pwrite(l->pid_fd, buf, strlen(buf), 0) < 0) {
		/* the lock holds without the pid; it only helps the message */
	}
	free(rp);
	*out = l;
	return PKIROLL_OK;
fail:
	free(rp);
	pkiroll_store_unlock(l);
	return err;
}

void pkiroll_store_unlock(pkiroll_lock *l)
{
	if (l == NULL)
		return;
	if (l->pid_fd >= 0)
		close(l->pid_fd);
	if (l->db_fd >= 0)
		close(l->db_fd);
	free(l);
}
