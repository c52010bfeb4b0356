/*
 * A worker process's parts: the kit the job kinds share (worker.c: the
 * step reports, the CMP set-up from the CA profile, and the result), the
 * job kinds (enroll_job.c, renew_job.c, revoke_job.c) and the loop that
 * runs them (worker_main.c). Jobs call the kit, the loop calls the jobs.
 * Private to lib/enroll.
 */
#ifndef PKIROLL_ENROLL_WORKER_H
#define PKIROLL_ENROLL_WORKER_H

#include "cmp/cmp_client.h"
#include "enroll/job.h"

struct worker {
	int fd;
	const struct job_run *run;
	struct job *job;
	struct cmp_tx *tx;
	int rejecting; /* a certConf that rejects is no step to resume at */
	/* the CMP set-up from the job's CA profile */
	struct cmp_client_cfg cc;
	X509_NAME *recipient;
	STACK_OF(X509) * anchors; /* the profile's trust_anchor, NULL none */
	X509_STORE *trust;	  /* what cc.trust points to, owned */
};

/* Sends a STEP and waits until the parent has recorded it. */
int worker_report_step(struct worker *w, int step, const char *kspath);

/* cmp_step_fn: the transaction's steps become the store's. */
int worker_on_cmp_step(void *arg, int step, const struct cmp_result *r);

/* The transport and client configuration of the job's CA profile into w:
 * signed replies chain to its trust_anchor, and to extra (the CA
 * certificates a community got at enrollment), both may be NULL.
 * CMP_OK, or a fault with err set. */
int worker_cmp_setup(struct worker *w, STACK_OF(X509) * extra, char *err, size_t errlen);
void worker_cmp_free(struct worker *w);

/* The DER buffers behind a result, freed after it is sent. */
struct result_bufs {
	unsigned char *der[2 + RESULT_CHAIN_MAX];
	int n;
};

/* A certificate (and what the worker read from it) into a result. */
void worker_put_cert(struct result_bufs *rb, struct outcome_cert *c, X509 *x);
/* The CA certificates of certs, issuer first, into a result. */
void worker_put_chain(struct result_bufs *rb, struct result *res, const STACK_OF(X509) * certs);

/* The keystore could not be written: the certConf rejects the
 * certificates, and err says so, then after. Returns JOB_F_KEYSTORE. */
int worker_reject(struct worker *w, char *err, size_t errlen, const char *after);

/*
 * Certificates in a reply that did not verify may have been issued: their
 * key is kept beside the keystore, as unverified-TID.p12 (not current).
 * kept gets its path, or why it could not be written. 0 or -1.
 */
int worker_keep_unverified(struct worker *w, EVP_PKEY *key, const struct cmp_result *r, char *kept,
			   size_t keptlen);

/*
 * The opening request of a job: a new key of key_type into rq->new_key (the
 * caller's to free), the transaction in w->tx, the request sent and its
 * reply checked. Certificates in a reply that did not verify keep their key
 * (res->kept). Returns an enum cmp_fault; err says why when there is no
 * transaction to say it.
 */
int worker_request(struct worker *w, struct cmp_request *rq, int key_type, struct result *res,
		   char *err, size_t errlen);

/*
 * The common part of a job's result: fault, reason (the transaction's for
 * a CMP fault when tx_err is not NULL, else err), and what the transaction
 * reached (step, failInfo, subject change, confirmation, Retry-After).
 * Returns the transaction's result, or NULL without one.
 */
const struct cmp_result *worker_result_of(struct worker *w, struct result *res, int fault,
					  const char *tx_err, const char *err);

/* Sends the RESULT and frees what it held. */
void worker_send_result(struct worker *w, struct result *res, struct result_bufs *rb);

/* The job kinds, one file each; worker_main.c runs them. */
void enroll_job_run(struct worker *w);
void renew_job_run(struct worker *w);
void revoke_job_run(struct worker *w);

#endif
