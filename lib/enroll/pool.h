/*
 * Forked worker processes and the one poll loop that feeds them jobs and
 * takes their steps and results. The pool knows jobs and results, not SQL:
 * the caller's callbacks do the rest. Work is never lost silently: a job
 * whose worker dies goes to on_death, and the worker is replaced.
 */
#ifndef PKIROLL_POOL_H
#define PKIROLL_POOL_H

#include <sys/types.h>

#include "enroll/wire.h"

/* The worker's main loop: read JOB frames from fd until STOP/EOF. */
typedef void pool_worker_fn(int fd, void *arg);

struct pool_ops {
	/* Next job: 1 with *job and *id set, 0 none right now, -1 never again. */
	int (*next_job)(void *arg, struct wbuf *job, long long *id);
	/* A step of job id; the worker waits until this returns, then gets the
	 * ACK with the body on_step put in ack (may stay empty). 0 or -1 (fatal). */
	int (*on_step)(void *arg, long long id, struct wbuf *msg, struct wbuf *ack);
	/* The result of job id. 0 or -1 (fatal). */
	int (*on_result)(void *arg, long long id, struct wbuf *msg);
	/* The worker of job id died; status as from waitpid(). */
	void (*on_death)(void *arg, long long id, int status);
	/* Called about every 200 ms. Returns 1 to stop taking jobs, 2 to abort now. */
	int (*tick)(void *arg);
};

struct pool;

/* Forks n workers running fn. Call before opening the store. NULL on error. */
struct pool *pool_new(int n, pool_worker_fn *fn, void *arg);

/*
 * Runs until next_job says never and nothing is in flight, or tick says
 * stop (then in-flight jobs finish) or abort (workers are killed and their
 * jobs go to on_death). Returns 0, or -1 on a fatal error.
 */
int pool_run(struct pool *p, const struct pool_ops *ops, void *arg);

/* Jobs in flight. */
int pool_busy(const struct pool *p);

/* Stops the workers (STOP, then SIGKILL after a grace period) and frees p. */
void pool_free(struct pool *p);

#endif
