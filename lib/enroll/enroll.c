/*
 * The doors and the engine behind them. pkiroll_enroll, pkiroll_renew and
 * pkiroll_revoke each make a plan (run.h) of their options; the engine
 * runs it: its CA profiles, the workers (forked first), the lock, the
 * store and the import; then the manifest is read a second time as a
 * stream and the scheduler (schedule.c) makes every due community a job,
 * so memory does not grow with the manifest. The parent is the only store
 * writer: one transaction per step and per result.
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
#include "enroll/deploy.h"
#include "enroll/run.h"
#include "store/store_lifecycle.h"
#include "write/keystore.h"
#include "x509/keys.h"

/* ---- jobs ---- */

/* pool_ops.tick: progress and signals. */
static int tick(void *arg)
{
	struct run *r = arg;
	long long now = base_now_ms();
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

static int dry_run(pkiroll_ctx *ctx, struct run *r)
{
	const struct plan *p = r->plan;
	const struct manifest_row *row;
	int err, g;

	if (access(r->o->db, F_OK) == 0 &&
	    pkiroll_store_open(ctx, r->o->db, 0, &r->s) != PKIROLL_OK)
		return PKIROLL_ERR_STORE;
	if ((r->m = manifest_open(ctx, p->manifest, &p->mopts, &err)) == NULL)
		return err;
	while ((g = manifest_next_row(r->m, &row)) > 0) {
		struct community c;
		int prof = schedule_profile_for(r, row->ca), settle = 0, d = 1;

		if (row->bad)
			continue;
		if (r->s != NULL) {
			int g2 = store_community_get(r->s, row->community, &c);

			if (g2 < 0)
				break;
			if (g2 == 1)
				d = schedule_due_community(r, &c, 0), settle = c.has_tx;
		}
		if (!d)
			continue;
		if (p->limit && r->st->due >= p->limit)
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

/* The forced names that cannot be renewed, said once each. */
static int check_forced(pkiroll_ctx *ctx, struct run *r)
{
	const struct plan *p = r->plan;

	for (int i = 0; i < p->nnames; i++) {
		struct community c;
		int g = store_community_get(r->s, p->names[i], &c);

		if (g < 0)
			return PKIROLL_ERR_STORE;
		if (g == 0)
			ctx_log(ctx, PKIROLL_LOG_ERROR, "--community %s: not in the store",
				p->names[i]);
		else if (c.state != PKIROLL_STATE_ENROLLED && c.state != PKIROLL_STATE_RENEWING)
			ctx_log(ctx, PKIROLL_LOG_ERROR,
				"--community %s: is %s, not enrolled: nothing to renew",
				p->names[i], pkiroll_state_name(c.state));
		else
			continue;
		schedule_skip(r, p->names[i], g == 0 ? "not in the store" : "not enrolled");
	}
	return PKIROLL_OK;
}

static int renew_select(pkiroll_ctx *ctx, struct run *r)
{
	const struct plan *p = r->plan;
	int err;

	if ((err = check_forced(ctx, r)) != PKIROLL_OK)
		return err;
	if (store_renew_due(r->s, (long long)time(NULL), &p->within, p->spread, p->names, p->nnames,
			    p->limit, &r->renew, &r->nrenew) < 0)
		return PKIROLL_ERR_STORE;
	return PKIROLL_OK;
}

/* revoke: the named communities with a current certificate not yet revoked */
static int revoke_select(pkiroll_ctx *ctx, struct run *r)
{
	const struct plan *p = r->plan;

	if ((r->renew = calloc((size_t)p->nnames + 1, sizeof(*r->renew))) == NULL)
		return PKIROLL_ERR_NOMEM;
	for (int i = 0; i < p->nnames; i++) {
		struct revoke_target t[2];
		struct community c;
		int g = store_community_get(r->s, p->names[i], &c), n = 0, left = 0;

		if (g < 0 || (g > 0 && store_revoke_targets(r->s, c.id, p->usage, t, &n) < 0))
			return PKIROLL_ERR_STORE;
		if (g == 0) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: not in the store", p->names[i]);
			schedule_skip(r, p->names[i], "not in the store");
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
				p->usage == 1	? "signing"
				: p->usage == 2 ? "encryption"
						: "");
			schedule_skip(r, c.name, "no current certificate to revoke");
		} else if (left > 0) {
			snprintf(r->renew[r->nrenew++].name, sizeof(r->renew[0].name), "%s",
				 c.name);
		}
	}
	return PKIROLL_OK;
}

/* "would renew NAME: why; renew-after DATE, earliest certificate expires
 * DATE" for one community the dry run chose. */
static void renew_explain(pkiroll_ctx *ctx, const struct plan *p, const struct renew_due *d)
{
	char after[32], expires[32];
	time_t t;
	struct tm tm;

	t = (time_t)d->renew_after;
	gmtime_r(&t, &tm);
	strftime(after, sizeof(after), "%Y-%m-%dT%H:%M:%SZ", &tm);
	t = (time_t)d->not_after;
	gmtime_r(&t, &tm);
	strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ctx_log(ctx, PKIROLL_LOG_INFO,
		"would renew %s: %s; renew-after %s, earliest certificate expires %s", d->name,
		d->resume    ? "an interrupted renewal to finish"
		: d->forced  ? "forced (--community), whatever its dates"
		: !p->spread ? "inside the window (--now: no spreading)"
			     : "past its renew-after date",
		after, expires);
}

/* A dry run of renew or revoke: the store's choice, explained; no CA. */
static int renew_dry_run(pkiroll_ctx *ctx, struct run *r)
{
	int revoke = r->plan->kind == JOB_REVOKE, err;

	if (access(r->o->db, F_OK) != 0)
		return PKIROLL_OK;
	if (r->s == NULL && pkiroll_store_open(ctx, r->o->db, 0, &r->s) != PKIROLL_OK)
		return PKIROLL_ERR_STORE;
	if ((err = revoke ? revoke_select(ctx, r) : renew_select(ctx, r)) != PKIROLL_OK)
		return err;
	for (size_t i = 0; i < r->nrenew; i++) {
		r->st->due++;
		if (revoke)
			ctx_log(ctx, PKIROLL_LOG_INFO, "would revoke %s", r->renew[i].name);
		else
			renew_explain(ctx, r->plan, &r->renew[i]);
	}
	return PKIROLL_OK;
}

/* The CA profiles this run may use, into r->profs. */
static int profiles_make(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o, struct run *r)
{
	const struct pkiroll_config *cfg = r->cfg;

	if (o->ca_url != NULL) {
		if ((r->profs = calloc(1, sizeof(*r->profs))) == NULL)
			return PKIROLL_ERR_NOMEM;
		pkiroll_ca_profile_defaults(&r->profs[0].p);
		if (pkiroll_config_profile(cfg, o->ca) != NULL)
			r->profs[0].p = *pkiroll_config_profile(cfg, o->ca);
		snprintf(r->profs[0].p.url, sizeof(r->profs[0].p.url), "%s", o->ca_url);
		r->nprofs = 1;
	} else if (cfg->nprofiles > 0) {
		if (o->ca != NULL && pkiroll_config_profile(cfg, o->ca) == NULL) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "--ca %s: no [ca %s] in %s", o->ca, o->ca,
				cfg->path[0] ? cfg->path : "the configuration");
			return PKIROLL_ERR_CONFIG;
		}
		if ((r->profs = calloc(cfg->nprofiles, sizeof(*r->profs))) == NULL)
			return PKIROLL_ERR_NOMEM;
		for (size_t i = 0; i < cfg->nprofiles; i++)
			r->profs[i].p = cfg->profiles[i];
		r->nprofs = (int)cfg->nprofiles;
	} else {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"no CA: give --ca-url URL, or a [ca NAME] section in the configuration "
			"file");
		return PKIROLL_ERR_CONFIG;
	}
	return PKIROLL_OK;
}

/* What a real run needs before it forks: the revocation's terms, the
 * passphrase, the dump directory. */
static int run_check(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o, const struct plan *p)
{
	if (p->kind == JOB_REVOKE &&
	    (p->usage < 1 || p->usage > 3 || pkiroll_revocation_reason_name(p->reason) == NULL)) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "revoke: no usage or no reason");
		return PKIROLL_ERR_USAGE;
	}
	if (o->passphrase == NULL || *o->passphrase == '\0') {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"no keystore passphrase: use --keystore-pass-file, --keystore-pass-fd or "
			"PKIROLL_KEYSTORE_PASS");
		return PKIROLL_ERR_CONFIG;
	}
	if (o->dump_dir != NULL) {
		char why[600];

		if (cmp_trace_dir_make(o->dump_dir, why, sizeof(why)) < 0) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "--dump-dir %s", why);
			return PKIROLL_ERR_CONFIG;
		}
	}
	return PKIROLL_OK;
}

/* How many workers: -j, else the config's, at most a lone profile's cap. */
static int run_jobs(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o, struct run *r)
{
	int jobs = o->jobs > 0 ? o->jobs : r->cfg->jobs;

	if (r->nprofs == 1 && jobs > r->profs[0].p.concurrency) {
		/* say so: a silent cap reads as a slow CA */
		ctx_log(ctx, PKIROLL_LOG_WARN,
			"%d workers asked for, %d used: CA profile %s allows %d at once "
			"(concurrency; raise it in its [ca] section)",
			jobs, r->profs[0].p.concurrency,
			r->profs[0].p.name[0] ? r->profs[0].p.name : r->profs[0].p.url,
			r->profs[0].p.concurrency);
		jobs = r->profs[0].p.concurrency;
	}
	for (int i = 0; r->nprofs > 1 && i < r->nprofs; i++)
		if (r->profs[i].p.concurrency < jobs)
			ctx_log(ctx, PKIROLL_LOG_INFO,
				"CA profile %s: at most %d of the %d workers at once (concurrency)",
				r->profs[i].p.name, r->profs[i].p.concurrency, jobs);
	return jobs;
}

/* The run's constants, for every worker at fork; jr->profiles is the
 * caller's to free. */
static int run_constants(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o, const struct run *r,
			 struct job_run *jr)
{
	struct pkiroll_ca_profile *profiles = calloc((size_t)r->nprofs, sizeof(*profiles));

	if (profiles == NULL)
		return PKIROLL_ERR_NOMEM;
	for (int i = 0; i < r->nprofs; i++)
		profiles[i] = r->profs[i].p;
	jr->profiles = profiles;
	jr->nprofiles = r->nprofs;
	jr->keystore_dir = o->keystore_dir;
	jr->pass = o->passphrase;
	jr->legacy = r->cfg->keystore_legacy;
	jr->keep_keys = r->cfg->keep_decryption_keys;
	jr->ctx = ctx;
	jr->dump_dir = o->dump_dir;
	jr->trace = o->trace;
	jr->started = time(NULL);
	return PKIROLL_OK;
}

/* The store's part of a run: the manifest in, the chosen ones, the pool's
 * loop, the run's record. */
static int run_store(pkiroll_ctx *ctx, struct run *r, struct pool *pool)
{
	const struct pool_ops ops = {schedule_next_job, schedule_on_step, schedule_on_result,
				     schedule_on_death, tick};
	const struct plan *p = r->plan;
	struct pkiroll_run_stats *st = r->st;
	struct pkiroll_import_stats is;
	int err;

	/* Phase: the manifest into the store, then read again to dispatch. */
	if (p->manifest != NULL) {
		if ((err = store_import(r->s, p->manifest, &p->mopts, &is, &r->refused)) !=
		    PKIROLL_OK)
			return err;
		st->rows = is.rows;
		st->bad_rows = is.bad;
		/* the second pass only needs the codes: the import validated every row */
		if ((r->m = manifest_open(NULL, p->manifest, &p->mopts, &err)) == NULL)
			return err;
		manifest_set_raw(r->m);
	} else {
		r->manifest_done = 1;
	}
	/* Phase: renew, revoke: the communities, chosen once */
	if (p->kind == JOB_RENEW && (err = renew_select(ctx, r)) != PKIROLL_OK)
		return err;
	if (p->kind == JOB_REVOKE && (err = revoke_select(ctx, r)) != PKIROLL_OK)
		return err;
	if (store_run_begin(r->s, p->verb, p->manifest, &r->run) < 0)
		return PKIROLL_ERR_STORE;
	if (pool_run(pool, &ops, r) < 0) {
		store_cmp_requests_add(r->s, r->requests, r->nrequests);
		store_run_end(r->s, r->run, "error", st->due, st->enrolled,
			      st->failed + st->needs_codes);
		return PKIROLL_ERR_STORE;
	}
	st->elapsed = (double)(base_now_ms() - r->start_ms) / 1000.0;
	if (store_cmp_requests_add(r->s, r->requests, r->nrequests) < 0)
		return PKIROLL_ERR_STORE;
	store_run_end(r->s, r->run, st->interrupted ? "interrupted" : "done", st->due, st->enrolled,
		      st->failed + st->needs_codes);
	return PKIROLL_OK;
}

/* After the run, the workers gone: the deploy hooks owed, one by one in
 * the parent (a failed one stays owed for the next run). */
static int run_deploy(pkiroll_ctx *ctx, struct run *r, struct pool **pool)
{
	struct deploy_run d = {.ctx = ctx,
			       .s = r->s,
			       .hook = deploy_hook_of(r->o, r->cfg),
			       .timeout = deploy_timeout_of(r->o, r->cfg),
			       .pass_file = r->o->pass_file,
			       .interrupted = r->o->interrupted,
			       .run = r->run,
			       .report = r->o->report,
			       .st = r->st};

	if (d.hook[0] == '\0')
		return PKIROLL_OK;
	pool_free(*pool);
	*pool = NULL;
	return deploy_owed(&d, NULL, 0);
}

/* The engine: runs a plan with the options every run shares. */
static int run_plan(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o, const struct plan *p,
		    const struct pkiroll_config *cfg, struct pkiroll_run_stats *st)
{
	struct run r = {.ctx = ctx, .o = o, .cfg = cfg, .plan = p, .st = st};
	struct pool *pool = NULL;
	struct job_run jr = {0};
	int err, jobs;
	pkiroll_lock *lock = NULL;

	memset(st, 0, sizeof(*st));
	r.start_ms = base_now_ms();
	/*
	 * No CA is a usage error, before anything else (no progress line
	 * either); but a dry run of renew or revoke reads the store only.
	 */
	if (!(o->dry_run && p->kind != JOB_ENROLL && o->ca == NULL && o->ca_url == NULL &&
	      cfg->nprofiles == 0) &&
	    (err = profiles_make(ctx, o, &r)) != PKIROLL_OK)
		return err;
	/* Phase: a manifest that cannot be read creates nothing. */
	if (p->manifest != NULL &&
	    (err = pkiroll_manifest_open_check(ctx, p->manifest, &p->mopts)) != PKIROLL_OK) {
		err = err == PKIROLL_ERR_NOMEM ? err : PKIROLL_ERR_MANIFEST;
		goto out;
	}
	if (o->dry_run) {
		err = p->manifest != NULL ? dry_run(ctx, &r) : PKIROLL_OK;
		if (err == PKIROLL_OK && p->kind != JOB_ENROLL)
			err = renew_dry_run(ctx, &r);
		goto out;
	}
	if ((err = run_check(ctx, o, p)) != PKIROLL_OK)
		goto out;

	/* Phase: workers before the store (and its lock) is opened. */
	r.nslots = jobs = run_jobs(ctx, o, &r);
	if ((r.slots = calloc((size_t)jobs, sizeof(*r.slots))) == NULL ||
	    (r.retries = calloc(MAX_RETRY_QUEUE, sizeof(*r.retries))) == NULL ||
	    run_constants(ctx, o, &r, &jr) != PKIROLL_OK) {
		err = PKIROLL_ERR_NOMEM;
		goto out;
	}
	/* one protocolEncrKey for the run, inherited by every worker: RSA-2048
	 * key generation is the dearest step of a dual-key community */
	if (p->kind != JOB_REVOKE && ((jr.kek = keys_generate(KEY_RSA2048)) == NULL ||
				      !X509_PUBKEY_set(&jr.kek_pub, jr.kek))) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "cannot make the protocolEncrKey (RSA-2048)");
		err = PKIROLL_ERR_CRYPTO;
		goto out;
	}
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
	/* Phase: the store's passphrase, or nothing is imported, sent or written. */
	if ((err = keystore_pass_guard(r.s, o->keystore_dir, o->passphrase)) != PKIROLL_OK)
		goto out;
	pkiroll_store_deploy_arm(r.s, deploy_hook_of(o, cfg)[0] != '\0');
	if ((err = run_store(ctx, &r, pool)) == PKIROLL_OK)
		err = run_deploy(ctx, &r, &pool);
out:
	pool_free(pool);
	X509_PUBKEY_free(jr.kek_pub);
	EVP_PKEY_free(jr.kek);
	free((void *)jr.profiles);
	if (o->progress)
		o->progress(o->progress_arg, st, 1);
	for (int i = 0; r.retries && i < r.nretries; i++) {
		/* left in the queue at the end: failed and retryable in the store */
		struct pkiroll_report_item *it =
			o->report ? pkiroll_report_item(o->report, r.retries[i].name) : NULL;

		if (it != NULL)
			snprintf(it->outcome, sizeof(it->outcome), "failed");
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
	free(r.requests);
	manifest_close(r.m);
	base_lineset_free(&r.refused);
	pkiroll_store_close(r.s);
	pkiroll_store_unlock(lock);
	return err;
}

/* ---- the doors: each makes its plan ---- */

/* The part of a plan every door fills the same way; *defaults stands in
 * for a missing configuration. */
static const struct pkiroll_config *plan_common(const struct pkiroll_run_opts *o,
						struct pkiroll_config *defaults, struct plan *p)
{
	const struct pkiroll_config *cfg = o->config;

	if (cfg == NULL) {
		pkiroll_config_defaults(defaults);
		cfg = defaults;
	}
	p->limit = o->limit;
	p->row_ca = o->ca ? o->ca : cfg->default_ca;
	return cfg;
}

/* The manifest part of an enroll or renew plan. */
static void plan_manifest(const struct pkiroll_enroll_opts *e, struct plan *p)
{
	p->manifest = e->manifest;
	p->mopts = e->mopts;
	p->retry_failed = e->retry_failed;
}

int pkiroll_enroll(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o,
		   const struct pkiroll_enroll_opts *e, struct pkiroll_run_stats *st)
{
	struct plan p = {.kind = JOB_ENROLL, .verb = "enroll"};
	struct pkiroll_config defaults;
	const struct pkiroll_config *cfg = plan_common(o, &defaults, &p);

	if (e->manifest == NULL) {
		memset(st, 0, sizeof(*st));
		ctx_log(ctx, PKIROLL_LOG_ERROR, "enroll: no manifest");
		return PKIROLL_ERR_USAGE;
	}
	plan_manifest(e, &p);
	return run_plan(ctx, o, &p, cfg, st);
}

int pkiroll_renew(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o,
		  const struct pkiroll_renew_opts *rn, struct pkiroll_run_stats *st)
{
	struct plan p = {.kind = JOB_RENEW, .verb = "renew"};
	struct pkiroll_config defaults;
	const struct pkiroll_config *cfg = plan_common(o, &defaults, &p);

	plan_manifest(&rn->enroll, &p);
	/* the window: --within, else the configuration's */
	p.within = rn->within.secs > 0 || rn->within.pct > 0 ? rn->within : cfg->renew_within;
	p.spread = !rn->now;
	p.names = rn->communities;
	p.nnames = rn->ncommunities;
	return run_plan(ctx, o, &p, cfg, st);
}

int pkiroll_revoke(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o,
		   const struct pkiroll_revoke_opts *rv, struct pkiroll_run_stats *st)
{
	struct plan p = {.kind = JOB_REVOKE, .verb = "revoke"};
	struct pkiroll_config defaults;
	const struct pkiroll_config *cfg = plan_common(o, &defaults, &p);

	p.names = rv->communities;
	p.nnames = rv->ncommunities;
	p.usage = rv->usage;
	p.reason = rv->reason;
	p.ref = rv->reference;
	p.code = rv->code;
	return run_plan(ctx, o, &p, cfg, st);
}
