/*
 * A worker process: one job at a time (an enrollment: keygen -> ir -> ip ->
 * verify/decrypt -> keystore -> certConf; a renewal; a revocation),
 * reporting each step to the parent and waiting until it is recorded.
 * Workers never touch the store; the run's constants came with the fork
 * (struct job_run). This loop calls the jobs; the jobs call the kit
 * (worker.c), never the loop.
 */
#include <stdlib.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "enroll/job.h"
#include "enroll/wire.h"
#include "enroll/worker.h"

/* The job kinds (enum job_kind); job_read() refuses any other. */
static void (*const jobs[JOB__MAX])(struct worker *w) = {
	[JOB_ENROLL] = enroll_job_run,
	[JOB_RENEW] = renew_job_run,
	[JOB_REVOKE] = revoke_job_run,
};

void enroll_worker_main(int fd, void *arg)
{
	struct wbuf msg = {0};
	const struct job_run *run = arg;
	struct job *j = malloc(sizeof(*j));
	int type;

	if (j == NULL)
		_exit(2);
	for (;;) {
		int r = wire_read(fd, &type, &msg);

		if (r <= 0 || type == WIRE_STOP)
			break;
		if (type != WIRE_JOB || job_read(&msg, j) < 0)
			_exit(3); /* a malformed frame is a bug */
		wbuf_free(&msg);
		if (j->profile < 0 || j->profile >= run->nprofiles || jobs[j->kind] == NULL)
			_exit(3);
		{
			struct worker w = {.fd = fd, .run = run, .job = j};

			jobs[j->kind](&w);
		}
		OPENSSL_cleanse(j, sizeof(*j));
	}
	wbuf_free(&msg);
	free(j);
}
