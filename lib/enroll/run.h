/*
 * One run, shared by its parts: the doors and the run's life (enroll.c),
 * the scheduler (schedule.c) and the outcome policy (outcome.c). Private
 * to lib/enroll.
 */
#ifndef PKIROLL_ENROLL_RUN_H
#define PKIROLL_ENROLL_RUN_H

#include "enroll/job.h"
#include "enroll/pool.h"
#include "input/manifest.h"
#include "store/store_enroll.h"
#include "store/store_monitor.h"
#include "store/store_renew.h"

#define STOP_GRACE_MS 120000 /* in-flight transactions after the first signal */
#define MAX_RETRY_QUEUE 4096

struct profile {
	struct pkiroll_ca_profile p;
	int inflight;
	int consecutive; /* transient failures in a row */
	int paused;
	long long next_ms; /* rate limit */
	/* the CA's own rate limit (HTTP 429/503): no request before
	 * limited_until, fewer in flight (cap), backing off while it lasts */
	long long limited_until;
	int cap;     /* in flight at most, 0: the profile's concurrency */
	int limited; /* rate-limited answers in a row */
};

struct slot { /* a job in flight */
	long long id;
	int used;
	int kind;	    /* enum job_kind */
	int renew_failures; /* renew: failed ones before this, for the backoff */
	int prof;
	int step;
	int attempts;		/* in this run */
	int limited;		/* rate-limited tries in this run (not attempts) */
	long long started_ms;	/* dispatched at */
	unsigned long failbits; /* the CA's failInfo in its result */
	char name[256];
	char code[512];
};

#define MAX_RATE_LIMITED 100 /* rate-limited tries of one community in one run */

struct retry {
	long long due_ms;
	int kind;
	int prof;
	int attempts;
	int limited;
	char name[256];
	char code[512];
};

/*
 * What a run does, made by its door (pkiroll_enroll, pkiroll_renew,
 * pkiroll_revoke) from the caller's options: the scheduler reads this
 * plan, never the public options.
 */
struct plan {
	int kind;	  /* JOB_ENROLL, JOB_RENEW or JOB_REVOKE: the chosen ones' jobs */
	const char *verb; /* "enroll", "renew", "revoke": the store's run record */
	/* the manifest's due rows, enrolled first (enroll, renew), or NULL */
	const char *manifest;
	struct pkiroll_manifest_opts mopts;
	int retry_failed;
	unsigned long limit;
	const char *row_ca; /* the profile of a row without one: --ca, else default_ca */
	/* renew: the window and whether each community's point in it counts */
	struct pkiroll_window within;
	int spread;
	/* renew, revoke: only these */
	const char *const *names;
	int nnames;
	/* revoke: which certificates, why, and the codes of a MAC-protected rr */
	int usage;
	int reason;
	const char *ref, *code;
};

struct run {
	pkiroll_ctx *ctx;
	const struct pkiroll_run_opts *o; /* the run's life only (enroll.c) */
	const struct pkiroll_config *cfg; /* o->config, or the built-in defaults */
	const struct plan *plan;	  /* what the scheduler reads */
	struct pkiroll_store *s;
	struct manifest *m;
	sqlite3_int64 run;
	struct profile *profs;
	int nprofs;
	struct slot *slots;
	int nslots;
	struct retry *retries;
	int nretries;
	int manifest_done;
	int held; /* a due row waits for its profile (rate, cap) */
	struct retry held_row;
	struct pkiroll_run_stats *st;
	struct lineset refused;	 /* manifest lines the import did not take */
	struct renew_due *renew; /* renew: the communities due, in order */
	size_t nrenew, renew_next;
	long long start_ms, stop_ms, last_progress;
	int stopping;
	/* the CMP requests of this run per operation, result and failInfo,
	 * added to the store's counter at its end */
	struct store_cmp_count *requests;
	size_t nrequests, caprequests;
};

/* ---- the scheduler (schedule.c): pool_ops callbacks ---- */

int schedule_next_job(void *arg, struct wbuf *job, long long *id);
int schedule_on_step(void *arg, long long id, struct wbuf *msg, struct wbuf *ack);
int schedule_on_result(void *arg, long long id, struct wbuf *msg);
void schedule_on_death(void *arg, long long id, int status);

/* Is this community due (1 or 0)? An in-run retry is due whatever
 * next_attempt_at says. Whether it resumes is the worker's to decide. */
int schedule_due_community(const struct run *r, const struct community *c, int in_run);

/* A due community not attempted in this run: counted (st->skipped) and
 * in the report (outcome skipped, why); the caller logs it. */
void schedule_skip(struct run *r, const char *name, const char *why);

/* The CA profile (index) for a manifest row's ca column, or -1. */
int schedule_profile_for(struct run *r, const char *row_ca);

/* ---- the outcome policy (outcome.c) ---- */

/* What a result means for the community: o's state, reason (in text),
 * retryable; *transient when the run may retry it. */
void outcome_enroll(const struct result *res, struct enroll_outcome *o, char *text, size_t textlen,
		    int *transient);
/* What a revocation's result means: needs_codes (revoked: re-enroll with
 * new codes), failed and retryable (not answered), or failed (refused). */
void outcome_revoke(const struct result *res, int reason, struct enroll_outcome *o, char *text,
		    size_t textlen, int *transient);
/* The same for a renewal; renew_failures: the failed ones before it. */
void outcome_renew(const struct result *res, int renew_failures, struct enroll_outcome *o,
		   char *text, size_t textlen, int *transient);

/*
 * A job's CMP request as the metrics count it: the operation of a job kind
 * ("ir", "kur", "rr") and the result of a fault (enum cmp_fault or
 * job_fault; CMP_F__MAX: the worker was lost): "accepted" (certificates
 * issued, or revoked), "rejected" (the CA said no), "transport_error" (no
 * answer, or not through: network, HTTP status, rate limit, still
 * waiting), "protocol_error" (an answer that does not verify or fit) or
 * "local_error" (on our side: keystore, passphrase, expired certificate,
 * a lost worker; often nothing was sent). Static strings.
 */
const char *outcome_operation(int kind);
const char *outcome_request_result(int fault);

#endif
