/*
 * A revocation job in a worker (RFC 4210 5.3.9): the current keystore ->
 * rr for the certificates the parent named, signed with the community's
 * signing key (or under a MAC with new codes, when the CA profile says so)
 * -> rp. The parent has recorded the request before it goes out.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "enroll/worker.h"
#include "write/keystore.h"
#include "x509/certinfo.h"

/* Is x the certificate with this serial? */
static int is_serial(X509 *x, const char *serial)
{
	char s[80];

	return x != NULL && certinfo_serial(x, s, sizeof(s)) == 0 && strcmp(s, serial) == 0;
}

void revoke_job_run(struct worker *w)
{
	const struct job_run *run = w->run;
	const struct pkiroll_ca_profile *p = &run->profiles[w->job->profile];
	struct job *j = w->job;
	struct keystore_content cur = {0};
	struct cmp_request rq = {.type = CMP_REQ_IR};
	struct result res = {0};
	struct result_bufs rb = {0};
	X509 *certs[2];
	char dir[1024], err[900] = "";
	int fault = CMP_F_INTERNAL, n = 0, g;

	snprintf(dir, sizeof(dir), "%s/%s", run->keystore_dir, j->ksname);
	/* Phase: the certificates, from the keystore, as the store names them. */
	g = keystore_load(dir, "keystore.p12", run->pass, &cur, err, sizeof(err));
	if (g <= 0) {
		char why[900];

		snprintf(why, sizeof(why), "%s", g == 0 ? "keystore.p12 is missing" : err);
		snprintf(err, sizeof(err), "cannot revoke without the keystore: %.800s", why);
		fault = JOB_F_NOKEYSTORE;
		goto report;
	}
	if (j->revoke_sign[0] != '\0') {
		if (!is_serial(cur.sign_cert, j->revoke_sign)) {
			snprintf(err, sizeof(err),
				 "the keystore's signing certificate is not serial %s, the one the "
				 "store has",
				 j->revoke_sign);
			fault = JOB_F_NOKEYSTORE;
			goto report;
		}
		certs[n++] = cur.sign_cert;
	}
	if (j->revoke_enc[0] != '\0') {
		if (!is_serial(cur.enc_cert, j->revoke_enc)) {
			snprintf(err, sizeof(err),
				 "the keystore's encryption certificate is not serial %s, the one "
				 "the store has",
				 j->revoke_enc);
			fault = JOB_F_NOKEYSTORE;
			goto report;
		}
		certs[n++] = cur.enc_cert;
	}
	/* Phase: the protection: the signing key, or new codes. */
	if ((fault = worker_cmp_setup(w, cur.chain, err, sizeof(err))) != CMP_OK)
		goto report;
	fault = CMP_F_INTERNAL;
	if (p->revoke_with_codes) {
		rq.reference = j->ref;
		rq.secret = (const unsigned char *)j->code;
		rq.secret_len = strlen(j->code);
	} else if (cur.sign_key != NULL && cur.sign_cert != NULL) {
		rq.old_key = cur.sign_key;
		rq.old_cert = cur.sign_cert;
		rq.old_chain = cur.chain;
	} else {
		snprintf(err, sizeof(err), "the keystore has no signing key to sign the rr");
		fault = JOB_F_NOKEYSTORE;
		goto report;
	}
	if ((w->tx = cmp_tx_new(&w->cc, &rq, worker_on_cmp_step, w)) == NULL)
		goto report;
	fault = cmp_tx_revoke(w->tx, certs, n, j->revoke_reason);

report:
	worker_result_of(w, &res, fault, err, err);
	worker_send_result(w, &res, &rb);
	worker_cmp_free(w);
	keystore_content_free(&cur);
	ERR_clear_error();
}
