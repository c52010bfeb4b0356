/*
 * The scheduler: which community goes out next and on which CA profile
 * (slots, rate, concurrency, the circuit breaker), in-run retries with
 * backoff, and what comes back (steps and results into the store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cmp/cmp_client.h"
#include "enroll/run.h"
#include "input/manifest.h"
#include "store/store_lifecycle.h"

static unsigned jitter(unsigned max)
{
	unsigned r = 0;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	return max ? r % max : 0;
}

static void normalize(char *code)
{
	char *w = code;

	for (const char *r = code; *r != '\0'; r++) {
		if (*r == '-' || *r == ' ')
			continue;
		*w++ = (char)(*r >= 'a' && *r <= 'z' ? *r - 'a' + 'A' : *r);
	}
	*w = '\0';
}

/* The JOB of a due community. */
static void job_of(struct job *j, int kind, const struct community *c, int prof, const char *code)
{
	memset(j, 0, sizeof(*j));
	j->id = c->id;
	j->kind = kind;
	j->profile = prof;
	snprintf(j->name, sizeof(j->name), "%s", c->name);
	snprintf(j->ref, sizeof(j->ref), "%s", c->reference);
	snprintf(j->code, sizeof(j->code), "%s", code);
	snprintf(j->subject, sizeof(j->subject), "%s", c->subject);
	snprintf(j->ksname, sizeof(j->ksname), "%s", c->keystore_dir);
	j->key_type = c->key_type;
	j->enc_key_type = c->enc_key_type;
	j->dual = c->dual;
	if (kind == JOB_RENEW)
		snprintf(j->cur_serial, sizeof(j->cur_serial), "%s", c->cur_serial);
	/* what an interrupted transaction left: the worker decides what it
	 * means (resume at certConf, or start afresh) */
	if (c->has_tx && c->tx_nonce_len > 0) {
		j->has_tx = 1;
		j->step = c->step;
		memcpy(j->tid, c->tx_id, sizeof(j->tid));
		j->nonce_len = (size_t)c->tx_nonce_len;
		memcpy(j->nonce, c->tx_nonce, j->nonce_len);
		j->pbm_len = (size_t)c->tx_pbm_len;
		memcpy(j->pbm, c->tx_pbm, j->pbm_len);
		snprintf(j->kspath, sizeof(j->kspath), "%s", c->keystore);
	}
}

/*
 * Is this community due? 1 or 0. An in-run retry (in_run) is due whatever
 * next_attempt_at says: that date is for the runs after this one.
 */
int schedule_due_community(const struct run *r, const struct community *c, int in_run)
{
	switch (c->state) {
	case PKIROLL_STATE_PENDING:
		return 1;
	case PKIROLL_STATE_ENROLLING:
	case PKIROLL_STATE_FAILED:
		if (c->state == PKIROLL_STATE_FAILED && !r->plan->retry_failed && !in_run &&
		    (!c->retryable || c->next_attempt_at > (sqlite3_int64)time(NULL)))
			return 0;
		return 1;
	default:
		return 0;
	}
}

/* Is a community chosen for renewal still due? An interrupted one is. */
static int due_renewal(const struct community *c)
{
	return c->state == PKIROLL_STATE_RENEWING || c->state == PKIROLL_STATE_ENROLLED;
}

/* Looks the community up and decides: 1 due, 0 not (or unknown), -1 error. */
static int due(struct run *r, const char *name, int in_run, struct community *c)
{
	int g = store_community_get(r->s, name, c);

	return g <= 0 ? g : schedule_due_community(r, c, in_run);
}

int schedule_profile_for(struct run *r, const char *row_ca)
{
	if (r->nprofs == 0)
		return -1; /* a dry run without a CA */
	/* --ca-url makes the one profile */
	if (r->nprofs == 1)
		return 0;
	if (row_ca == NULL || *row_ca == '\0')
		row_ca = r->plan->row_ca;
	if (*row_ca == '\0')
		return 0;
	for (int i = 0; i < r->nprofs; i++)
		if (strcmp(r->profs[i].p.name, row_ca) == 0)
			return i;
	return -1;
}

/* Can profile i take a job now? */
static int profile_ready(struct run *r, int i)
{
	struct profile *p = &r->profs[i];

	if (p->inflight >= (p->cap > 0 && p->cap < p->p.concurrency ? p->cap : p->p.concurrency))
		return 0;
	if (p->p.rate > 0 && base_now_ms() < p->next_ms)
		return 0;
	if (base_now_ms() < p->limited_until)
		return 0;
	return 1;
}

static struct slot *free_slot(struct run *r)
{
	for (int i = 0; i < r->nslots; i++)
		if (!r->slots[i].used)
			return &r->slots[i];
	return NULL;
}

static struct slot *find_slot(struct run *r, long long id)
{
	for (int i = 0; i < r->nslots; i++)
		if (r->slots[i].used && r->slots[i].id == id)
			return &r->slots[i];
	return NULL;
}

/* Makes a job of a due candidate. 1 job made, 0 not due or skipped, -1 error. */
static int dispatch(struct run *r, const struct retry *cand, struct wbuf *job, long long *id)
{
	struct community c;
	struct revoke_target tg[2];
	struct slot *sl;
	int d, ntg = 0;
	struct profile *p = &r->profs[cand->prof];

	if (cand->kind == JOB_RENEW) {
		d = store_community_get(r->s, cand->name, &c);
		if (d > 0)
			d = due_renewal(&c);
	} else if (cand->kind == JOB_REVOKE) {
		d = store_community_get(r->s, cand->name, &c);
		if (d > 0 && store_revoke_targets(r->s, c.id, r->plan->usage, tg, &ntg) < 0)
			d = -1;
		for (int i = 0; d > 0 && i < ntg; i++)
			if (tg[i].revoked_at)
				tg[i--] = tg[--ntg]; /* revoked already: not asked again */
		if (d > 0 && ntg == 0)
			d = 0;
	} else {
		d = due(r, cand->name, cand->attempts > 0, &c);
	}
	if (d <= 0)
		return d;
	if ((sl = free_slot(r)) == NULL)
		return -1;
	{
		struct job j;

		job_of(&j, cand->kind, &c, cand->prof, cand->code);
		if (cand->kind == JOB_REVOKE) {
			for (int i = 0; i < ntg; i++)
				snprintf(strcmp(tg[i].usage, "signing") == 0 ? j.revoke_sign
									     : j.revoke_enc,
					 sizeof(j.revoke_sign), "%s", tg[i].serial);
			j.revoke_reason = r->plan->reason;
			if (r->plan->ref != NULL && r->plan->code != NULL) {
				snprintf(j.ref, sizeof(j.ref), "%s", r->plan->ref);
				snprintf(j.code, sizeof(j.code), "%s", r->plan->code);
			}
		}
		job_write(job, &j);
		OPENSSL_cleanse(&j, sizeof(j));
	}
	if (!wbuf_ok(job))
		return -1;
	memset(sl, 0, sizeof(*sl));
	sl->used = 1;
	sl->kind = cand->kind;
	sl->renew_failures = c.renew_failures;
	sl->id = c.id;
	sl->prof = cand->prof;
	sl->attempts = cand->attempts + 1;
	sl->limited = cand->limited;
	sl->started_ms = base_now_ms();
	snprintf(sl->name, sizeof(sl->name), "%s", c.name);
	memcpy(sl->code, cand->code, sizeof(sl->code));
	p->inflight++;
	if (p->p.rate > 0)
		p->next_ms = base_now_ms() + (long long)(1000.0 / p->p.rate);
	*id = c.id;
	r->st->in_flight++;
	if (cand->attempts == 0)
		r->st->due++;
	ctx_log(r->ctx, PKIROLL_LOG_DEBUG, "%s: %s via %s%s", c.name,
		cand->kind == JOB_RENEW	   ? "renewing"
		: cand->kind == JOB_REVOKE ? "revoking"
					   : "enrolling",
		p->p.url, c.has_tx ? " (an interrupted transaction to settle first)" : "");
	return 1;
}

void schedule_skip(struct run *r, const char *name, const char *why)
{
	struct pkiroll_report_item *it;

	r->st->skipped++;
	if (r->o->report == NULL || (it = pkiroll_report_item(r->o->report, name)) == NULL)
		return;
	snprintf(it->outcome, sizeof(it->outcome), "skipped");
	snprintf(it->reason, sizeof(it->reason), "%s", why);
}

/* A due community not sent because its CA profile is paused. */
static void paused_skip(struct run *r, const char *name)
{
	schedule_skip(r, name, "its CA profile is paused for this run");
	ctx_log(r->ctx, PKIROLL_LOG_INFO, "%s: skipped: its CA profile is paused for this run",
		name);
}

/* The renewal phase of schedule_next_job: the communities chosen at the start. */
static int next_renewal(struct run *r, struct wbuf *job, long long *id)
{
	while (r->renew_next < r->nrenew) {
		struct retry cand = {.kind = r->plan->kind};
		struct community c;
		int prof, d;

		snprintf(cand.name, sizeof(cand.name), "%s", r->renew[r->renew_next].name);
		if ((d = store_community_get(r->s, cand.name, &c)) < 0)
			return -1;
		if (d == 0 || (prof = schedule_profile_for(r, c.ca)) < 0) {
			if (d > 0) {
				ctx_log(r->ctx, PKIROLL_LOG_ERROR,
					"%s: CA profile \"%s\" is not in the configuration; not "
					"renewed",
					c.name, c.ca);
				schedule_skip(r, c.name,
					      "its CA profile is not in the configuration");
			}
			r->renew_next++;
			continue;
		}
		cand.prof = prof;
		if (r->profs[prof].paused) {
			paused_skip(r, cand.name);
			r->renew_next++;
			continue;
		}
		if (!profile_ready(r, prof))
			return 0;
		r->renew_next++;
		if ((d = dispatch(r, &cand, job, id)) != 0)
			return d;
	}
	return r->nretries > 0 ? 0 : -1;
}

/* pool_ops.next_job */
int schedule_next_job(void *arg, struct wbuf *job, long long *id)
{
	struct run *r = arg;
	const struct manifest_row *row;
	long long now = base_now_ms();
	int d;

	if (r->stopping)
		return -1;
	/*
	 * Phase: in-run retries whose time has come. A paused profile's are
	 * dropped: they stay failed (and retryable) in the store, and are
	 * counted as failed, so the run can end.
	 */
	for (int i = 0; i < r->nretries; i++) {
		struct retry *q = &r->retries[i];
		int paused = r->profs[q->prof].paused;

		if (!paused && (q->due_ms > now || !profile_ready(r, q->prof)))
			continue;
		d = paused ? 0 : dispatch(r, q, job, id);
		if (d == 0) {
			/* not sent: it ends the run failed, and says so */
			r->st->failed++;
			ctx_log(r->ctx, PKIROLL_LOG_ERROR, "%s: failed: %s", q->name,
				paused ? "not retried: its CA profile is paused" : "no longer due");
		}
		OPENSSL_cleanse(q->code, sizeof(q->code));
		r->retries[i] = r->retries[--r->nretries];
		if (d != 0)
			return d;
		i--;
	}

	/* Phase: the manifest, one row at a time. */
	for (;;) {
		struct retry cand = {.kind = JOB_ENROLL};
		char why[256];
		int prof, got;

		if (r->held) {
			if (r->profs[r->held_row.prof].paused) {
				struct community c;
				r->held = 0;
				if (due(r, r->held_row.name, 0, &c) == 1)
					paused_skip(r, r->held_row.name);
				OPENSSL_cleanse(&r->held_row, sizeof(r->held_row));
				continue;
			}
			if (!profile_ready(r, r->held_row.prof))
				return 0;
			r->held = 0;
			d = dispatch(r, &r->held_row, job, id);
			OPENSSL_cleanse(&r->held_row, sizeof(r->held_row));
			if (d != 0)
				return d;
			continue;
		}
		if (r->manifest_done || (r->plan->limit && r->st->due >= r->plan->limit))
			return next_renewal(r, job, id);
		got = manifest_next_row(r->m, &row);
		if (got < 0)
			return -1;
		if (got == 0) {
			r->manifest_done = 1;
			continue;
		}
		if (row->bad || base_lineset_has(&r->refused, row->line))
			continue;
		if ((prof = schedule_profile_for(r, row->ca)) < 0) {
			ctx_log(r->ctx, PKIROLL_LOG_ERROR,
				"%s: CA profile \"%s\" is not in the configuration; skipped",
				row->community, row->ca);
			schedule_skip(r, row->community,
				      "its CA profile is not in the configuration");
			continue;
		}
		snprintf(cand.name, sizeof(cand.name), "%s", row->community);
		cand.prof = prof;
		if (manifest_resolve_code(row->authcode, r->plan->mopts.insecure_code_files,
					  cand.code, sizeof(cand.code), why, sizeof(why)) < 0) {
			struct community c;
			/* only a due community needs its code */
			if (due(r, row->community, 0, &c) == 1) {
				ctx_log(r->ctx, PKIROLL_LOG_ERROR,
					"%s: authorization_code: %s; skipped", row->community, why);
				schedule_skip(r, row->community,
					      "its authorization_code cannot be read");
			}
			continue;
		}
		if (r->profs[prof].p.normalize_codes)
			normalize(cand.code);
		if (r->profs[prof].paused) {
			struct community c;
			if (due(r, row->community, 0, &c) == 1)
				paused_skip(r, row->community);
			OPENSSL_cleanse(cand.code, sizeof(cand.code));
			continue;
		}
		if (!profile_ready(r, prof)) {
			r->held_row = cand;
			r->held = 1;
			OPENSSL_cleanse(cand.code, sizeof(cand.code));
			return 0;
		}
		d = dispatch(r, &cand, job, id);
		OPENSSL_cleanse(cand.code, sizeof(cand.code));
		if (d != 0)
			return d;
	}
}

/* pool_ops.on_step: recorded before the worker goes on. Matched by the
 * worker's report_step(). A request or certConf about to go out to a CA
 * that asked to wait (Retry-After) waits in the worker until then: the
 * ACK says how long. */
int schedule_on_step(void *arg, long long id, struct wbuf *msg, struct wbuf *ack)
{
	struct run *r = arg;
	struct slot *sl = find_slot(r, id);
	struct step st;

	if (job_step_read(msg, &st) < 0) {
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "malformed STEP frame from a worker");
		return -1;
	}
	if (sl != NULL)
		sl->step = st.step;
	if (sl != NULL && (st.step == CMP_STEP_REQUEST || st.step == CMP_STEP_CONFIRM)) {
		long long wait = r->profs[sl->prof].limited_until - base_now_ms();

		if (wait > 0)
			job_ack_write(ack, wait);
	}
	if (sl != NULL && sl->kind == JOB_REVOKE) {
		/* the rr is about to go out: on record first */
		struct revoke_target tg[2];
		int n = 0;

		if (st.step != CMP_STEP_REQUEST)
			return 0;
		if (store_revoke_targets(r->s, id, r->plan->usage, tg, &n) < 0)
			return -1;
		for (int i = 0; i < n; i++)
			if (tg[i].revoked_at)
				tg[i--] = tg[--n];
		return store_revoke_requested(r->s, r->run, id, tg, n,
					      pkiroll_revocation_reason_name(r->plan->reason));
	}
	/*
	 * The store is WAL with synchronous = NORMAL: a commit survives a
	 * crash of this process, but a power loss may take back the last ones
	 * until the WAL is synced. Two steps must survive it, so theirs is
	 * synced before the worker goes on: keys (the keystore is on disk and
	 * the certConf goes out next: the next run must confirm it, not send
	 * a second ir with spent codes), and request under implicitConfirm
	 * (the ir may spend the codes for good: no second one on our own).
	 * A later commit lost (confirm, the result) only sends the certConf
	 * again, which the resume rule allows.
	 */
	return store_step_save(
		r->s, r->run, id, sl != NULL && sl->kind == JOB_RENEW, st.step, st.tid, st.nonce,
		st.nonce_len, st.pbm, st.pbm_len, st.kspath[0] ? st.kspath : NULL,
		st.step == CMP_STEP_KEYS || (st.step == CMP_STEP_REQUEST && sl != NULL &&
					     r->profs[sl->prof].p.implicit_confirm));
}

static void queue_retry(struct run *r, struct slot *sl, int limited)
{
	struct retry *q;
	unsigned base;

	if (r->nretries == MAX_RETRY_QUEUE || r->stopping)
		return;
	q = &r->retries[r->nretries++];
	base = 1000u << (sl->attempts < 5 ? sl->attempts : 5);
	q->due_ms = base_now_ms() + base / 2 + jitter(base);
	q->prof = sl->prof;
	q->kind = sl->kind;
	q->attempts = sl->attempts;
	q->limited = sl->limited;
	if (limited) {
		/* not an attempt: the CA never saw it; due when the limit ends */
		q->attempts--;
		q->limited++;
		q->due_ms = r->profs[sl->prof].limited_until + jitter(500);
	}
	memcpy(q->name, sl->name, sizeof(q->name));
	memcpy(q->code, sl->code, sizeof(q->code));
	r->st->retries++;
}

/*
 * The CA (or a limiter in front of it) answered HTTP 429/503: no request
 * to this profile before its Retry-After, or a doubling pause without
 * one; fewer in flight while it lasts. Not a failure of the CA: the
 * circuit breaker does not count it.
 */
static void rate_limited(struct run *r, struct profile *p, int retry_after)
{
	long long pause = retry_after >= 0 ? (long long)retry_after * 1000
					   : 1000LL << (p->limited < 6 ? p->limited : 6);
	int cap = p->cap > 0 ? p->cap : p->p.concurrency;

	p->limited++;
	if (base_now_ms() + pause > p->limited_until)
		p->limited_until = base_now_ms() + pause;
	p->cap = cap > 1 ? cap / 2 : 1;
	ctx_log(r->ctx, PKIROLL_LOG_WARN,
		"CA profile %s: rate limited; no request before %lld ms from now%s, at most %d "
		"in flight",
		p->p.name[0] ? p->p.name : p->p.url, p->limited_until - base_now_ms(),
		retry_after >= 0 ? " (Retry-After)" : "", p->cap);
}

/* The CA's failInfo bits by name, comma-separated, into fi. */
static void failinfo_names(unsigned long failbits, char *fi, size_t filen)
{
	size_t len = 0;

	fi[0] = '\0';
	for (int bit = 0; bit < 32 && failbits >> bit; bit++)
		if ((failbits & (1UL << bit)) && cmp_failinfo_name(bit) != NULL && len < filen)
			len += (size_t)snprintf(fi + len, filen - len, "%s%s", len ? "," : "",
						cmp_failinfo_name(bit));
}

/* The run's report (when asked for): what this slot's end means for its
 * community; a later try of it overwrites the outcome. */
static void report(struct run *r, const struct slot *sl, const struct enroll_outcome *o,
		   const char *outcome)
{
	struct pkiroll_report_item *it;

	if (r->o->report == NULL || (it = pkiroll_report_item(r->o->report, sl->name)) == NULL)
		return;
	snprintf(it->outcome, sizeof(it->outcome), "%s", outcome);
	snprintf(it->reason, sizeof(it->reason), "%s", o->reason ? o->reason : "");
	failinfo_names(sl->failbits, it->failinfo, sizeof(it->failinfo));
	it->serials[0] = '\0';
	if (o->sign.der != NULL && o->sign.have_info)
		snprintf(it->serials, sizeof(it->serials), "%s", o->sign.info.serial);
	if (o->enc.der != NULL && o->enc.have_info)
		snprintf(it->serials + strlen(it->serials),
			 sizeof(it->serials) - strlen(it->serials), "%s%s",
			 it->serials[0] ? " " : "", o->enc.info.serial);
	it->duration += (double)(base_now_ms() - sl->started_ms) / 1000.0;
	it->retries = sl->attempts > 1 ? sl->attempts - 1 : 0;
}

/* Closes a slot with an outcome; counts, retries, circuit breaker. */
static int finish(struct run *r, struct slot *sl, int fault, int transient,
		  struct enroll_outcome *o, int retry)
{
	struct profile *p = &r->profs[sl->prof];
	int limited = fault == CMP_F_RATELIMIT;
	/* recorded with its certificates (an unproven confirmation with a
	 * warning): no retry, counted as done */
	int issued = fault == CMP_OK || fault == CMP_F_UNCONFIRMED;

	if (limited) {
		retry = !r->stopping && sl->limited < MAX_RATE_LIMITED;
		transient = 0;
	} else if (fault == CMP_OK && p->cap > 0) {
		/* the limit has passed: widen again, one at a time */
		p->limited = 0;
		if (++p->cap >= p->p.concurrency)
			p->cap = 0;
	}
	if (transient) {
		if (++p->consecutive >= p->p.breaker && !p->paused) {
			p->paused = 1;
			ctx_log(r->ctx, PKIROLL_LOG_ERROR,
				"CA profile %s paused for the rest of this run after %d "
				"consecutive transient failures",
				p->p.name[0] ? p->p.name : p->p.url, p->consecutive);
		}
		retry = !p->paused && sl->attempts <= p->p.retries;
		if (o->next_attempt_at == 0)
			o->next_attempt_at = (sqlite3_int64)time(NULL) + 60 + jitter(60);
	} else if (fault != CMP_F__MAX && !limited) {
		p->consecutive = 0;
	}
	if (o->state == PKIROLL_STATE_NEEDS_CODES)
		o->code = sl->code; /* hashed: a new code in the manifest is recognised */
	if (sl->kind == JOB_REVOKE
		    ? store_revoke_answered(r->s, r->run, sl->id,
					    o->state == PKIROLL_STATE_NEEDS_CODES ? REVOKE_DONE
					    : retry || o->retryable		  ? REVOKE_RETRY
										  : REVOKE_REFUSED,
					    o->reason) < 0
		    : store_result_save(r->s, r->run, sl->id, o) < 0)
		return -1;
	report(r, sl, o,
	       sl->kind == JOB_REVOKE && o->state == PKIROLL_STATE_NEEDS_CODES ? "revoked"
	       : issued && sl->kind == JOB_RENEW			       ? "renewed"
	       : issued							       ? "enrolled"
	       : retry							       ? "retrying"
	       : o->state == PKIROLL_STATE_NEEDS_CODES			       ? "needs_codes"
									       : "failed");
	if (sl->kind == JOB_REVOKE && o->state == PKIROLL_STATE_NEEDS_CODES)
		r->st->revoked++;
	else if (issued && sl->kind == JOB_RENEW)
		r->st->renewed++;
	else if (issued)
		r->st->enrolled++;
	else if (retry)
		queue_retry(r, sl, limited);
	else if (o->state == PKIROLL_STATE_NEEDS_CODES)
		r->st->needs_codes++;
	else
		r->st->failed++;
	if (sl->kind == JOB_REVOKE)
		ctx_log(r->ctx,
			o->state == PKIROLL_STATE_NEEDS_CODES ? PKIROLL_LOG_INFO
			: retry				      ? PKIROLL_LOG_WARN
							      : PKIROLL_LOG_ERROR,
			"%s: %s%s: %s", sl->name,
			o->state == PKIROLL_STATE_NEEDS_CODES ? "revoked" : "not revoked",
			retry ? " (will retry)" : "", o->reason);
	else if (issued && o->attention != NULL)
		ctx_log(r->ctx, PKIROLL_LOG_WARN, "%s: %s, %s", sl->name,
			sl->kind == JOB_RENEW ? "renewed" : "enrolled", o->attention);
	else if (!issued)
		ctx_log(r->ctx, retry ? PKIROLL_LOG_WARN : PKIROLL_LOG_ERROR, "%s: %s%s%s",
			sl->name,
			sl->kind == JOB_RENEW && o->state != PKIROLL_STATE_NEEDS_CODES
				? "renewal failed"
				: pkiroll_state_name(o->state),
			retry ? " (will retry): " : ": ", o->reason);
	p->inflight--;
	r->st->in_flight--;
	OPENSSL_cleanse(sl->code, sizeof(sl->code));
	sl->used = 0;
	return 0;
}

/* Counts a job's CMP request for the store's counter (written at the end
 * of the run); out of memory, it goes uncounted. */
static void count_request(struct run *r, int kind, int fault, unsigned long failbits)
{
	const char *op = outcome_operation(kind), *result = outcome_request_result(fault);
	char fi[sizeof(r->requests[0].failinfo)];
	size_t i;

	failinfo_names(failbits, fi, sizeof(fi));
	for (i = 0; i < r->nrequests; i++)
		if (r->requests[i].operation == op && r->requests[i].result == result &&
		    strcmp(r->requests[i].failinfo, fi) == 0)
			break;
	if (i == r->nrequests) {
		if (BASE_GROW(r->requests, r->caprequests, i + 1) < 0)
			return;
		r->requests[i] = (struct store_cmp_count){.operation = op, .result = result};
		snprintf(r->requests[i].failinfo, sizeof(r->requests[i].failinfo), "%s", fi);
		r->nrequests++;
	}
	r->requests[i].n++;
}

/* pool_ops.on_death: the job's worker is gone; the community is not. */
void schedule_on_death(void *arg, long long id, int status)
{
	struct run *r = arg;
	struct slot *sl = find_slot(r, id);
	struct enroll_outcome o = {.state = PKIROLL_STATE_FAILED, .retryable = 1};
	char text[300];

	if (sl == NULL)
		return;
	if (WIFSIGNALED(status))
		snprintf(text, sizeof(text), "the worker was killed by signal %d%s%s%s",
			 WTERMSIG(status), sl->step ? " after step \"" : "",
			 sl->step ? cmp_step_name(sl->step) : "", sl->step ? "\"" : "");
	else
		snprintf(text, sizeof(text), "the worker exited with status %d%s%s%s",
			 WEXITSTATUS(status), sl->step ? " after step \"" : "",
			 sl->step ? cmp_step_name(sl->step) : "", sl->step ? "\"" : "");
	o.reason = text;
	o.count_attempt = sl->step > CMP_STEP_NONE;
	o.next_attempt_at = (sqlite3_int64)time(NULL);
	if (sl->kind == JOB_RENEW) {
		/* the current keystore is untouched; an open kur is settled next */
		o.state =
			sl->step > CMP_STEP_NONE ? PKIROLL_STATE_RENEWING : PKIROLL_STATE_ENROLLED;
		o.renew = 2;
		o.count_attempt = 0;
	}
	count_request(r, sl->kind, CMP_F__MAX, 0);
	/* a lost worker is retried once in this run */
	if (finish(r, sl, CMP_F__MAX, 0, &o, !r->stopping && sl->attempts <= 1) < 0)
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "%s: cannot record the lost worker", sl->name);
}

int schedule_on_result(void *arg, long long id, struct wbuf *msg)
{
	struct run *r = arg;
	struct slot *sl = find_slot(r, id);
	struct enroll_outcome o = {.count_attempt = 1};
	struct result res;
	char text[1400];
	int transient, rc;

	if (sl == NULL) {
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "RESULT for a job not in flight");
		return -1;
	}
	if (job_result_read(msg, &res) < 0) {
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "malformed RESULT frame from a worker");
		return -1;
	}
	for (int i = 0; i < res.nchain; i++) {
		o.chain[i] = res.chain[i];
		o.chain_len[i] = res.chain_len[i];
	}
	o.nchain = res.nchain;
	o.subject_changed = res.subject_changed;

	count_request(r, sl->kind, res.fault, res.failbits);
	sl->failbits = res.failbits;
	if (res.fault == CMP_F_RATELIMIT)
		rate_limited(r, &r->profs[sl->prof], res.retry_after);
	if (sl->kind == JOB_RENEW)
		outcome_renew(&res, sl->renew_failures, &o, text, sizeof(text), &transient);
	else if (sl->kind == JOB_REVOKE)
		outcome_revoke(&res, r->plan->reason, &o, text, sizeof(text), &transient);
	else
		outcome_enroll(&res, &o, text, sizeof(text), &transient);
	rc = finish(r, sl, res.fault, transient, &o, 0);
	job_result_clear(&res);
	return rc;
}
