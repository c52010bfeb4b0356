/*
 * pkiroll enroll: the orchestration. Workers are forked first, then the
 * store is opened and the manifest imported; the manifest is then read a
 * second time as a stream and every due community becomes a job, so memory
 * does not grow with the manifest. The parent is the only store writer:
 * one transaction per step and per result.
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

#include "x509/certinfo.h"
#include "cmp/cmp_client.h"
#include "enroll/job.h"
#include "input/manifest.h"
#include "enroll/pool.h"
#include "store/store_enroll.h"

#define STOP_GRACE_MS 120000 /* in-flight transactions after the first signal */
#define MAX_RETRY_QUEUE 4096

struct profile {
	struct pkiroll_ca_profile p;
	int inflight;
	int consecutive; /* transient failures in a row */
	int paused;
	long long next_ms; /* rate limit */
};

struct slot { /* a job in flight */
	long long id;
	int used;
	int prof;
	int step;
	int attempts; /* in this run */
	char name[256];
	char code[512];
};

struct retry {
	long long due_ms;
	int prof;
	int attempts;
	char name[256];
	char code[512];
};

struct run {
	pkiroll_ctx *ctx;
	const struct pkiroll_enroll_opts *o;
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
	struct pkiroll_enroll_stats *st;
	long long start_ms, stop_ms, last_progress;
	int stopping;
};

static unsigned jitter(unsigned max)
{
	unsigned r = 0;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	return max ? r % max : 0;
}

/* ---- the lock ---- */

static int lock_store(pkiroll_ctx *ctx, const char *db, int *fdp)
{
	char path[1100], buf[32];
	int fd;

	snprintf(path, sizeof(path), "%s.lock", db);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", path, strerror(errno));
		return PKIROLL_ERR_IO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"store %s is in use by another pkiroll run (pid %s); wait for it or stop "
			"it",
			db, buf[0] ? buf : "unknown");
		close(fd);
		return PKIROLL_ERR_LOCKED;
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, strlen(buf), 0) < 0) {
		/* the lock holds without the pid; it only helps the message */
	}
	*fdp = fd;
	return PKIROLL_OK;
}

/* ---- jobs ---- */

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
static void job_of(struct job *j, const struct community *c, int prof, const char *code, int resume)
{
	memset(j, 0, sizeof(*j));
	j->id = c->id;
	j->kind = JOB_ENROLL;
	j->profile = prof;
	snprintf(j->name, sizeof(j->name), "%s", c->name);
	snprintf(j->ref, sizeof(j->ref), "%s", c->reference);
	snprintf(j->code, sizeof(j->code), "%s", code);
	snprintf(j->subject, sizeof(j->subject), "%s", c->subject);
	snprintf(j->ksname, sizeof(j->ksname), "%s", c->keystore_dir);
	j->key_type = c->key_type;
	j->enc_key_type = c->enc_key_type;
	j->dual = c->dual;
	if (resume) {
		j->resume = 1;
		memcpy(j->tid, c->tx_id, sizeof(j->tid));
		j->nonce_len = (size_t)c->tx_nonce_len;
		memcpy(j->nonce, c->tx_nonce, j->nonce_len);
		j->pbm_len = (size_t)c->tx_pbm_len;
		memcpy(j->pbm, c->tx_pbm, j->pbm_len);
		snprintf(j->kspath, sizeof(j->kspath), "%s", c->keystore);
	}
}

/*
 * Is this community due, and does it resume? 1 or 0. An in-run retry
 * (in_run) is due whatever next_attempt_at says: that date is for the
 * runs after this one.
 */
static int due_community(const struct run *r, const struct community *c, int in_run, int *resume)
{
	*resume = 0;
	switch (c->state) {
	case PKIROLL_STATE_PENDING:
		return 1;
	case PKIROLL_STATE_ENROLLING:
	case PKIROLL_STATE_FAILED:
		if (c->state == PKIROLL_STATE_FAILED && !r->o->retry_failed && !in_run &&
		    (!c->retryable || c->next_attempt_at > (sqlite3_int64)time(NULL)))
			return 0;
		*resume = c->has_tx && c->keystore[0] != '\0' && c->tx_nonce_len > 0 &&
			  (c->step == CMP_STEP_KEYS || c->step == CMP_STEP_CONFIRM);
		return 1;
	default:
		return 0;
	}
}

/* Looks the community up and decides: 1 due, 0 not (or unknown), -1 error. */
static int due(struct run *r, const char *name, int in_run, struct community *c, int *resume)
{
	int g = store_community_get(r->s, name, c);

	*resume = 0;
	return g <= 0 ? g : due_community(r, c, in_run, resume);
}

static int profile_for(struct run *r, const char *row_ca)
{
	if (r->o->ca_url != NULL || r->nprofs == 1)
		return 0;
	if (row_ca == NULL || *row_ca == '\0')
		row_ca = r->o->ca ? r->o->ca : (r->o->config ? r->o->config->default_ca : "");
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

	if (p->inflight >= p->p.concurrency)
		return 0;
	if (p->p.rate > 0 && now_ms() < p->next_ms)
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
	struct slot *sl;
	int resume, d = due(r, cand->name, cand->attempts > 0, &c, &resume);
	struct profile *p = &r->profs[cand->prof];

	if (d <= 0)
		return d;
	if ((sl = free_slot(r)) == NULL)
		return -1;
	{
		struct job j;

		job_of(&j, &c, cand->prof, cand->code, resume);
		job_write(job, &j);
		OPENSSL_cleanse(&j, sizeof(j));
	}
	if (!wbuf_ok(job))
		return -1;
	memset(sl, 0, sizeof(*sl));
	sl->used = 1;
	sl->id = c.id;
	sl->prof = cand->prof;
	sl->attempts = cand->attempts + 1;
	snprintf(sl->name, sizeof(sl->name), "%s", c.name);
	memcpy(sl->code, cand->code, sizeof(sl->code));
	p->inflight++;
	if (p->p.rate > 0)
		p->next_ms = now_ms() + (long long)(1000.0 / p->p.rate);
	*id = c.id;
	r->st->in_flight++;
	if (cand->attempts == 0)
		r->st->due++;
	ctx_log(r->ctx, PKIROLL_LOG_DEBUG, "%s: %s via %s", c.name,
		resume ? "resuming at certConf" : "enrolling", p->p.url);
	return 1;
}

/* A due community not sent because its CA profile is paused. */
static void paused_skip(struct run *r, const char *name)
{
	r->st->skipped++;
	ctx_log(r->ctx, PKIROLL_LOG_INFO, "%s: skipped: its CA profile is paused for this run",
		name);
}

/* pool_ops.next_job */
static int next_job(void *arg, struct wbuf *job, long long *id)
{
	struct run *r = arg;
	const struct manifest_row *row;
	long long now = now_ms();
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
		struct retry cand = {0};
		char why[256];
		int prof, got;

		if (r->held) {
			if (r->profs[r->held_row.prof].paused) {
				struct community c;
				int resume;

				r->held = 0;
				if (due(r, r->held_row.name, 0, &c, &resume) == 1)
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
		if (r->manifest_done || (r->o->limit && r->st->due >= r->o->limit))
			return r->nretries > 0 ? 0 : -1;
		got = manifest_next_row(r->m, &row);
		if (got < 0)
			return -1;
		if (got == 0) {
			r->manifest_done = 1;
			continue;
		}
		if (row->bad)
			continue;
		if ((prof = profile_for(r, row->ca)) < 0) {
			ctx_log(r->ctx, PKIROLL_LOG_ERROR,
				"%s: CA profile \"%s\" is not in the configuration; skipped",
				row->community, row->ca);
			r->st->skipped++;
			continue;
		}
		snprintf(cand.name, sizeof(cand.name), "%s", row->community);
		cand.prof = prof;
		if (manifest_resolve_code(row->authcode, r->o->mopts.insecure_code_files, cand.code,
					  sizeof(cand.code), why, sizeof(why)) < 0) {
			struct community c;
			int resume;

			/* only a due community needs its code */
			if (due(r, row->community, 0, &c, &resume) == 1) {
				ctx_log(r->ctx, PKIROLL_LOG_ERROR,
					"%s: authorization_code: %s; skipped", row->community, why);
				r->st->skipped++;
			}
			continue;
		}
		if (r->profs[prof].p.normalize_codes)
			normalize(cand.code);
		if (r->profs[prof].paused) {
			struct community c;
			int resume;

			if (due(r, row->community, 0, &c, &resume) == 1)
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
 * worker's report_step(). */
static int on_step(void *arg, long long id, struct wbuf *msg)
{
	struct run *r = arg;
	struct slot *sl = find_slot(r, id);
	struct step st;

	if (step_read(msg, &st) < 0) {
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "malformed STEP frame from a worker");
		return -1;
	}
	if (sl != NULL)
		sl->step = st.step;
	return store_step_save(r->s, r->run, id, st.step, st.tid, st.nonce, st.nonce_len, st.pbm,
			       st.pbm_len, st.kspath[0] ? st.kspath : NULL);
}

static void queue_retry(struct run *r, struct slot *sl)
{
	struct retry *q;
	unsigned base;

	if (r->nretries == MAX_RETRY_QUEUE || r->stopping)
		return;
	q = &r->retries[r->nretries++];
	base = 1000u << (sl->attempts < 5 ? sl->attempts : 5);
	q->due_ms = now_ms() + base / 2 + jitter(base);
	q->prof = sl->prof;
	q->attempts = sl->attempts;
	memcpy(q->name, sl->name, sizeof(q->name));
	memcpy(q->code, sl->code, sizeof(q->code));
	r->st->retries++;
}

/* Closes a slot with an outcome; counts, retries, circuit breaker. */
static int finish(struct run *r, struct slot *sl, int fault, int transient,
		  struct enroll_outcome *o, int retry)
{
	struct profile *p = &r->profs[sl->prof];

	if (transient) {
		if (++p->consecutive >= p->p.breaker && !p->paused) {
			p->paused = 1;
			ctx_log(r->ctx, PKIROLL_LOG_ERROR,
				"CA profile %s paused for the rest of this run after %d "
				"consecutive transient failures",
				p->p.name[0] ? p->p.name : p->p.url, p->consecutive);
		}
		retry = !p->paused && sl->attempts <= p->p.retries;
		o->next_attempt_at = (sqlite3_int64)time(NULL) + 60 + jitter(60);
	} else if (fault != CMP_F__MAX) {
		p->consecutive = 0;
	}
	if (o->state == PKIROLL_STATE_NEEDS_CODES)
		o->code = sl->code; /* hashed: a new code in the manifest is recognised */
	if (store_result_save(r->s, r->run, sl->id, o) < 0)
		return -1;
	if (o->state == PKIROLL_STATE_ENROLLED)
		r->st->enrolled++;
	else if (retry)
		queue_retry(r, sl);
	else if (o->state == PKIROLL_STATE_NEEDS_CODES)
		r->st->needs_codes++;
	else
		r->st->failed++;
	if (o->state != PKIROLL_STATE_ENROLLED)
		ctx_log(r->ctx, retry ? PKIROLL_LOG_WARN : PKIROLL_LOG_ERROR, "%s: %s%s%s",
			sl->name, pkiroll_state_name(o->state), retry ? " (will retry): " : ": ",
			o->reason);
	p->inflight--;
	r->st->in_flight--;
	OPENSSL_cleanse(sl->code, sizeof(sl->code));
	sl->used = 0;
	return 0;
}

#define CODE_BITS                                                                                  \
	((1UL << OSSL_CMP_PKIFAILUREINFO_notAuthorized) |                                          \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_badMessageCheck) |                                        \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_signerNotTrusted) |                                       \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_badRequest))

static int on_result(void *arg, long long id, struct wbuf *msg)
{
	struct run *r = arg;
	struct slot *sl = find_slot(r, id);
	struct enroll_outcome o = {.count_attempt = 1};
	struct result res;
	char text[1400];
	const char *reason = res.reason;
	int fault, transient = 0, rc;
	unsigned long bits;

	if (sl == NULL) {
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "RESULT for a job not in flight");
		return -1;
	}
	if (result_read(msg, &res) < 0) {
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "malformed RESULT frame from a worker");
		return -1;
	}
	fault = res.fault;
	bits = res.failbits;
	for (int i = 0; i < res.nchain; i++) {
		o.chain[i] = res.chain[i];
		o.chain_len[i] = res.chain_len[i];
	}
	o.nchain = res.nchain;
	o.subject_changed = res.subject_changed;

	/* Phase: what the fault means for the community. */
	o.keystore = res.kspath[0] ? res.kspath : NULL;
	switch (fault) {
	case CMP_OK:
		o.state = PKIROLL_STATE_ENROLLED;
		o.sign = res.sign;
		o.enc = res.enc;
		break;
	case CMP_F_TRANSIENT:
	case CMP_F_WAITING:
		o.state = PKIROLL_STATE_FAILED;
		o.retryable = 1;
		transient = 1;
		snprintf(text, sizeof(text), "%s: %s", cmp_fault_name(fault), reason);
		break;
	case CMP_F_BADMAC:
		o.state = PKIROLL_STATE_NEEDS_CODES;
		snprintf(
			text, sizeof(text),
			"the CA did not accept the authorization code (MAC): new codes are needed; "
			"not retried, as retries can lock the CA user (%s)",
			reason);
		break;
	case CMP_F_REJECTED:
		if (bits & CODE_BITS) {
			o.state = PKIROLL_STATE_NEEDS_CODES;
			snprintf(text, sizeof(text),
				 "the CA refused the activation codes (used already, unknown or "
				 "wrong): "
				 "new codes are needed (%s)",
				 reason);
		} else {
			o.state = PKIROLL_STATE_FAILED;
			snprintf(text, sizeof(text), "rejected by the CA, not retried: %s", reason);
		}
		break;
	case JOB_F_KEYSTORE:
		/* a local fault: the next run may succeed once the disk is fixed */
		o.state = PKIROLL_STATE_FAILED;
		o.retryable = 1;
		snprintf(text, sizeof(text), "keystore not written: %s", reason);
		break;
	case CMP_F_CONFIG:
	case CMP_F_PROTOCOL:
	case CMP_F_INTERNAL:
		o.state = PKIROLL_STATE_FAILED;
		o.retryable = 1;
		transient = fault != CMP_F_INTERNAL;
		snprintf(text, sizeof(text), "%s: %s", cmp_fault_name(fault), reason);
		break;
	default:
		o.state = PKIROLL_STATE_FAILED;
		snprintf(text, sizeof(text), "%s: %s", cmp_fault_name(fault), reason);
	}
	if (o.state != PKIROLL_STATE_ENROLLED)
		o.reason = text;
	rc = finish(r, sl, fault, transient, &o, 0);
	result_clear(&res);
	return rc;
}

/* pool_ops.on_death: the job's worker is gone; the community is not. */
static void on_death(void *arg, long long id, int status)
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
	/* a lost worker is retried once in this run */
	if (finish(r, sl, CMP_F__MAX, 0, &o, !r->stopping && sl->attempts <= 1) < 0)
		ctx_log(r->ctx, PKIROLL_LOG_ERROR, "%s: cannot record the lost worker", sl->name);
}

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
		int prof = profile_for(r, row->ca), resume = 0, d = 1;

		if (row->bad)
			continue;
		if (r->s != NULL) {
			int g2 = store_community_get(r->s, row->community, &c);

			if (g2 < 0)
				break;
			if (g2 == 1)
				d = due_community(r, &c, 0, &resume);
		}
		if (!d)
			continue;
		if (o->limit && r->st->due >= o->limit)
			break;
		r->st->due++;
		ctx_log(ctx, PKIROLL_LOG_INFO, "would enroll %s (reference %s) via %s%s%s",
			row->community, row->reference,
			prof >= 0 ? r->profs[prof].p.url : "(no CA profile)",
			row->dual ? ", dual key" : "", resume ? ", resuming at certConf" : "");
	}
	manifest_stats_rows(r->m, &r->st->rows, &r->st->bad_rows);
	return g < 0 ? manifest_error(r->m) : PKIROLL_OK;
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
	int err = PKIROLL_ERR_CONFIG, lockfd = -1, jobs;
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
	if ((err = pkiroll_manifest_open_check(ctx, o->manifest, &o->mopts)) != PKIROLL_OK) {
		err = err == PKIROLL_ERR_NOMEM ? err : PKIROLL_ERR_MANIFEST;
		goto out;
	}
	if (o->dry_run) {
		err = dry_run(ctx, o, &r);
		goto out;
	}
	if (o->passphrase == NULL || *o->passphrase == '\0') {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"no keystore passphrase: use --keystore-pass-file, --keystore-pass-fd or "
			"PKIROLL_KEYSTORE_PASS");
		err = PKIROLL_ERR_CONFIG;
		goto out;
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
	if ((pool = pool_new(jobs, enroll_worker_main, &jr)) == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "cannot start %d workers: %s", jobs,
			strerror(errno));
		err = PKIROLL_ERR_IO;
		goto out;
	}
	/* Phase: one run per store; the lock is the parent's alone. */
	if ((err = lock_store(ctx, o->db, &lockfd)) != PKIROLL_OK)
		goto out;
	if ((err = pkiroll_store_open(ctx, o->db, 1, &r.s)) != PKIROLL_OK)
		goto out;

	/* Phase: the manifest into the store, then read again to dispatch. */
	if ((err = pkiroll_store_import(r.s, o->manifest, &o->mopts, &is)) != PKIROLL_OK)
		goto out;
	st->rows = is.rows;
	st->bad_rows = is.bad;
	if ((r.m = manifest_open(NULL, o->manifest, &o->mopts, &err)) == NULL)
		goto out;
	if (store_run_begin(r.s, "enroll", o->manifest, &r.run) < 0) {
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
	manifest_close(r.m);
	pkiroll_store_close(r.s);
	if (lockfd >= 0)
		close(lockfd);
	return err;
}
