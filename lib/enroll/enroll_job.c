/*
 * An enrollment job in a worker (RFC 4210 5.3.1, D.4): keygen -> ir under
 * the community's MAC -> ip -> verify/decrypt -> keystore -> certConf, or
 * the certConf of an interrupted run that had stored its keys. The steps
 * are reported to the parent through the kit in worker.c.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "x509/certinfo.h"
#include "cmp/cmp_client.h"
#include "x509/dn.h"
#include "enroll/job.h"
#include "x509/keys.h"
#include "write/keystore.h"
#include "enroll/worker.h"

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

/*
 * The keystore of a new enrollment, written before the CA hears we accept.
 * A community enrolled again (new codes after needs_codes) keeps its
 * previous keystore beside the new one, and its decryption keys in it
 * (prev holds them; the caller frees it). kspath gets the community's
 * directory. 0, or -1 with err set.
 */
static int write_keystore(struct worker *w, EVP_PKEY *key, const struct cmp_result *r,
			  struct keystore_content *prev, char *kspath, size_t kspathlen, char *err,
			  size_t errlen)
{
	const struct job_run *run = w->run;
	struct job *j = w->job;
	struct keystore_key hist[KEYSTORE_HISTORY_MAX];
	char dir[1100], why[300];
	int nhist = 0, g;

	snprintf(dir, sizeof(dir), "%s/%s", run->keystore_dir, j->ksname);
	g = keystore_load(dir, "keystore.p12", run->pass, prev, why, sizeof(why));
	if (g == 1)
		nhist = keystore_history(prev, 1,
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
				 .sign_key = key,
				 .sign_cert = r->sign_cert,
				 .enc_key = r->enc_key,
				 .enc_cert = r->enc_cert,
				 .chain = r->ca_pubs ? r->ca_pubs : r->extra_certs,
				 .legacy = run->legacy,
				 .history = hist,
				 .nhistory = nhist};

	keystore_sweep_temp(dir, run->started, run->ctx);
	return keystore_write(&ks, kspath, kspathlen, err, errlen);
}

void enroll_job_run(struct worker *w)
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
	/* Phase: under implicitConfirm the CA confirms as it issues: an ir an
	 * interrupted run sent, and whose answer was never stored, may have
	 * spent the codes for good. No second one goes out on our own. */
	if (w->run->profiles[j->profile].implicit_confirm && j->has_tx &&
	    (j->step == CMP_STEP_REQUEST || j->step == CMP_STEP_RESPONSE)) {
		snprintf(err, sizeof(err),
			 "an interrupted run sent an ir under implicitConfirm and its answer was "
			 "not stored");
		fault = JOB_F_UNANSWERED;
		goto report;
	}
	/* Phase: a new key and the request. */
	rq.kek = j->dual ? run->kek : NULL;
	rq.kek_pub = j->dual ? run->kek_pub : NULL;
	if ((fault = worker_request(w, &rq, j->key_type, &res, err, sizeof(err))) != CMP_OK) {
		if (w->tx != NULL && cmp_tx_result(w->tx)->unanswered &&
		    w->run->profiles[j->profile].implicit_confirm) {
			snprintf(
				err, sizeof(err),
				"the ir went out under implicitConfirm and no answer came (%.400s)",
				cmp_tx_result(w->tx)->reason);
			fault = JOB_F_UNANSWERED;
		}
		goto report;
	}
	r = cmp_tx_result(w->tx);

	/* Phase: the keystore, on disk before the CA hears we accept. */
	if (write_keystore(w, rq.new_key, r, &prev, kspath, sizeof(kspath), err, sizeof(err)) < 0) {
		fault = worker_reject(w, err, sizeof(err), "the codes stay usable");
		kspath[0] = '\0';
		ks_failed = 1;
		goto report;
	}
	worker_report_step(w, CMP_STEP_KEYS, kspath);
	fault = cmp_tx_confirm(w->tx, 1);

report:
	/* Phase: the result, what the parent records. */
	r = worker_result_of(w, &res, fault, ks_failed ? NULL : err, err);
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
