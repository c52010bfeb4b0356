/*
 * What the job kinds of a worker process share (worker.h): the worker's
 * side of the wire (a step reported and waited for, the result sent), the
 * certificates a result carries, the CMP set-up from the job's CA profile,
 * the key the CA encrypts central keys to, and what a job does when its
 * keystore cannot be written or a reply did not verify. The jobs call it;
 * it calls no job (the loop that does is worker_main.c).
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
#include "enroll/job.h"
#include "x509/keys.h"
#include "write/keystore.h"
#include "enroll/worker.h"

/* Matched by the parent's schedule_on_step(): it ACKs once the step is recorded. */
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
	job_step_write(&b, &st);
	OPENSSL_free(pbm);
	if (wire_write(w->fd, WIRE_STEP, &b) <= 0) {
		wbuf_free(&b);
		_exit(1); /* the parent is gone: nothing to report to */
	}
	r = wire_read(w->fd, &type, &b);
	if (r <= 0 || type != WIRE_ACK)
		_exit(r == 0 ? 0 : 3);
	/* the CA asked to wait (Retry-After): nothing goes out before then */
	wait = job_ack_read(&b);
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

int worker_request(struct worker *w, struct cmp_request *rq, int key_type, struct result *res,
		   char *err, size_t errlen)
{
	const struct cmp_result *r;
	int fault;

	if ((rq->new_key = keys_generate(key_type)) == NULL) {
		snprintf(err, errlen, "key generation failed");
		return CMP_F_INTERNAL;
	}
	if ((w->tx = cmp_tx_new(&w->cc, rq, worker_on_cmp_step, w)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return CMP_F_INTERNAL;
	}
	if ((fault = cmp_tx_request(w->tx)) != CMP_OK) {
		r = cmp_tx_result(w->tx);
		/* certificates that did not verify may still be issued: keep the key */
		if (fault == CMP_F_UNVERIFIED && r->sign_cert != NULL)
			(void)worker_keep_unverified(w, rq->new_key, r, res->kept,
						     sizeof(res->kept));
	}
	return fault;
}

const struct cmp_result *worker_result_of(struct worker *w, struct result *res, int fault,
					  const char *tx_err, const char *err)
{
	const struct cmp_result *r = w->tx ? cmp_tx_result(w->tx) : NULL;

	res->fault = fault;
	if (fault != CMP_OK)
		snprintf(res->reason, sizeof(res->reason), "%s",
			 r && r->reason[0] && tx_err != NULL && fault < JOB_F_KEYSTORE ? r->reason
										       : err);
	res->retry_after = -1;
	if (r != NULL) {
		res->step = r->step;
		res->failbits = r->failbits[0] | r->failbits[1];
		res->subject_changed = r->subject_changed;
		res->confirm = r->confirm;
		res->retry_after = r->retry_after;
	}
	return r;
}

void worker_send_result(struct worker *w, struct result *res, struct result_bufs *rb)
{
	struct wbuf msg = {0};

	job_result_write(&msg, res);
	if (wire_write(w->fd, WIRE_RESULT, &msg) <= 0)
		_exit(1);
	wbuf_free(&msg);
	job_result_clear(res);
	for (int i = 0; i < rb->n; i++)
		OPENSSL_free(rb->der[i]);
	rb->n = 0;
}
