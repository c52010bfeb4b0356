/*
 * pkiroll enroll, the run's life: its CA profiles, the workers (forked
 * first), the lock, the store and the import; then the manifest is read a
 * second time as a stream and the scheduler (schedule.c) makes every due
 * community a job, so memory does not grow with the manifest. The parent
 * is the only store writer: one transaction per step and per result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cmp/cmp_trace.h"
#include "enroll/run.h"
#include "store/store_lifecycle.h"

/* ---- jobs ---- */

/* pool_ops.tick: progress and signals. */
static int tick(void *arg)
{
	struct run *r = arg;
	long long now = now_ms();
	int sig = r->o->interrupted ? *r->o->interrupted : 0;

	r->st->elapsed = (double)(now - r->start_ms) / 1000.0;
	if (r->o->progress && now - r->last_progress >= 500) {
		r->last_progress = now;
		r->o->progress(r->o->progress_arg, r->st, 0);
	}
	if (sig >= 2)
		return 2;
	if (sig == 1) {
		if (!r->stopping) {
			r->stopping = 1;
			r->stop_ms = now;
			r->st->interrupted = 1;
			ctx_log(r->ctx, PKIROLL_LOG_WARN,
				"interrupted: no new enrollments; waiting for %lu in flight (a "
				"second signal aborts)",
				r->st->in_flight);
		}
		return now - r->stop_ms > STOP_GRACE_MS ? 2 : 1;
	}
	return 0;
}

static int dry_run(pkiroll_ctx *ctx, const struct pkiroll_enroll_opts *o, struct run *r)
{
	const struct manifest_row *row;
	int err, g;

	if (access(o->db, F_OK) == 0 && pkiroll_store_open(ctx, o->db, 0, &r->s) != PKIROLL_OK)
		return PKIROLL_ERR_STORE;
	if ((r->m = manifest_open(ctx, o->manifest, &o->mopts, &err)) == NULL)
		return err;
	while ((g = manifest_next_row(r->m, &row)) > 0) {
		struct community c;
		int prof = profile_for(r, row->ca), settle = 0, d = 1;

		if (row->bad)
			continue;
		if (r->s != NULL) {
			int g2 = store_community_get(r->s, row->community, &c);

			if (g2 < 0)
				break;
			if (g2 == 1)
				d = due_community(r, &c, 0), settle = c.has_tx;
		}
		if (!d)
			continue;
		if (o->limit && r->st->due >= o->limit)
			break;
		r->st->due++;
		ctx_log(ctx, PKIROLL_LOG_INFO, "would enroll %s (reference %s) via %s%s%s",
			row->community, row->reference,
			prof >= 0 ? r->profs[prof].p.url : "(no CA profile)",
			row->dual ? ", dual key" : "",
			settle ? ", an interrupted transaction to settle first" : "");
	}
	manifest_stats_rows(r->m, &r->st->rows, &r->st->bad_rows);
	return g < 0 ? manifest_error(r->m) : PKIROLL_OK;
}

/* The renewal window of this run: --within, else the configuration's. */
static struct pkiroll_window run_window(const struct pkiroll_enroll_opts *o)
{
	struct pkiroll_window w = {.secs = 30LL * 86400};

	if (o->within.secs > 0 || o->within.pct > 0)
		w = o->within;
	else if (o->config != NULL &&
		 (o->config->renew_within.secs > 0 || o->config->renew_within.pct > 0))
		w = o->config->renew_within;
	return w;
}

/* The forced names that cannot be renewed, said once each. */
static int check_forced(pkiroll_ctx *ctx, const struct pkiroll_enroll_opts *o, struct run *r)
{
	for (int i = 0; i < o->ncommunities; i++) {
		struct community c;
		int g = store_community_get(r->s, o->communities[i], &c);

		if (g < 0)
			return PKIROLL_ERR_STORE;
		if (g == 0)
			ctx_log(ctx, PKIROLL_LOG_ERROR, "--community %s: not in the store",
				o->communities[i]);
		else if (c.state != PKIROLL_STATE_ENROLLED && c.state != PKIROLL_STATE_RENEWING)
			ctx_log(ctx, PKIROLL_LOG_ERROR,
				"--community %s: is %s, not enrolled: nothing to renew",
				o->communities[i], pkiroll_state_name(c.state));
		else
			continue;
		r->st->skipped++;
	}
	return PKIROLL_OK;
}

static int renew_select(pkiroll_ctx *ctx, const struct pkiroll_enroll_opts *o, struct run *r)
{
	struct pkiroll_window w = run_window(o);
	int err;

	if ((err = check_forced(ctx, o, r)) != PKIROLL_OK)
		return err;
	if (store_renew_due(r->s, (long long)time(NULL), &w, !o->renew_now, o->communities,
			    o->ncommunities, o->limit, &r->renew, &r->nrenew) < 0)
		return PKIROLL_ERR_STORE;
	return PKIROLL_OK;
}

/* revoke: the named communities with a current certificate not yet revoked */
static int revoke_select(pkiroll_ctx *ctx, const struct pkiroll_enroll_opts *o, struct run *r)
{
	if ((r->renew = calloc((size_t)o->ncommunities + 1, sizeof(*r->renew))) == NULL)
		return PKIROLL_ERR_NOMEM;
	for (int i = 0; i < o->ncommunities; i++) {
		struct revoke_target t[2];
		struct community c;
		int g = store_community_get(r->s, o->communities[i], &c), n = 0, left = 0;

		if (g < 0 ||
		    (g > 0 && store_revoke_targets(r->s, c.id, o->revoke_usage, t, &n) < 0))
			return PKIROLL_ERR_STORE;
		if (g == 0) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: not in the store", o->communities[i]);
			r->st->skipped++;
			continue;
		}
		for (int k = 0; k < n; k++) {
			if (t[k].revoked_at) {
				char day[32];
				time_t at = (time_t)t[k].revoked_at;
				struct tm tm;

				gmtime_r(&at, &tm);
				strftime(day, sizeof(day), "%Y-%m-%d %H:%M UTC", &tm);
				ctx_log(ctx, PKIROLL_LOG_INFO,
					"%s: %s certificate serial %s was revoked already on %s "
					"(%s): "
					"nothing to do",
					c.name, t[k].usage, t[k].serial, day, t[k].reason);
			} else {
				left++;
			}
		}
		if (n == 0) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: no current %s certificate to revoke",
				c.name,
				o->revoke_usage == 1   ? "signing"
				: o->revoke_usage == 2 ? "encryption"
						       : "");
			r->st->skipped++;
		} else if (left > 0) {
			snprintf(r->renew[r->nrenew++].name, sizeof(r->renew[0].name), "%s",
				 c.name);
		}
	}
	return PKIROLL_OK;
}

static int renew_dry_run(pkiroll_ctx *ctx, const struct pkiroll_enroll_opts *o, struct run *r)
{
	int err;

	if (access(o->db, F_OK) != 0)
		return PKIROLL_OK;
	if (r->s == NULL && pkiroll_store_open(ctx, o->db, 0, &r->s) != PKIROLL_OK)
		return PKIROLL_ERR_STORE;
	if ((err = o->revoke ? revoke_select(ctx, o, r) : renew_select(ctx, o, r)) != PKIROLL_OK)
		return err;
	for (size_t i = 0; i < r->nrenew; i++) {
		r->st->due++;
		ctx_log(ctx, PKIROLL_LOG_INFO, "would %s %s%s", o->revoke ? "revoke" : "renew",
			r->renew[i].name, r->renew[i].resume ? " (an interrupted renewal)" : "");
	}
	return PKIROLL_OK;
}

int pkiroll_enroll(pkiroll_ctx *ctx, const struct pkiroll_enroll_opts *o,
		   struct pkiroll_enroll_stats *st)
{
	struct run r = {.ctx = ctx, .o = o, .st = st};
	struct pkiroll_import_stats is;
	struct pool *pool = NULL;
	const struct pool_ops ops = {next_job, on_step, on_result, on_death, tick};
	struct pkiroll_ca_profile *jr_profiles = NULL;
	struct job_run jr = {0};
	int err = PKIROLL_ERR_CONFIG, jobs;
	pkiroll_lock *lock = NULL;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	memset(st, 0, sizeof(*st));
	r.start_ms = now_ms();

	/* Phase: the CA profiles this run may use. */
	if (o->ca_url != NULL) {
		if ((r.profs = calloc(1, sizeof(*r.profs))) == NULL)
			return PKIROLL_ERR_NOMEM;
		pkiroll_ca_profile_defaults(&r.profs[0].p);
		if (o->config && pkiroll_config_profile(o->config, o->ca) != NULL)
			r.profs[0].p = *pkiroll_config_profile(o->config, o->ca);
		snprintf(r.profs[0].p.url, sizeof(r.profs[0].p.url), "%s", o->ca_url);
		r.nprofs = 1;
	} else if (o->config != NULL && o->config->nprofiles > 0) {
		if (o->ca != NULL && pkiroll_config_profile(o->config, o->ca) == NULL) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "--ca %s: no [ca %s] in %s", o->ca, o->ca,
				o->config->path[0] ? o->config->path : "the configuration");
			return PKIROLL_ERR_CONFIG;
		}
		if ((r.profs = calloc(o->config->nprofiles, sizeof(*r.profs))) == NULL)
			return PKIROLL_ERR_NOMEM;
		for (size_t i = 0; i < o->config->nprofiles; i++)
			r.profs[i].p = o->config->profiles[i];
		r.nprofs = (int)o->config->nprofiles;
	} else {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"no CA: give --ca-url URL, or a [ca NAME] section in the configuration "
			"file");
		return PKIROLL_ERR_CONFIG;
	}
	/* Phase: a manifest that cannot be read creates nothing. */
	if (o->manifest != NULL &&
	    (err = pkiroll_manifest_open_check(ctx, o->manifest, &o->mopts)) != PKIROLL_OK) {
		err = err == PKIROLL_ERR_NOMEM ? err : PKIROLL_ERR_MANIFEST;
		goto out;
	}
	if (o->dry_run) {
		err = o->manifest != NULL ? dry_run(ctx, o, &r) : PKIROLL_OK;
		if (err == PKIROLL_OK && (o->renew || o->revoke))
			err = renew_dry_run(ctx, o, &r);
		goto out;
	}
	if (o->revoke && (o->revoke_usage < 1 || o->revoke_usage > 3 ||
			  pkiroll_revocation_reason_name(o->revoke_reason) == NULL)) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "revoke: no usage or no reason");
		err = PKIROLL_ERR_USAGE;
		goto out;
	}
	if (o->passphrase == NULL || *o->passphrase == '\0') {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"no keystore passphrase: use --keystore-pass-file, --keystore-pass-fd or "
			"PKIROLL_KEYSTORE_PASS");
		err = PKIROLL_ERR_CONFIG;
		goto out;
	}

	if (o->dump_dir != NULL) {
		char why[600];

		if (cmp_trace_dir_make(o->dump_dir, why, sizeof(why)) < 0) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "--dump-dir %s", why);
			err = PKIROLL_ERR_CONFIG;
			goto out;
		}
	}

	/* Phase: workers before the store (and its lock) is opened. */
	jobs = o->jobs > 0		      ? o->jobs
	       : o->config && o->config->jobs ? o->config->jobs
					      : (int)(cores > 0 ? cores : 2);
	if (r.nprofs == 1 && jobs > r.profs[0].p.concurrency) {
		/* say so: a silent cap reads as a slow CA */
		ctx_log(ctx, PKIROLL_LOG_WARN,
			"%d workers asked for, %d used: CA profile %s allows %d at once "
			"(concurrency; raise it in its [ca] section)",
			jobs, r.profs[0].p.concurrency,
			r.profs[0].p.name[0] ? r.profs[0].p.name : r.profs[0].p.url,
			r.profs[0].p.concurrency);
		jobs = r.profs[0].p.concurrency;
	}
	for (int i = 0; r.nprofs > 1 && i < r.nprofs; i++)
		if (r.profs[i].p.concurrency < jobs)
			ctx_log(ctx, PKIROLL_LOG_INFO,
				"CA profile %s: at most %d of the %d workers at once (concurrency)",
				r.profs[i].p.name, r.profs[i].p.concurrency, jobs);
	r.nslots = jobs;
	if ((r.slots = calloc((size_t)jobs, sizeof(*r.slots))) == NULL ||
	    (r.retries = calloc(MAX_RETRY_QUEUE, sizeof(*r.retries))) == NULL) {
		err = PKIROLL_ERR_NOMEM;
		goto out;
	}
	/* the run's constants, for every worker at fork */
	if ((jr_profiles = calloc((size_t)r.nprofs, sizeof(*jr_profiles))) == NULL) {
		err = PKIROLL_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < r.nprofs; i++)
		jr_profiles[i] = r.profs[i].p;
	jr.profiles = jr_profiles;
	jr.nprofiles = r.nprofs;
	jr.keystore_dir = o->keystore_dir;
	jr.pass = o->passphrase;
	jr.legacy = o->config ? o->config->keystore_legacy : 0;
	jr.keep_keys = o->config ? o->config->keep_decryption_keys : 2;
	jr.ctx = ctx;
	jr.dump_dir = o->dump_dir;
	jr.trace = o->trace;
	jr.started = time(NULL);
	if ((pool = pool_new(jobs, enroll_worker_main, &jr)) == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "cannot start %d workers: %s", jobs,
			strerror(errno));
		err = PKIROLL_ERR_IO;
		goto out;
	}
	/* Phase: one run per store; the lock is the parent's alone. */
	if ((err = pkiroll_store_lock(ctx, o->db, &lock)) != PKIROLL_OK)
		goto out;
	if ((err = pkiroll_store_open(ctx, o->db, 1, &r.s)) != PKIROLL_OK)
		goto out;

	/* Phase: the manifest into the store, then read again to dispatch. */
	if (o->manifest != NULL) {
		if ((err = store_import(r.s, o->manifest, &o->mopts, &is, &r.refused)) !=
		    PKIROLL_OK)
			goto out;
		st->rows = is.rows;
		st->bad_rows = is.bad;
		/* the second pass only needs the codes: the import validated every row */
		if ((r.m = manifest_open(NULL, o->manifest, &o->mopts, &err)) == NULL)
			goto out;
		manifest_set_raw(r.m);
	} else {
		r.manifest_done = 1;
	}
	/* Phase: renew, revoke: the communities, chosen once */
	if (o->renew && (err = renew_select(ctx, o, &r)) != PKIROLL_OK)
		goto out;
	if (o->revoke && (err = revoke_select(ctx, o, &r)) != PKIROLL_OK)
		goto out;
	if (store_run_begin(r.s,
			    o->renew	? "renew"
			    : o->revoke ? "revoke"
					: "enroll",
			    o->manifest, &r.run) < 0) {
		err = PKIROLL_ERR_STORE;
		goto out;
	}
	if (pool_run(pool, &ops, &r) < 0) {
		err = PKIROLL_ERR_STORE;
		store_run_end(r.s, r.run, "error", st->due, st->enrolled,
			      st->failed + st->needs_codes);
		goto out;
	}
	st->elapsed = (double)(now_ms() - r.start_ms) / 1000.0;
	store_run_end(r.s, r.run, st->interrupted ? "interrupted" : "done", st->due, st->enrolled,
		      st->failed + st->needs_codes);
	err = PKIROLL_OK;
out:
	pool_free(pool);
	free(jr_profiles);
	if (o->progress)
		o->progress(o->progress_arg, st, 1);
	for (int i = 0; r.retries && i < r.nretries; i++) {
		/* left in the queue at the end: failed and retryable in the store */
		st->failed++;
		OPENSSL_cleanse(r.retries[i].code, sizeof(r.retries[i].code));
	}
	if (r.slots)
		OPENSSL_cleanse(r.slots, (size_t)r.nslots * sizeof(*r.slots));
	OPENSSL_cleanse(&r.held_row, sizeof(r.held_row));
	free(r.slots);
	free(r.retries);
	free(r.profs);
	free(r.renew);
	manifest_close(r.m);
	lineset_free(&r.refused);
	pkiroll_store_close(r.s);
	pkiroll_store_unlock(lock);
	return err;
}
