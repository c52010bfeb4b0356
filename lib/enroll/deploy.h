/*
 * Deploy hooks after a run (and for pkiroll deploy): the communities that
 * owe one, their hook run one by one in the parent, the result on record.
 * Private to lib/enroll.
 */
#ifndef PKIROLL_ENROLL_DEPLOY_H
#define PKIROLL_ENROLL_DEPLOY_H

#include "store/store_deploy.h"

struct deploy_run {
	pkiroll_ctx *ctx;
	struct pkiroll_store *s;
	const char *hook; /* sh -c this */
	int timeout;	  /* seconds */
	const char *pass_file;
	volatile int *interrupted;
	sqlite3_int64 run;	       /* the events' run, 0: none */
	struct pkiroll_report *report; /* NULL: none */
	struct pkiroll_run_stats *st;
	int dry_run; /* list only */
};

/*
 * Runs the hook of every community that owes one (only the named ones when
 * nnames > 0): success clears its mark, failure leaves it (and is logged
 * and counted in st->deploy_failed). PKIROLL_OK, or a store error.
 */
int deploy_owed(const struct deploy_run *d, const char *const *names, int nnames);

/* The deploy hook of a run: o's, else the configuration's; "" none. */
const char *deploy_hook_of(const struct pkiroll_run_opts *o, const struct pkiroll_config *cfg);

/* The hooks' timeout in seconds: o's, else the configuration's. */
int deploy_timeout_of(const struct pkiroll_run_opts *o, const struct pkiroll_config *cfg);

#endif
