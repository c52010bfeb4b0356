/*
 * A renewal job in a worker (RFC 4210 5.3.5, D.6): the current keystore ->
 * a new signing key -> kur signed with the current certificate (and, for a
 * dual-key community, a second request for a new CA-made encryption pair)
 * -> kup -> a staged keystore beside the current one -> certConf -> the
 * staged keystore made current. The current keystore is never touched
 * before the CA has confirmed; a rerun after a crash finds the staged one.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "enroll/worker.h"
#include "write/keystore.h"
#include "x509/certinfo.h"
#include "x509/keys.h"
/*
 * Is a keystore.p12 whose serial is not the store's one that an
 * interrupted renewal of this community made current? Only when the store
 * says a renewal got as far as its keys, the replaced keystore was kept as
 * keystore-STORESERIAL.p12 (keystore_commit() links it before the
 * rename), and the new certificate names the same subject, issued after
 * the replaced one. A restored backup or another community's keystore is
 * none of these.
 */
static int interrupted_commit(const char *dir, const char *pass, const struct job *j,
			      const struct keystore_content *cur)
{
	struct keystore_content prev = {0};
	char file[128], why[300];
	int ok;

	if (!j->has_tx || j->step < CMP_STEP_KEYS)
		return 0;
	snprintf(file, sizeof(file), "keystore-%s.p12", j->cur_serial);
	if (keystore_load(dir, file, pass, &prev, why, sizeof(why)) != 1)
		return 0;
	ok = prev.sign_cert != NULL &&
	     X509_NAME_cmp(X509_get_subject_name(prev.sign_cert),
			   X509_get_subject_name(cur->sign_cert)) == 0 &&
	     ASN1_TIME_compare(X509_get0_notBefore(prev.sign_cert),
			       X509_get0_notBefore(cur->sign_cert)) <= 0;
	keystore_content_free(&prev);
	return ok;
}

/* The staged keystore made current (its certificates in c, or NULL to read
 * them back); fault JOB_F_COMMIT if it cannot be. */
static int commit(struct worker *w, const char *dir, const char *old_serial,
		  const struct keystore_certs *c, char *err, size_t errlen)
{
	char why[600];

	if (keystore_commit(dir, w->run->pass, old_serial, c, why, sizeof(why)) == 0)
		return CMP_OK;
	snprintf(err, errlen,
		 "the CA confirmed the renewal, but the new keystore could not be made current "
		 "(%s); it waits as keystore.p12.staged and the next run finishes it",
		 why);
	return JOB_F_COMMIT;
}

/*
 * The resume rule of a renewal: a staged keystore and a transaction that
 * got as far as storing it is settled: its certConf is sent again, and
 * anything but no answer settles it, as the CA may hold the certificates
 * confirmed (a refusal of a resent certConf does not prove that the first
 * was lost): made current, with a warning when unproven. A staged keystore
 * is never removed here. Any other starts afresh. 1 settled (*fault: how
 * the commit went, or CMP_F_UNCONFIRMED; stg holds the certificates), -1
 * still open (*fault), 0 start afresh.
 */
static int settle(struct worker *w, const char *dir, const char *old_serial, int renew_enc,
		  const struct cmp_request *rq, struct keystore_content *stg, int *fault, char *err,
		  size_t errlen)
{
	const struct job *j = w->job;
	struct keystore_certs sc;
	char why[600];
	int unproven = 0;

	if (!keystore_has_staged(dir))
		return 0;
	if (!j->has_tx || j->step < CMP_STEP_KEYS) {
		/* written, but never reported: no certConf went out for it. Its
		 * certificate may still count at a CA that granted implicitConfirm,
		 * so it is moved aside, not overwritten by the next one. */
		char from[1100], to[1200];

		snprintf(from, sizeof(from), "%s/keystore.p12.staged", dir);
		snprintf(to, sizeof(to), "%s/unconfirmed-%lld.p12", dir, (long long)time(NULL));
		(void)rename(from, to);
		return 0;
	}
	if (keystore_load(dir, "keystore.p12.staged", w->run->pass, stg, why, sizeof(why)) != 1 ||
	    stg->sign_cert == NULL) {
		snprintf(err, errlen,
			 "an interrupted renewal left keystore.p12.staged, which cannot be read "
			 "(%.400s); it is kept, and the CA is not asked for another certificate",
			 stg->sign_cert == NULL && why[0] == '\0' ? "no signing certificate" : why);
		*fault = JOB_F_COMMIT;
		return -1;
	}
	if (j->step != CMP_STEP_DONE) {
		/* not known to be confirmed: its certConf goes out again */
		if ((w->tx = cmp_tx_resume(&w->cc, rq, j->tid, j->nonce, j->nonce_len, NULL, 0,
					   stg->sign_cert, renew_enc ? stg->enc_cert : NULL)) ==
		    NULL) {
			snprintf(err, errlen, "cannot resume the interrupted renewal");
			*fault = CMP_F_INTERNAL;
			return -1;
		}
		worker_report_step(w, CMP_STEP_CONFIRM, NULL);
		*fault = cmp_tx_confirm(w->tx, 1);
		if (*fault != CMP_OK && *fault != CMP_F_UNCONFIRMED)
			return -1; /* still open: the next run sends it again */
		unproven = *fault == CMP_F_UNCONFIRMED;
		worker_report_step(w, CMP_STEP_DONE, NULL);
	}
	sc = (struct keystore_certs){stg->sign_cert, stg->enc_cert, stg->chain};
	*fault = commit(w, dir, old_serial, &sc, err, errlen);
	if (*fault == CMP_OK && unproven)
		*fault = CMP_F_UNCONFIRMED;
	return 1;
}

/*
 * The current keystore, which signs the request, into cur: its signing key
 * belongs to its certificate, which is the store's current one (or one an
 * interrupted renewal of this community made current). old_serial gets
 * that certificate's serial. CMP_OK, or the job's fault with err set.
 */
static int load_current(struct worker *w, const char *dir, struct keystore_content *cur,
			char *old_serial, size_t seriallen, char *err, size_t errlen)
{
	const struct job *j = w->job;
	int g = keystore_load(dir, "keystore.p12", w->run->pass, cur, err, errlen);

	if (g <= 0 || cur->sign_key == NULL || cur->sign_cert == NULL) {
		char why[900];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "cannot renew without the current keystore: %.800s",
			 g == 0	 ? "keystore.p12 is missing"
			 : g < 0 ? why
				 : "keystore.p12 has no signing key");
		return JOB_F_NOKEYSTORE;
	}
	certinfo_serial(cur->sign_cert, old_serial, seriallen);
	if (!keys_match_cert(cur->sign_key, cur->sign_cert)) {
		snprintf(err, errlen,
			 "keystore.p12: the signing key does not belong to its certificate (serial "
			 "%s); nothing was sent",
			 old_serial);
		return JOB_F_FOREIGN;
	}
	if (j->cur_serial[0] != '\0' && strcmp(old_serial, j->cur_serial) != 0 &&
	    !interrupted_commit(dir, w->run->pass, j, cur)) {
		snprintf(
			err, errlen,
			"keystore.p12 holds signing certificate serial %s, but the store's current "
			"one is %s and no renewal of this community was under way: a restored "
			"backup or another community's keystore? Nothing was sent; put the "
			"community's keystore back (keystore-%s.p12 if it is there)",
			old_serial, j->cur_serial, j->cur_serial);
		return JOB_F_FOREIGN;
	}
	return CMP_OK;
}

/*
 * The new keystore, staged beside the current one (cur): the new signing
 * pair, the new encryption pair when renew_enc (else cur's), the chain
 * from the kup (else cur's), and the decryption keys kept. dir is the
 * community's directory; path gets it from keystore_write(). 0, or -1 with
 * err set.
 */
static int write_staged(struct worker *w, const char *dir, const struct keystore_content *cur,
			EVP_PKEY *key, const struct cmp_result *r, int renew_enc, char *path,
			size_t pathlen, char *err, size_t errlen)
{
	const struct job_run *run = w->run;
	struct keystore_key hist[KEYSTORE_HISTORY_MAX];
	int keep = run->keep_keys < KEYSTORE_HISTORY_MAX ? run->keep_keys : KEYSTORE_HISTORY_MAX;
	STACK_OF(X509) *ca = sk_X509_num(r->ca_pubs) > 0 ? r->ca_pubs : cur->chain;
	struct keystore_in ks = {.base = run->keystore_dir,
				 .dirname = w->job->ksname,
				 .pass = run->pass,
				 .sign_key = key,
				 .sign_cert = r->sign_cert,
				 .enc_key = renew_enc ? r->enc_key : cur->enc_key,
				 .enc_cert = renew_enc ? r->enc_cert : cur->enc_cert,
				 .chain = ca,
				 .legacy = run->legacy,
				 .history = hist,
				 .nhistory = keystore_history(cur, renew_enc, keep, hist),
				 .staged = 1};

	keystore_sweep_temp(dir, run->started, run->ctx);
	return keystore_write(&ks, path, pathlen, err, errlen);
}

void renew_job_run(struct worker *w)
{
	const struct job_run *run = w->run;
	const struct pkiroll_ca_profile *p = &run->profiles[w->job->profile];
	struct job *j = w->job;
	struct keystore_content cur = {0}, stg = {0};
	struct cmp_request rq = {.type = CMP_REQ_KUR, .enc_key_type = j->enc_key_type};
	struct result res = {0};
	struct result_bufs rb = {0};
	char dir[1024], path[1024], err[900] = "", old_serial[80] = "";
	int fault = CMP_F_INTERNAL, renew_enc, g, ks_failed = 0;
	const struct cmp_result *r = NULL;
	X509 *new_sign = NULL, *new_enc = NULL;
	STACK_OF(X509) *chain = NULL;

	renew_enc = j->dual && p->renew_encryption == PKIROLL_RENEW_ENC_KUR;
	snprintf(dir, sizeof(dir), "%s/%s", run->keystore_dir, j->ksname);

	/* Phase: the current keystore, which signs the request. */
	if ((fault = load_current(w, dir, &cur, old_serial, sizeof(old_serial), err,
				  sizeof(err))) != CMP_OK)
		goto report;
	if (j->cur_serial[0] != '\0' && strcmp(old_serial, j->cur_serial) != 0 &&
	    !keystore_has_staged(dir)) {
		/* an interrupted run made its keystore current before it could
		 * record the result: record it now; the CA is not asked again */
		snprintf(old_serial, sizeof(old_serial), "%s", j->cur_serial);
		fault = commit(w, dir, NULL, NULL, err, sizeof(err));
		new_sign = cur.sign_cert;
		new_enc = renew_enc ? cur.enc_cert : NULL;
		chain = cur.chain;
		goto report;
	}
	if (j->dual && p->renew_encryption == PKIROLL_RENEW_ENC_REENROLL) {
		fault = JOB_F_REENROLL;
		snprintf(err, sizeof(err),
			 "CA profile %s renews dual-key communities only with new codes "
			 "(renew_encryption = reenroll)",
			 p->name[0] ? p->name : p->url);
		goto report;
	}
	if ((fault = worker_cmp_setup(w, cur.chain, err, sizeof(err))) != CMP_OK)
		goto report;
	fault = CMP_F_INTERNAL;
	rq.old_key = cur.sign_key;
	rq.old_cert = cur.sign_cert;
	rq.old_chain = cur.chain;

	/* Phase: an interrupted renewal, settled before anything new. */
	if ((g = settle(w, dir, old_serial, renew_enc, &rq, &stg, &fault, err, sizeof(err))) != 0) {
		if (g > 0) {
			new_sign = stg.sign_cert;
			new_enc = renew_enc ? stg.enc_cert : NULL;
			chain = stg.chain;
		}
		goto report;
	}

	/* Phase: a new signing key and the kur. */
	if (X509_cmp_current_time(X509_get0_notAfter(cur.sign_cert)) <= 0) {
		fault = JOB_F_EXPIRED;
		snprintf(err, sizeof(err),
			 "the signing certificate (serial %s) has expired, and kur needs a valid "
			 "one",
			 old_serial);
		goto report;
	}
	rq.dual = renew_enc;
	rq.kek = renew_enc ? w->run->kek : NULL;
	rq.kek_pub = renew_enc ? w->run->kek_pub : NULL;
	if ((fault = worker_request(w, &rq, j->key_type, &res, err, sizeof(err))) != CMP_OK)
		goto report;
	r = cmp_tx_result(w->tx);

	/* Phase: the staged keystore, synced before the CA hears we accept. */
	if (write_staged(w, dir, &cur, rq.new_key, r, renew_enc, path, sizeof(path), err,
			 sizeof(err)) < 0) {
		fault = worker_reject(w, err, sizeof(err), "the current keystore is unchanged");
		keystore_discard_staged(dir);
		ks_failed = 1;
		goto report;
	}
	worker_report_step(w, CMP_STEP_KEYS, path);
	if ((fault = cmp_tx_confirm(w->tx, 1)) != CMP_OK) {
		/* only a verified refusal of the certConf lets its key go; any other
		 * answer leaves the staged keystore for the next try to settle */
		if (r->confirm == CMP_CONFIRM_REFUSED)
			keystore_discard_staged(dir);
		goto report;
	}
	worker_report_step(w, CMP_STEP_DONE, NULL);
	new_sign = r->sign_cert;
	new_enc = renew_enc ? r->enc_cert : NULL;
	chain = sk_X509_num(r->ca_pubs) > 0 ? r->ca_pubs : cur.chain;
	{
		struct keystore_certs kc = {new_sign, renew_enc ? r->enc_cert : cur.enc_cert,
					    chain};

		fault = commit(w, dir, old_serial, &kc, err, sizeof(err));
	}

report:
	/* Phase: the result, what the parent records. */
	r = worker_result_of(w, &res, fault, ks_failed ? NULL : err, err);
	if ((fault == CMP_OK || fault == CMP_F_UNCONFIRMED) && new_sign != NULL) {
		worker_put_cert(&rb, &res.sign, new_sign);
		if (new_enc != NULL)
			worker_put_cert(&rb, &res.enc, new_enc);
		worker_put_chain(&rb, &res, chain);
		snprintf(res.kspath, sizeof(res.kspath), "%s", dir);
	}
	snprintf(res.old_serial, sizeof(res.old_serial), "%s", old_serial);
	worker_send_result(w, &res, &rb);
	worker_cmp_free(w);
	EVP_PKEY_free(rq.new_key);
	keystore_content_free(&cur);
	keystore_content_free(&stg);
	ERR_clear_error();
}
