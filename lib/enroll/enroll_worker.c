/*
 * A worker process: one job at a time (an enrollment: keygen -> ir -> ip ->
 * verify/decrypt -> keystore -> certConf), reporting each step to the
 * parent and waiting until it is recorded. Workers never touch the store;
 * the run's constants came with the fork (struct job_run).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509/certinfo.h"
#include "cmp/cmp_client.h"
#include "x509/dn.h"
#include "base/fileio.h"
#include "enroll/job.h"
#include "x509/keys.h"
#include "out/keystore.h"
#include "enroll/worker.h"

/* Matched by the parent's on_step(): it ACKs once the step is recorded. */
int worker_report_step(struct worker *w, int step, const char *kspath)
{
	struct step st = {.step = step};
	struct wbuf b = {0};
	unsigned char *pbm = NULL;
	long long wait;
	int type, r, n;

	if (w->tx != NULL) {
		const ASN1_OCTET_STRING *nonce = cmp_tx_their_nonce(w->tx);
		const X509_ALGOR *alg = cmp_tx_reply_pbm(w->tx);

		st.tid = cmp_tx_result(w->tx)->tid;
		if (nonce != NULL)
			st.nonce = nonce->data, st.nonce_len = (size_t)nonce->length;
		if (alg != NULL && (n = i2d_X509_ALGOR(alg, &pbm)) > 0)
			st.pbm = pbm, st.pbm_len = (size_t)n;
	}
	if (kspath != NULL)
		snprintf(st.kspath, sizeof(st.kspath), "%s", kspath);
	step_write(&b, &st);
	OPENSSL_free(pbm);
	if (wire_write(w->fd, WIRE_STEP, &b) <= 0) {
		wbuf_free(&b);
		_exit(1); /* the parent is gone: nothing to report to */
	}
	r = wire_read(w->fd, &type, &b);
	if (r <= 0 || type != WIRE_ACK)
		_exit(r == 0 ? 0 : 3);
	/* the CA asked to wait (Retry-After): nothing goes out before then */
	wait = ack_read(&b);
	wbuf_free(&b);
	if (wait > 0)
		nanosleep(&(struct timespec){.tv_sec = wait / 1000,
					     .tv_nsec = (wait % 1000) * 1000000L},
			  NULL);
	return 0;
}

int worker_on_cmp_step(void *arg, int step, const struct cmp_result *r)
{
	struct worker *w = arg;

	(void)r;
	switch (step) {
	case CMP_STEP_REQUEST:
	case CMP_STEP_RESPONSE:
		return worker_report_step(w, step, NULL);
	case CMP_STEP_CONFIRM:
		return w->rejecting ? 0 : worker_report_step(w, step, NULL);
	default:
		return 0;
	}
}

static const unsigned char *keep_der(struct result_bufs *rb, X509 *x, size_t *len)
{
	unsigned char *der = NULL;
	int n;

	*len = 0;
	if (x == NULL || rb->n == (int)(sizeof(rb->der) / sizeof(rb->der[0])) ||
	    (n = i2d_X509(x, &der)) <= 0)
		return NULL;
	rb->der[rb->n++] = der;
	*len = (size_t)n;
	return der;
}

void worker_put_cert(struct result_bufs *rb, struct outcome_cert *c, X509 *x)
{
	if ((c->der = keep_der(rb, x, &c->len)) != NULL)
		c->have_info = certinfo_from_x509(x, &c->info) == PKIROLL_OK;
}

/* caPubs, else the extraCerts that are CA certificates */
void worker_put_chain(struct result_bufs *rb, struct result *res, const STACK_OF(X509) * certs)
{
	for (int i = 0; i < sk_X509_num(certs) && res->nchain < RESULT_CHAIN_MAX; i++) {
		X509 *x = sk_X509_value(certs, i);

		if (X509_check_ca(x) > 0 && (res->chain[res->nchain] = keep_der(
						     rb, x, &res->chain_len[res->nchain])) != NULL)
			res->nchain++;
	}
}
/* chain.pem of a keystore written by an earlier run. */
static STACK_OF(X509) * load_chain(const char *dir)
{
	char p[2048];
	STACK_OF(X509) *sk = sk_X509_new_null();
	FILE *f;
	X509 *x;

	snprintf(p, sizeof(p), "%s/chain.pem", dir);
	if (sk != NULL && (f = fopen(p, "r")) != NULL) {
		while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(sk, x))
				X509_free(x);
		fclose(f);
	}
	ERR_clear_error();
	return sk;
}

/*
 * The certificates a resumed job confirms: the DER copies, else the
 * PKCS#12 (the one file synced before the keys step was recorded).
 * 1 both there, 0 the keystore is incomplete, so no certConf accepted
 * them and the community enrolls again (what is left is moved aside), -1
 * it cannot be read (err says why; a wrong passphrase must not cost it).
 */
static int load_resume_certs(const struct job *j, const char *pass, X509 **sign, X509 **enc,
			     char *err, size_t errlen)
{
	char from[2048], to[2100];
	X509 *ps = NULL, *pe = NULL;
	int r;

	*sign = certinfo_read(j->kspath, "signing.cer", 0);
	*enc = j->dual ? certinfo_read(j->kspath, "encryption.cer", 0) : NULL;
	if (*sign != NULL && (!j->dual || *enc != NULL))
		return 1;
	if ((r = keystore_read_certs(j->kspath, pass, &ps, &pe)) < 0) {
		snprintf(err, errlen,
			 "cannot resume: %.400s/keystore.p12 cannot be read with this passphrase",
			 j->kspath);
		return -1;
	}
	X509_free(*sign);
	X509_free(*enc);
	*sign = ps;
	*enc = j->dual ? pe : NULL;
	if (!j->dual)
		X509_free(pe);
	if (*sign != NULL && (!j->dual || *enc != NULL))
		return 1;
	X509_free(*sign);
	X509_free(*enc);
	*sign = *enc = NULL;
	if (r == 1) {
		snprintf(from, sizeof(from), "%s/keystore.p12", j->kspath);
		snprintf(to, sizeof(to), "%s.incomplete", from);
		(void)rename(from, to);
	}
	return 0;
}

/*
 * The resume rule of an enrollment: an interrupted transaction that had
 * stored its keys (step keys, or about to confirm) is confirmed, if its
 * keystore is complete (load_resume_certs()); any other starts afresh
 * (the CA rolls back what it issued and no one confirmed).
 */
static int resumes_at_certconf(const struct job *j)
{
	return j->has_tx && j->kspath[0] != '\0' &&
	       (j->step == CMP_STEP_KEYS || j->step == CMP_STEP_CONFIRM);
}

#define KEK_USES 64

/*
 * The RSA key the CA encrypts central keys to (protocolEncrKey). It never
 * leaves this process; a worker makes a new one every KEK_USES jobs, which
 * saves most of a 2048-bit key generation per community.
 */
EVP_PKEY *worker_kek(void)
{
	static EVP_PKEY *kek;
	static int uses;

	if (kek == NULL || ++uses >= KEK_USES) {
		EVP_PKEY_free(kek);
		kek = keys_generate(KEY_RSA2048);
		uses = 0;
	}
	return kek;
}

int worker_cmp_setup(struct worker *w, STACK_OF(X509) * extra, char *err, size_t errlen)
{
	const struct pkiroll_ca_profile *p = &w->run->profiles[w->job->profile];
	struct transport_cfg tc = {.url = p->url,
				   .tls_ca_file = p->tls_ca_file[0] ? p->tls_ca_file : NULL,
				   .tls_cert = p->tls_cert[0] ? p->tls_cert : NULL,
				   .tls_key = p->tls_key[0] ? p->tls_key : NULL,
				   .proxy = p->proxy[0] ? p->proxy : NULL,
				   .no_proxy = p->no_proxy[0] ? p->no_proxy : NULL,
				   .framing = p->framing,
				   .connect_timeout = p->connect_timeout,
				   .read_timeout = p->read_timeout};

	w->cc = (struct cmp_client_cfg){
		.pbm = {p->pbm_owf, p->pbm_mac, p->pbm_iterations, p->pbm_salt_len},
		.implicit_confirm = p->implicit_confirm,
		.poll_deadline = p->poll_deadline};
	if ((w->cc.transport = transport_new(&tc, err, errlen)) == NULL)
		return CMP_F_CONFIG;
	/* Phase: what signed replies chain to. A partial chain is enough: the
	 * anchors are configured, or came under the community's MAC. */
	if (p->trust_anchor[0] != '\0') {
		FILE *f = fopen(p->trust_anchor, "r");
		X509 *x;

		w->anchors = sk_X509_new_null();
		while (f != NULL && w->anchors != NULL &&
		       (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(w->anchors, x))
				X509_free(x);
		if (f != NULL)
			fclose(f);
		ERR_clear_error();
		if (sk_X509_num(w->anchors) == 0) {
			snprintf(err, errlen, "trust_anchor %s: %s", p->trust_anchor,
				 f == NULL ? strerror(errno) : "no PEM certificate in it");
			return CMP_F_CONFIG;
		}
	}
	if (w->anchors != NULL || sk_X509_num(extra) > 0) {
		if ((w->trust = X509_STORE_new()) == NULL)
			return CMP_F_INTERNAL;
		for (int i = 0; i < sk_X509_num(w->anchors); i++)
			X509_STORE_add_cert(w->trust, sk_X509_value(w->anchors, i));
		for (int i = 0; i < sk_X509_num(extra); i++)
			X509_STORE_add_cert(w->trust, sk_X509_value(extra, i));
		X509_STORE_set_flags(w->trust, X509_V_FLAG_PARTIAL_CHAIN);
		ERR_clear_error();
		w->cc.trust = w->trust;
	}
	if (p->recipient[0] != '\0' && (w->recipient = dn_parse(p->recipient, err, errlen)) == NULL)
		return CMP_F_CONFIG;
	w->cc.recipient = w->recipient;
	if ((w->run->dump_dir != NULL || w->run->trace) &&
	    (w->cc.trace = cmp_trace_new(w->run->ctx, w->run->dump_dir, w->job->name,
					 w->run->trace)) == NULL)
		return CMP_F_INTERNAL;
	return CMP_OK;
}

void worker_cmp_free(struct worker *w)
{
	cmp_tx_free(w->tx);
	w->tx = NULL;
	transport_free(w->cc.transport);
	w->cc.transport = NULL;
	cmp_trace_free(w->cc.trace);
	w->cc.trace = NULL;
	X509_NAME_free(w->recipient);
	w->recipient = NULL;
	X509_STORE_free(w->trust);
	w->trust = NULL;
	w->cc.trust = NULL;
	sk_X509_pop_free(w->anchors, X509_free);
	w->anchors = NULL;
}

int worker_reject(struct worker *w, char *err, size_t errlen, const char *after)
{
	size_t l = strlen(err);

	/* the reason is ours, not the certConf's; nothing to resume */
	w->rejecting = 1;
	(void)cmp_tx_confirm(w->tx, 0);
	snprintf(err + l, errlen - l, "; the CA was told to reject the certificates, %s", after);
	return JOB_F_KEYSTORE;
}

int worker_keep_unverified(struct worker *w, EVP_PKEY *key, const struct cmp_result *r, char *kept,
			   size_t keptlen)
{
	char file[64], dir[1100], err[600];
	int n = snprintf(file, sizeof(file), "unverified-");

	for (int i = 0; i < 8; i++)
		n += snprintf(file + n, sizeof(file) - (size_t)n, "%02x", r->tid[i]);
	snprintf(file + n, sizeof(file) - (size_t)n, ".p12");
	struct keystore_in ks = {.base = w->run->keystore_dir,
				 .dirname = w->job->ksname,
				 .pass = w->run->pass,
				 .sign_key = key,
				 .sign_cert = r->sign_cert,
				 .enc_key = r->enc_cert != NULL ? r->enc_key : NULL,
				 .enc_cert = r->enc_key != NULL ? r->enc_cert : NULL,
				 .chain = r->extra_certs,
				 .legacy = w->run->legacy,
				 .staged = 1,
				 .file = file};

	if (keystore_write(&ks, dir, sizeof(dir), err, sizeof(err)) < 0) {
		snprintf(kept, keptlen, "(not kept: %.500s)", err);
		return -1;
	}
	snprintf(kept, keptlen, "%.1000s/%s", dir, file);
	return 0;
}

void worker_send_result(struct worker *w, struct result *res, struct result_bufs *rb)
{
	struct wbuf msg = {0};

	result_write(&msg, res);
	if (wire_write(w->fd, WIRE_RESULT, &msg) <= 0)
		_exit(1);
	wbuf_free(&msg);
	result_clear(res);
	for (int i = 0; i < rb->n; i++)
		OPENSSL_free(rb->der[i]);
	rb->n = 0;
}

void run_enroll(struct worker *w)
{
	const struct job_run *run = w->run;
	struct job *j = w->job;
	struct cmp_request rq = {.type = CMP_REQ_IR,
				 .reference = j->ref,
				 .dual = j->dual,
				 .enc_key_type = j->enc_key_type};
	X509_NAME *subject = NULL;
	X509 *old_sign = NULL, *old_enc = NULL;
	struct keystore_content prev = {0};
	char err[512] = "", kspath[1024] = "";
	struct result res = {0};
	struct result_bufs rb = {0};
	int fault = CMP_F_INTERNAL, resumed = 0, ks_failed = 0;
	const struct cmp_result *r = NULL;

	rq.secret = (const unsigned char *)j->code;
	rq.secret_len = strlen(j->code);
	/* Phase: what the transaction needs. */
	if ((fault = worker_cmp_setup(w, NULL, err, sizeof(err))) != CMP_OK)
		goto report;
	fault = CMP_F_INTERNAL;
	if ((subject = dn_parse(j->subject, err, sizeof(err))) == NULL)
		goto report;
	rq.subject = subject;

	if (resumes_at_certconf(j)) {
		/* certConf for certificates an interrupted run already stored */
		int got = load_resume_certs(j, run->pass, &old_sign, &old_enc, err, sizeof(err));

		if (got < 0) {
			fault = CMP_F_CONFIG;
			goto report;
		}
		if (got == 0)
			goto fresh; /* never confirmed by us: enroll again */
		if ((w->tx = cmp_tx_resume(&w->cc, &rq, j->tid, j->nonce, j->nonce_len,
					   j->pbm_len ? j->pbm : NULL, j->pbm_len, old_sign,
					   old_enc)) == NULL) {
			snprintf(err, sizeof(err), "cannot resume the transaction of %.400s",
				 j->kspath);
			goto report;
		}
		snprintf(kspath, sizeof(kspath), "%s", j->kspath);
		worker_report_step(w, CMP_STEP_CONFIRM, NULL);
		fault = cmp_tx_confirm(w->tx, 1);
		/*
		 * Proven, or sent again and answered with anything but a proof: the
		 * interrupted run's certConf may have arrived, so the certificates
		 * are recorded (with a warning when unproven), and no second ir
		 * spends the codes. No answer at all: the next try sends it again.
		 */
		resumed = fault == CMP_OK || fault == CMP_F_UNCONFIRMED;
		goto report;
	}

fresh:
	/* Phase: a new key and the request. */
	rq.kek = j->dual ? worker_kek() : NULL;
	if ((rq.new_key = keys_generate(j->key_type)) == NULL) {
		snprintf(err, sizeof(err), "key generation failed");
		goto report;
	}
	if ((w->tx = cmp_tx_new(&w->cc, &rq, worker_on_cmp_step, w)) == NULL)
		goto report;
	if ((fault = cmp_tx_request(w->tx)) != CMP_OK) {
		r = cmp_tx_result(w->tx);
		/* certificates that did not verify may still be issued: keep the key */
		if (fault == CMP_F_UNVERIFIED && r->sign_cert != NULL)
			(void)worker_keep_unverified(w, rq.new_key, r, res.kept, sizeof(res.kept));
		goto report;
	}
	r = cmp_tx_result(w->tx);

	/* Phase: the keystore, on disk before the CA hears we accept. A
	 * community enrolled again (new codes after needs_codes) keeps its
	 * previous keystore beside the new one, and its decryption keys in it. */
	{
		struct keystore_key hist[KEYSTORE_HISTORY_MAX];
		char dir[1100], why[300];
		int nhist = 0, g;

		snprintf(dir, sizeof(dir), "%s/%s", run->keystore_dir, j->ksname);
		g = keystore_load(dir, "keystore.p12", run->pass, &prev, why, sizeof(why));
		if (g == 1)
			nhist = keystore_history(&prev, 1,
						 run->keep_keys < KEYSTORE_HISTORY_MAX
							 ? run->keep_keys
							 : KEYSTORE_HISTORY_MAX,
						 hist);
		/* a first enrollment finds no keystore there: nothing to keep */
		if (g != 0)
			(void)keystore_keep_current(dir);
		struct keystore_in ks = {.base = run->keystore_dir,
					 .dirname = j->ksname,
					 .pass = run->pass,
					 .sign_key = rq.new_key,
					 .sign_cert = r->sign_cert,
					 .enc_key = r->enc_key,
					 .enc_cert = r->enc_cert,
					 .chain = r->ca_pubs ? r->ca_pubs : r->extra_certs,
					 .legacy = run->legacy,
					 .history = hist,
					 .nhistory = nhist};

		keystore_sweep_temp(dir, run->started, run->ctx);
		if (keystore_write(&ks, kspath, sizeof(kspath), err, sizeof(err)) < 0) {
			fault = worker_reject(w, err, sizeof(err), "the codes stay usable");
			kspath[0] = '\0';
			ks_failed = 1;
			goto report;
		}
	}
	worker_report_step(w, CMP_STEP_KEYS, kspath);
	fault = cmp_tx_confirm(w->tx, 1);

report:
	/* Phase: the result, what the parent records. */
	r = w->tx ? cmp_tx_result(w->tx) : NULL;
	res.fault = fault;
	if (fault != CMP_OK)
		snprintf(res.reason, sizeof(res.reason), "%s",
			 r && r->reason[0] && !ks_failed ? r->reason : err);
	res.retry_after = -1;
	if (r != NULL) {
		res.step = r->step;
		res.failbits = r->failbits[0] | r->failbits[1];
		res.subject_changed = r->subject_changed;
		res.confirm = r->confirm;
		res.retry_after = r->retry_after;
	}
	if (resumed) {
		STACK_OF(X509) *chain = load_chain(j->kspath);

		worker_put_cert(&rb, &res.sign, old_sign);
		worker_put_cert(&rb, &res.enc, old_enc);
		worker_put_chain(&rb, &res, chain);
		sk_X509_pop_free(chain, X509_free);
	} else if (fault == CMP_OK && r != NULL) {
		worker_put_cert(&rb, &res.sign, r->sign_cert);
		worker_put_cert(&rb, &res.enc, r->enc_cert);
		worker_put_chain(&rb, &res, r->ca_pubs ? r->ca_pubs : r->extra_certs);
	}
	snprintf(res.kspath, sizeof(res.kspath), "%s", kspath);
	worker_send_result(w, &res, &rb);
	worker_cmp_free(w);
	EVP_PKEY_free(rq.new_key);
	X509_NAME_free(subject);
	X509_free(old_sign);
	X509_free(old_enc);
	keystore_content_free(&prev);
	ERR_clear_error();
}

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
		if (j->profile < 0 || j->profile >= run->nprofiles)
			_exit(3);
		{
			struct worker w = {.fd = fd, .run = run, .job = j};

			if (j->kind == JOB_RENEW)
				run_renew(&w);
			else if (j->kind == JOB_REVOKE)
				run_revoke(&w);
			else
				run_enroll(&w);
		}
		OPENSSL_cleanse(j, sizeof(*j));
	}
	wbuf_free(&msg);
	free(j);
}
