/*
 * The store's side of monitoring: what needs attention (one list of
 * sources, shared by status and the metrics), each command's last run,
 * the CMP request counter, and the streaming readers the metrics file is
 * written from (one query each, never one per community).
 */
#ifndef PKIROLL_STORE_MONITOR_H
#define PKIROLL_STORE_MONITOR_H

#include "store/store.h"

/* One community that needs someone; strings valid during the callback. */
struct store_attention {
	const char *community;
	int state;	    /* enum pkiroll_state */
	const char *reason; /* or NULL */
	int retryable;
	const char *kind; /* "failed", "needs_codes", "renewal_failed", "warning" */
};
typedef int store_attention_fn(void *arg, const struct store_attention *a);

/* The kinds of attention the sources give, NULL-terminated: the metrics
 * say 0 for a kind nobody has. */
extern const char *const store_attention_kinds[];

/* Calls fn for every community that needs attention, source by source
 * (each in name order); a non-zero return stops. 0, or -1 (logged). */
int store_attention_each(struct pkiroll_store *s, store_attention_fn *fn, void *arg);

/* The CMP requests of one operation, result and failInfo in a run. */
struct store_cmp_count {
	const char *operation; /* "ir", "kur", "rr" (static) */
	const char *result;    /* "accepted", "rejected", "transport_error", ... (static) */
	char failinfo[600];    /* the CA's failInfo names, comma-separated, "" none */
	unsigned long n;
};

/* Adds a run's counts to the store's counter, in one transaction. 0 or -1
 * (logged). */
int store_cmp_requests_add(struct pkiroll_store *s, const struct store_cmp_count *c, size_t n);

/* ---- the metrics file's readers: each calls fn per row, 0 or -1 ---- */

/* The current, unrevoked certificates of the communities in service. */
typedef int store_cert_row_fn(void *arg, const char *community, const char *usage,
			      const char *serial, long long not_after);
int store_metrics_certs(struct pkiroll_store *s, store_cert_row_fn *fn, void *arg);

/* Each command's last run: finished (epoch seconds), duration, exit code,
 * the last success (0: none recorded). */
typedef int store_run_row_fn(void *arg, const char *command, double finished, double duration,
			     int exit_code, double succeeded);
int store_metrics_runs(struct pkiroll_store *s, store_run_row_fn *fn, void *arg);

/* The CMP request counter. */
typedef int store_cmp_row_fn(void *arg, const char *operation, const char *result,
			     const char *failinfo, long long n);
int store_metrics_cmp(struct pkiroll_store *s, store_cmp_row_fn *fn, void *arg);

/* Per partner, the CEM answers pending (asked and unanswered, or answered
 * Pending) on the current certificates of communities in service. */
typedef int store_cem_row_fn(void *arg, const char *partner, long long pending);
int store_metrics_cem(struct pkiroll_store *s, store_cem_row_fn *fn, void *arg);

/* Communities per state (count[enum pkiroll_state]). 0 or -1. */
int store_metrics_states(struct pkiroll_store *s, unsigned long *count);

#endif
