/*
 * Worker processes: spawn, feed, watch, replace.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enroll/pool.h"

struct worker {
	pid_t pid;
	int fd;
	int busy;
	long long job;
};

struct pool {
	int n;
	struct worker *w;
	pool_worker_fn *fn;
	void *arg;
};

/* One worker: a socketpair and a fork. The child never returns. */
static int spawn(struct pool *p, struct worker *w)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* the parent decides when to stop; a Ctrl-C to the group must not */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		close(sv[0]);
		for (int i = 0; i < p->n; i++)
			if (p->w[i].fd >= 0)
				close(p->w[i].fd);
		p->fn(sv[1], p->arg);
		_exit(0);
	}
	close(sv[1]);
	w->pid = pid;
	w->fd = sv[0];
	w->busy = 0;
	w->job = 0;
	return 0;
}

struct pool *pool_new(int n, pool_worker_fn *fn, void *arg)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->w = calloc((size_t)n, sizeof(*p->w))) == NULL) {
		free(p);
		return NULL;
	}
	p->n = n;
	p->fn = fn;
	p->arg = arg;
	for (int i = 0; i < n; i++)
		p->w[i].fd = -1;
	for (int i = 0; i < n; i++)
		if (spawn(p, &p->w[i]) < 0) {
			pool_free(p);
			return NULL;
		}
	return p;
}

int pool_busy(const struct pool *p)
{
	int n = 0;

	for (int i = 0; i < p->n; i++)
		n += p->w[i].busy;
	return n;
}

/* A worker went away: reap it, report its job, start a new one. */
static int lost(struct pool *p, struct worker *w, const struct pool_ops *ops, void *arg,
		int respawn)
{
	int status = 0;

	close(w->fd);
	w->fd = -1;
	if (w->pid > 0)
		waitpid(w->pid, &status, 0);
	w->pid = 0;
	if (w->busy && ops->on_death != NULL)
		ops->on_death(arg, w->job, status);
	w->busy = 0;
	return respawn ? spawn(p, w) : 0;
}

int pool_run(struct pool *p, const struct pool_ops *ops, void *arg)
{
	struct pollfd *pfd = calloc((size_t)p->n, sizeof(*pfd));
	struct wbuf msg = {0};
	int more = 1, stopping = 0, rc = 0;

	if (pfd == NULL)
		return -1;
	for (;;) {
		int t = ops->tick ? ops->tick(arg) : 0;

		if (t == 2) {
			/* abort: kill what runs, report each job as lost */
			for (int i = 0; i < p->n; i++)
				if (p->w[i].busy && p->w[i].pid > 0) {
					kill(p->w[i].pid, SIGKILL);
					lost(p, &p->w[i], ops, arg, 0);
				}
			break;
		}
		if (t == 1)
			stopping = 1;

		/* Phase: hand out jobs to idle workers. */
		for (int i = 0; more && !stopping && i < p->n; i++) {
			struct worker *w = &p->w[i];
			long long id;
			int r;

			if (w->busy || w->fd < 0)
				continue;
			r = ops->next_job(arg, &msg, &id);
			if (r < 0) {
				more = 0;
				break;
			}
			if (r == 0)
				break;
			w->busy = 1;
			w->job = id;
			if (wire_write(w->fd, WIRE_JOB, &msg) <= 0 && lost(p, w, ops, arg, 1) < 0) {
				rc = -1;
				goto out;
			}
			wbuf_free(&msg);
		}
		wbuf_free(&msg);
		if ((!more || stopping) && pool_busy(p) == 0)
			break;

		/* Phase: wait for steps and results. */
		for (int i = 0; i < p->n; i++) {
			pfd[i].fd = p->w[i].busy ? p->w[i].fd : -1;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)p->n, 200) < 0 && errno != EINTR) {
			rc = -1;
			goto out;
		}
		for (int i = 0; i < p->n; i++) {
			struct worker *w = &p->w[i];
			int type, r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = wire_read(w->fd, &type, &msg);
			if (r <= 0) {
				if (lost(p, w, ops, arg, 1) < 0) {
					rc = -1;
					goto out;
				}
				more = 1; /* its job may be retried */
				continue;
			}
			if (type == WIRE_STEP) {
				struct wbuf ack = {0};

				if (ops->on_step(arg, w->job, &msg, &ack) < 0) {
					wbuf_free(&ack);
					rc = -1;
					goto out;
				}
				r = wire_write(w->fd, WIRE_ACK, ack.len ? &ack : NULL);
				wbuf_free(&ack);
				if (r <= 0 && lost(p, w, ops, arg, 1) < 0) {
					rc = -1;
					goto out;
				}
			} else if (type == WIRE_RESULT) {
				w->busy = 0;
				if (ops->on_result(arg, w->job, &msg) < 0) {
					rc = -1;
					goto out;
				}
				/* a result may queue a retry: ask for jobs again */
				more = 1;
			} else {
				/* a worker sending anything else is a bug */
				kill(w->pid, SIGKILL);
				if (lost(p, w, ops, arg, 1) < 0) {
					rc = -1;
					goto out;
				}
			}
			wbuf_free(&msg);
		}
	}
out:
	wbuf_free(&msg);
	free(pfd);
	return rc;
}

void pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->n; i++)
		if (p->w[i].fd >= 0)
			wire_write(p->w[i].fd, WIRE_STOP, NULL);
	for (int i = 0; i < p->n; i++) {
		struct timespec ts = {0, 20 * 1000000L};
		int tries = 0;

		if (p->w[i].pid <= 0)
			continue;
		while (waitpid(p->w[i].pid, NULL, WNOHANG) == 0) {
			if (++tries > 250) { /* 5 s */
				kill(p->w[i].pid, SIGKILL);
				waitpid(p->w[i].pid, NULL, 0);
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (p->w[i].fd >= 0)
			close(p->w[i].fd);
	}
	free(p->w);
	free(p);
}
