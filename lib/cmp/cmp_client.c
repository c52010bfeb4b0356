/*
 * One client transaction: request, (polling), verification, confirmation.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cmp/cmp_client.h"
#include "x509/keys.h"

#define MAX_REQS 2

struct cmp_tx {
	const struct cmp_client_cfg *cfg;
	const struct cmp_request *req;
	cmp_step_fn *on_step;
	void *arg;
	struct cmp_result r;
	int nreqs;
	EVP_PKEY *kek;			    /* protocolEncrKey, private half */
	unsigned char nonce[CMP_NONCE_LEN]; /* our last senderNonce */
	ASN1_OCTET_STRING *their_nonce;	    /* the CA's last senderNonce */
	X509_ALGOR *reply_pbm;		    /* the CA's PBM parameters, reused */
	X509 *signer;			    /* the verified signer of an earlier reply */
	int resent;			    /* resumed: the certConf goes out again */
	int err_verified;		    /* the last reply was an error that verified */
};

static int fail(struct cmp_tx *tx, int fault, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Records the fault and its reason (the first one wins). Returns fault. */
static int fail(struct cmp_tx *tx, int fault, const char *fmt, ...)
{
	va_list ap;

	if (tx->r.fault != CMP_OK)
		return tx->r.fault;
	tx->r.fault = fault;
	va_start(ap, fmt);
	vsnprintf(tx->r.reason, sizeof(tx->r.reason), fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return fault;
}

static int step(struct cmp_tx *tx, int s)
{
	tx->r.step = s;
	if (tx->on_step != NULL && tx->on_step(tx->arg, s, &tx->r) != 0)
		return fail(tx, CMP_F_INTERNAL, "stopped by the caller at step \"%s\"",
			    cmp_step_name(s));
	return CMP_OK;
}

struct cmp_tx *cmp_tx_new(const struct cmp_client_cfg *cfg, const struct cmp_request *req,
			  cmp_step_fn *on_step, void *arg)
{
	struct cmp_tx *tx = calloc(1, sizeof(*tx));

	if (tx == NULL)
		return NULL;
	tx->cfg = cfg;
	tx->req = req;
	tx->on_step = on_step;
	tx->arg = arg;
	tx->r.status[0] = tx->r.status[1] = -1;
	tx->r.retry_after = -1;
	tx->nreqs = req->dual ? 2 : 1;
	return tx;
}

const struct cmp_result *cmp_tx_result(const struct cmp_tx *tx)
{
	return &tx->r;
}

const ASN1_OCTET_STRING *cmp_tx_their_nonce(const struct cmp_tx *tx)
{
	return tx->their_nonce;
}

const X509_ALGOR *cmp_tx_reply_pbm(const struct cmp_tx *tx)
{
	return tx->reply_pbm;
}

struct cmp_tx *cmp_tx_resume(const struct cmp_client_cfg *cfg, const struct cmp_request *req,
			     const unsigned char *tid, const unsigned char *nonce, size_t nonce_len,
			     const unsigned char *pbm_der, size_t pbm_len, X509 *sign_cert,
			     X509 *enc_cert)
{
	struct cmp_tx *tx = cmp_tx_new(cfg, req, NULL, NULL);
	const unsigned char *p = pbm_der;

	if (tx == NULL)
		return NULL;
	memcpy(tx->r.tid, tid, CMP_NONCE_LEN);
	if ((tx->their_nonce = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(tx->their_nonce, nonce, (int)nonce_len) ||
	    (pbm_der != NULL &&
	     (tx->reply_pbm = d2i_X509_ALGOR(NULL, &p, (long)pbm_len)) == NULL) ||
	    sign_cert == NULL || !X509_up_ref(sign_cert)) {
		cmp_tx_free(tx);
		return NULL;
	}
	tx->r.sign_cert = sign_cert;
	if (enc_cert != NULL && X509_up_ref(enc_cert))
		tx->r.enc_cert = enc_cert;
	tx->nreqs = enc_cert != NULL ? 2 : 1;
	tx->r.step = CMP_STEP_RESPONSE;
	tx->resent = 1;
	return tx;
}

void cmp_tx_free(struct cmp_tx *tx)
{
	if (tx == NULL)
		return;
	X509_free(tx->r.sign_cert);
	X509_free(tx->r.enc_cert);
	EVP_PKEY_free(tx->r.enc_key);
	sk_X509_pop_free(tx->r.ca_pubs, X509_free);
	sk_X509_pop_free(tx->r.extra_certs, X509_free);
	EVP_PKEY_free(tx->kek);
	ASN1_OCTET_STRING_free(tx->their_nonce);
	X509_ALGOR_free(tx->reply_pbm);
	X509_free(tx->signer);
	free(tx);
}

/* A new message of this transaction with a fresh senderNonce. */
static PKR_MSG *new_msg(struct cmp_tx *tx, int implicit_confirm)
{
	const struct cmp_request *rq = tx->req;
	struct cmp_hdr_args a = {
		.pvno = tx->cfg->pvno ? tx->cfg->pvno : 2,
		.sender = rq->sender_is_subject ? rq->subject : NULL,
		.recipient = tx->cfg->recipient,
		.tid = tx->r.tid,
		.sender_nonce = tx->nonce,
		.recip_nonce = tx->their_nonce,
		.implicit_confirm = implicit_confirm,
	};
	PKR_MSG *m;

	if (cmp_random(tx->nonce, sizeof(tx->nonce)) < 0 || (m = PKR_MSG_new()) == NULL)
		return NULL;
	PKR_HEADER_free(m->header);
	if ((m->header = cmp_hdr_new(&a)) == NULL) {
		PKR_MSG_free(m);
		return NULL;
	}
	return m;
}

/* How this transaction's next message is protected. */
static void protection_of(struct cmp_tx *tx, struct cmp_protection *p)
{
	cmp_req_protection(tx->req, &tx->cfg->pbm, tx->reply_pbm, p);
}

/* ---- sending and checking replies ---- */

/*
 * The reply's protection, checked with what this transaction has: our
 * secret for a MAC; for a signature, the trust anchors, the extraCerts of
 * this reply and of earlier ones, and the signer already verified in this
 * transaction (RFC 4210 5.1.3.3: a pkiConf may come bare, without
 * extraCerts or senderKID). CMP_OK when it verified, else the fault it
 * would be, with why set; tx is not failed here.
 */
static int check_protection(struct cmp_tx *tx, const unsigned char *der, size_t len,
			    const PKR_MSG *rep, char *why, size_t whylen)
{
	const X509_ALGOR *alg = rep->header->protectionAlg;
	STACK_OF(X509) *known = NULL;
	X509 *signer = NULL;
	char err[300];
	int v;

	if (alg == NULL || rep->protection == NULL) {
		snprintf(why, whylen, "unprotected");
		return CMP_F_PROTOCOL;
	}
	if (OBJ_obj2nid(alg->algorithm) == NID_id_PasswordBasedMAC) {
		if (tx->req->secret == NULL) {
			snprintf(why, whylen,
				 "RFC 4210 5.1.3.1: MAC-protected, but this request had no shared "
				 "secret");
			return CMP_F_PROTOCOL;
		}
		v = cmp_verify_pbm(der, len, rep, tx->req->secret, tx->req->secret_len, err,
				   sizeof(err));
		if (v != CMP_VERIFY_OK) {
			snprintf(why, whylen, "its MAC did not verify: %s", err);
			return v == CMP_VERIFY_BAD ? CMP_F_BADMAC : CMP_F_PROTOCOL;
		}
		X509_ALGOR_free(tx->reply_pbm);
		if ((tx->reply_pbm = X509_ALGOR_dup(alg)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return CMP_F_INTERNAL;
		}
		return CMP_OK;
	}
	if ((known = sk_X509_new_null()) == NULL ||
	    !X509_add_certs(known, tx->r.extra_certs, X509_ADD_FLAG_UP_REF) ||
	    (tx->signer != NULL && !X509_add_cert(known, tx->signer, X509_ADD_FLAG_UP_REF))) {
		sk_X509_pop_free(known, X509_free);
		snprintf(why, whylen, "out of memory");
		return CMP_F_INTERNAL;
	}
	v = cmp_verify_sig(der, len, rep, tx->cfg->trust, known, &signer, err, sizeof(err));
	sk_X509_pop_free(known, X509_free);
	if (v != CMP_VERIFY_OK) {
		snprintf(why, whylen, "its signature did not verify: %s%s", err,
			 v == CMP_VERIFY_UNTRUSTED && tx->cfg->trust == NULL
				 ? " (set trust_anchor in the CA profile to the CA certificate "
				   "that signs its replies)"
				 : "");
		return v == CMP_VERIFY_UNTRUSTED && tx->cfg->trust == NULL ? CMP_F_CONFIG
									   : CMP_F_PROTOCOL;
	}
	X509_free(tx->signer);
	tx->signer = signer;
	return CMP_OK;
}

/*
 * Turns an error body into the transaction's fault: its status, failInfo
 * and text, verified or not (unverified says why; badmac: a MAC that our
 * code does not verify). A badMessageCheck, or an error under a MAC of
 * another secret, is a code the CA did not take: never sent again.
 */
static int error_body(struct cmp_tx *tx, const PKR_MSG *rep, const char *unverified, int badmac)
{
	const PKR_ERRMSG *e = rep->body->value.error;
	unsigned long bits = cmp_pkisi_failbits(e->pKIStatusInfo);
	char text[700], mark[400] = "";

	cmp_error_text(e, text, sizeof(text));
	tx->r.failbits[0] |= bits;
	tx->err_verified = unverified == NULL;
	if (unverified != NULL)
		snprintf(mark, sizeof(mark), " [not verified: %s]", unverified);
	if (unverified != NULL && badmac)
		return fail(tx, CMP_F_BADMAC,
			    "the CA's error is MAC-protected with another secret than our code "
			    "(wrong authorization code?)%s: %s",
			    mark, text);
	if (bits & (1UL << OSSL_CMP_PKIFAILUREINFO_badMessageCheck))
		return fail(tx, CMP_F_BADMAC,
			    "the CA refused our message protection (wrong authorization code or "
			    "reference number?)%s: %s",
			    mark, text);
	return fail(tx, CMP_F_REJECTED, "CA error%s: %s", mark, text);
}

static int take_certrep(struct cmp_tx *tx, const PKR_MSG *rep, int *waiting);

/*
 * A certificate reply that did not verify may still be the CA's: it may
 * have issued. Its certificates and the central key are taken (for our
 * key only) so that the caller keeps them; the fault says unverified.
 */
static int unverified_certrep(struct cmp_tx *tx, const PKR_MSG *rep, int fault, const char *why)
{
	int waiting = 0, f;
	char reason[sizeof(tx->r.reason)];

	tx->r.unverified = 1;
	f = take_certrep(tx, rep, &waiting);
	if (f != CMP_OK || waiting || tx->r.sign_cert == NULL) {
		tx->r.fault = CMP_OK;
		X509_free(tx->r.sign_cert);
		X509_free(tx->r.enc_cert);
		EVP_PKEY_free(tx->r.enc_key);
		tx->r.sign_cert = tx->r.enc_cert = NULL;
		tx->r.enc_key = NULL;
		return fail(tx, fault, "the CA's %s did not verify: %s",
			    cmp_body_name(rep->body->type), why);
	}
	snprintf(reason, sizeof(reason),
		 "the CA's %s carries a certificate for our key, but %s; it may have been "
		 "issued",
		 cmp_body_name(rep->body->type), why);
	return fail(tx, CMP_F_UNVERIFIED, "%s", reason);
}

/* HTTP 429/503: the seconds to wait before the next try (Retry-After, else
 * doubling from 1 s); -1 when the transaction should give up instead. */
static int rate_wait(struct cmp_tx *tx, long long deadline_ms)
{
	int ra = transport_retry_after(tx->cfg->transport);
	int wait = ra >= 0 ? ra : 1 << (tx->r.rate_waits < 6 ? tx->r.rate_waits : 6);

	tx->r.retry_after = ra;
	if (base_now_ms() + (long long)wait * 1000 > deadline_ms)
		return -1;
	return wait;
}

/*
 * Protects and sends m, receives and checks the reply: protection,
 * transactionID, recipNonce. *out is the decoded reply (caller frees). A
 * rate limit on a message inside the transaction (certConf, pollReq) is
 * waited out here, as the limiter asks: the transaction finishes rather
 * than being abandoned. The request that opens it comes back as
 * CMP_F_RATELIMIT: nothing reached the CA.
 */
static int exchange(struct cmp_tx *tx, PKR_MSG *m, PKR_MSG **out)
{
	unsigned char *der = NULL, *rsp = NULL;
	size_t len = 0, rlen = 0;
	struct cmp_protection prot;
	PKR_MSG *rep = NULL;
	char err[512], why[700];
	int r, fault = CMP_OK, pf, opening;
	int deadline_s = tx->cfg->poll_deadline > 0 ? tx->cfg->poll_deadline : 300;
	long long deadline = base_now_ms() + (long long)deadline_s * 1000;
	long pvno;

	*out = NULL;
	tx->err_verified = 0;
	opening = m->body->type != CMP_BODY_CERTCONF && m->body->type != CMP_BODY_POLLREQ;
	protection_of(tx, &prot);
	if (cmp_msg_protect(m, &prot, err, sizeof(err)) < 0)
		return fail(tx, CMP_F_INTERNAL, "cannot protect the %s: %s",
			    cmp_body_name(m->body->type), err);
	if (cmp_msg_encode(m, &der, &len) < 0)
		return fail(tx, CMP_F_INTERNAL, "cannot encode the %s",
			    cmp_body_name(m->body->type));
	cmp_trace_message(tx->cfg->trace, tx->r.tid, 0, der, len, m);

	/* Phase: the wire; a rate limit inside the transaction is waited out. */
	for (;;) {
		int wait;

		r = transport_exchange(tx->cfg->transport, der, len, &rsp, &rlen, err, sizeof(err));
		if (r != TRANSPORT_RATELIMIT)
			break;
		tx->r.retry_after = transport_retry_after(tx->cfg->transport);
		if (opening || (wait = rate_wait(tx, deadline)) < 0)
			break;
		tx->r.rate_waits++;
		if (wait > 0)
			nanosleep(&(struct timespec){.tv_sec = wait}, NULL);
	}
	OPENSSL_free(der);
	if (r != TRANSPORT_OK)
		return fail(tx,
			    r == TRANSPORT_FATAL       ? CMP_F_CONFIG
			    : r == TRANSPORT_BADREPLY  ? CMP_F_PROTOCOL
			    : r == TRANSPORT_RATELIMIT ? CMP_F_RATELIMIT
						       : CMP_F_TRANSIENT,
			    "%s", err);
	rep = cmp_msg_decode(rsp, rlen, err, sizeof(err));
	cmp_trace_message(tx->cfg->trace, tx->r.tid, 1, rsp, rlen, rep);
	if (rep == NULL) {
		fault = fail(tx, CMP_F_PROTOCOL, "%s", err);
		goto out;
	}

	/* Phase: is this reply for us, and genuine? */
	pvno = ASN1_INTEGER_get(rep->header->pvno);
	if (pvno < 1 || pvno > 3) {
		fault = fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.1.1: reply with pvno %ld", pvno);
		goto out;
	}
	pf = check_protection(tx, rsp, rlen, rep, why, sizeof(why));
	if (pf != CMP_OK && rep->body->type == CMP_BODY_ERROR) {
		/* shown with what it says, never trusted */
		fault = error_body(tx, rep, why, pf == CMP_F_BADMAC);
		goto out;
	}
	if (rep->header->transactionID == NULL ||
	    rep->header->transactionID->length != CMP_NONCE_LEN ||
	    memcmp(rep->header->transactionID->data, tx->r.tid, CMP_NONCE_LEN) != 0) {
		if (rep->body->type == CMP_BODY_ERROR && rep->header->transactionID == NULL)
			fault = error_body(tx, rep, NULL, 0);
		else
			fault = fail(tx, CMP_F_PROTOCOL,
				     "RFC 4210 5.1.1: reply has the wrong transactionID");
		goto out;
	}
	if (rep->header->recipNonce == NULL || rep->header->recipNonce->length != CMP_NONCE_LEN ||
	    memcmp(rep->header->recipNonce->data, tx->nonce, CMP_NONCE_LEN) != 0) {
		if (rep->body->type == CMP_BODY_ERROR && rep->header->recipNonce == NULL)
			fault = error_body(tx, rep, NULL, 0);
		else
			fault = fail(tx, CMP_F_PROTOCOL,
				     "RFC 4210 5.1.1: reply's recipNonce is not our senderNonce");
		goto out;
	}
	if (pf != CMP_OK) {
		int certrep = rep->body->type == CMP_BODY_IP || rep->body->type == CMP_BODY_CP ||
			      rep->body->type == CMP_BODY_KUP;

		if (rep->protection == NULL)
			fault = fail(tx, CMP_F_PROTOCOL,
				     "RFC 4210 5.1.3: unprotected %s reply refused",
				     cmp_body_name(rep->body->type));
		else if (certrep)
			fault = unverified_certrep(tx, rep, pf, why);
		else
			fault = fail(tx, pf, "the CA's %s did not verify: %s",
				     cmp_body_name(rep->body->type), why);
		tx->r.unverified = 1;
		goto out;
	}
	ASN1_OCTET_STRING_free(tx->their_nonce);
	tx->their_nonce =
		rep->header->senderNonce ? ASN1_OCTET_STRING_dup(rep->header->senderNonce) : NULL;
	if (rep->body->type == CMP_BODY_ERROR) {
		fault = error_body(tx, rep, NULL, 0);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(rep->extraCerts); i++) {
		if (tx->r.extra_certs == NULL)
			tx->r.extra_certs = sk_X509_new_null();
		X509_add_cert(tx->r.extra_certs, sk_X509_value(rep->extraCerts, i),
			      X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP);
	}
	*out = rep;
	rep = NULL;
out:
	OPENSSL_free(rsp);
	PKR_MSG_free(rep);
	return fault;
}

/* Checks one CertResponse; keeps its certificate (and key). */
static int take_response(struct cmp_tx *tx, const PKR_CERTRESP *cr, int id)
{
	const PKR_CKP *ckp = cr->certifiedKeyPair;
	char text[600], err[300];
	X509 *cert;

	cmp_pkisi_text(cr->status, text, sizeof(text));
	if (tx->r.status[id] != CMP_ST_ACCEPTED && tx->r.status[id] != CMP_ST_GRANTED_WITH_MODS)
		return fail(tx, CMP_F_REJECTED, "certReqId %d: %s", id, text);
	if (ckp == NULL || ckp->certOrEncCert->type != PKR_COEC_CERT)
		return fail(tx, CMP_F_PROTOCOL,
			    "RFC 4210 5.3.4: certReqId %d accepted without a plain certificate",
			    id);
	cert = ckp->certOrEncCert->value.certificate;
	if (id == 0) {
		/* the signing certificate must carry the key we asked for */
		if (!keys_match_cert(tx->req->new_key, cert))
			return fail(tx, CMP_F_KEY,
				    "certReqId 0: the certificate's public key is not the one "
				    "requested");
		X509_up_ref(cert);
		tx->r.sign_cert = cert;
		if (tx->req->subject != NULL &&
		    X509_NAME_cmp(tx->req->subject, X509_get_subject_name(cert)) != 0)
			tx->r.subject_changed = 1;
		return CMP_OK;
	}
	/* id 1: the CA-generated key, encrypted to our protocolEncrKey */
	if (ckp->privateKey == NULL)
		return fail(
			tx, CMP_F_PROTOCOL,
			"RFC 4210 5.3.4: certReqId 1 (central key generation) without privateKey");
	if (ckp->privateKey->type != PKR_ENCKEY_VALUE)
		return fail(tx, CMP_F_PROTOCOL,
			    "RFC 9810 5.2.2: privateKey as EnvelopedData is not supported, only "
			    "EncryptedValue");
	tx->r.enc_key = cmp_encval_decrypt(ckp->privateKey->value.encryptedValue, tx->kek, err,
					   sizeof(err));
	if (tx->r.enc_key == NULL)
		return fail(tx, CMP_F_KEY, "certReqId 1: the CA-generated key: %s", err);
	if (!keys_match_cert(tx->r.enc_key, cert))
		return fail(
			tx, CMP_F_KEY,
			"certReqId 1: the decrypted key does not match the encryption certificate");
	X509_up_ref(cert);
	tx->r.enc_cert = cert;
	return CMP_OK;
}

/*
 * Reads a CertRepMessage. Returns CMP_OK with *waiting set when some
 * request is still waiting, else the fault.
 */
static int take_certrep(struct cmp_tx *tx, const PKR_MSG *rep, int *waiting)
{
	const PKR_CERTREPMSG *crm = rep->body->value.ip;
	int n = sk_PKR_CERTRESP_num(crm->response), seen[MAX_REQS] = {0}, f;

	*waiting = 0;
	if (n != tx->nreqs)
		return fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.3.4: %d responses for %d requests", n,
			    tx->nreqs);
	for (int i = 0; i < n; i++) {
		const PKR_CERTRESP *cr = sk_PKR_CERTRESP_value(crm->response, i);
		long id = ASN1_INTEGER_get(cr->certReqId);

		if (id < 0 || id >= tx->nreqs || seen[id]++)
			return fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.3.4: unexpected certReqId %ld",
				    id);
		tx->r.status[id] = cmp_pkisi_status(cr->status);
		tx->r.failbits[id] = cmp_pkisi_failbits(cr->status);
		if (tx->r.status[id] == CMP_ST_WAITING)
			*waiting = 1;
	}
	if (*waiting)
		return CMP_OK;
	for (int i = 0; i < n; i++) {
		const PKR_CERTRESP *cr = sk_PKR_CERTRESP_value(crm->response, i);

		if ((f = take_response(tx, cr, (int)ASN1_INTEGER_get(cr->certReqId))) != CMP_OK)
			return f;
	}
	for (int i = 0; i < sk_X509_num(crm->caPubs); i++) {
		if (tx->r.ca_pubs == NULL && (tx->r.ca_pubs = sk_X509_new_null()) == NULL)
			return fail(tx, CMP_F_INTERNAL, "out of memory");
		X509_add_cert(tx->r.ca_pubs, sk_X509_value(crm->caPubs, i),
			      X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP);
	}
	tx->r.implicit_confirmed =
		tx->cfg->implicit_confirm && cmp_hdr_implicit_confirm(rep->header);
	return CMP_OK;
}

/* pollReq for every request; *rep becomes the reply. */
static int poll_once(struct cmp_tx *tx, PKR_MSG **rep)
{
	PKR_MSG *m = new_msg(tx, 0);
	int f;

	if (m == NULL)
		return fail(tx, CMP_F_INTERNAL, "out of memory");
	m->body->type = CMP_BODY_POLLREQ;
	if ((m->body->value.pollReq = cmp_pollreq_new(tx->nreqs)) == NULL)
		goto nomem;
	tx->r.polls++;
	f = exchange(tx, m, rep);
	PKR_MSG_free(m);
	return f;
nomem:
	PKR_MSG_free(m);
	return fail(tx, CMP_F_INTERNAL, "out of memory");
}

int cmp_tx_request(struct cmp_tx *tx)
{
	int want = cmp_rep_body(tx->req->type), waiting = 0, f;
	int deadline_s = tx->cfg->poll_deadline > 0 ? tx->cfg->poll_deadline : 300;
	time_t deadline = time(NULL) + deadline_s;
	PKR_MSG *m = NULL, *rep = NULL;

	/* Phase: the request. */
	if (tx->req->new_key == NULL ||
	    (tx->req->type == CMP_REQ_KUR &&
	     (tx->req->old_cert == NULL || tx->req->old_key == NULL)) ||
	    (tx->req->type != CMP_REQ_KUR && tx->req->secret == NULL && tx->req->old_key == NULL))
		return fail(tx, CMP_F_CONFIG,
			    "incomplete request (key, certificate or secret missing)");
	if (cmp_random(tx->r.tid, sizeof(tx->r.tid)) < 0 ||
	    (m = new_msg(tx, tx->cfg->implicit_confirm)) == NULL)
		return fail(tx, CMP_F_INTERNAL, "out of memory");
	m->body->type = cmp_req_body(tx->req->type);
	if ((m->body->value.ir = cmp_crms_new(tx->req, &tx->kek)) == NULL) {
		f = fail(tx, CMP_F_INTERNAL, "cannot build the certificate requests");
		goto out;
	}
	if ((f = step(tx, CMP_STEP_REQUEST)) != CMP_OK || (f = exchange(tx, m, &rep)) != CMP_OK)
		goto out;

	/* Phase: the reply, polling while the CA says waiting. */
	for (;;) {
		if (rep->body->type == CMP_BODY_POLLREP) {
			const PKR_POLLREP *pr = sk_PKR_POLLREP_value(rep->body->value.pollRep, 0);
			long after = pr ? ASN1_INTEGER_get(pr->checkAfter) : -1;

			if (after < 0 || after > 86400) {
				f = fail(tx, CMP_F_PROTOCOL,
					 "RFC 4210 5.3.22: pollRep checkAfter %ld", after);
				goto out;
			}
			if (time(NULL) + after > deadline) {
				f = fail(tx, CMP_F_WAITING,
					 "the CA still asks to wait (checkAfter %lds) at the %ds "
					 "polling deadline",
					 after, deadline_s);
				goto out;
			}
			if (after > 0)
				nanosleep(&(struct timespec){.tv_sec = after}, NULL);
		} else if (rep->body->type != want) {
			f = fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.3: expected %s, got %s",
				 cmp_body_name(want), cmp_body_name(rep->body->type));
			goto out;
		} else {
			if ((f = take_certrep(tx, rep, &waiting)) != CMP_OK)
				goto out;
			if (!waiting)
				break;
			if (time(NULL) >= deadline) {
				f = fail(tx, CMP_F_WAITING,
					 "the CA still says waiting at the %ds deadline",
					 deadline_s);
				goto out;
			}
		}
		PKR_MSG_free(rep);
		rep = NULL;
		if ((f = poll_once(tx, &rep)) != CMP_OK)
			goto out;
	}
	f = step(tx, CMP_STEP_RESPONSE);
out:
	/* the CA may have it (under implicitConfirm, issued for good); we have no answer */
	if ((f == CMP_F_TRANSIENT || f == CMP_F_PROTOCOL) && tx->r.step == CMP_STEP_REQUEST &&
	    !tx->err_verified && transport_delivered(tx->cfg->transport))
		tx->r.unanswered = 1;
	PKR_MSG_free(m);
	PKR_MSG_free(rep);
	return f;
}

/*
 * What the answer to a certConf proved (enum cmp_confirm), and the fault
 * that goes with it. f is the exchange's fault, CMP_OK for a verified
 * pkiConf.
 */
static int confirm_outcome(struct cmp_tx *tx, int f, int accept)
{
	const unsigned long done = (1UL << OSSL_CMP_PKIFAILUREINFO_certConfirmed) |
				   (1UL << OSSL_CMP_PKIFAILUREINFO_transactionIdInUse);
	char why[sizeof(tx->r.reason)];

	if (f == CMP_OK) {
		tx->r.confirm = CMP_CONFIRM_PROVEN;
		return accept ? step(tx, CMP_STEP_DONE)
			      : fail(tx, CMP_F_KEY, "the certificates were rejected in certConf");
	}
	snprintf(why, sizeof(why), "%s", tx->r.reason);
	if (tx->err_verified && (tx->r.failbits[0] & done) && accept) {
		/* RFC 4210 5.3.18 / 5.1.1: the CA had this certConf already */
		tx->r.fault = CMP_OK;
		tx->r.reason[0] = '\0';
		tx->r.confirm = CMP_CONFIRM_PROVEN;
		return step(tx, CMP_STEP_DONE);
	}
	if (f == CMP_F_TRANSIENT || f == CMP_F_RATELIMIT || f == CMP_F_CONFIG ||
	    (!tx->err_verified && !tx->resent)) {
		/* no answer, or one that proves nothing: the certConf goes out again */
		tx->r.confirm = CMP_CONFIRM_OPEN;
		if (f != CMP_F_TRANSIENT && f != CMP_F_RATELIMIT) {
			tx->r.fault = CMP_F_TRANSIENT;
			snprintf(tx->r.reason, sizeof(tx->r.reason),
				 "the answer to certConf proves nothing (%.900s); the certConf is "
				 "sent again",
				 why);
		}
		return tx->r.fault;
	}
	if (tx->err_verified && !tx->resent) {
		tx->r.confirm = CMP_CONFIRM_REFUSED;
		return f;
	}
	/* sent again: the first one may have arrived and been confirmed */
	tx->r.confirm = CMP_CONFIRM_UNPROVEN;
	tx->r.fault = CMP_F_UNCONFIRMED;
	snprintf(tx->r.reason, sizeof(tx->r.reason),
		 "the certConf was sent again and the CA answered %.900s; the CA may hold the "
		 "certificates confirmed, so they are kept",
		 why);
	return CMP_F_UNCONFIRMED;
}

int cmp_tx_confirm(struct cmp_tx *tx, int accept)
{
	X509 *certs[MAX_REQS] = {tx->r.sign_cert, tx->r.enc_cert};
	PKR_MSG *m = NULL, *rep = NULL;
	int f;

	if (tx->r.fault != CMP_OK)
		return tx->r.fault;
	if (tx->r.step != CMP_STEP_RESPONSE)
		return fail(tx, CMP_F_INTERNAL, "confirm before a response");
	if (tx->r.implicit_confirmed && accept) {
		tx->r.confirm = CMP_CONFIRM_PROVEN;
		return step(tx, CMP_STEP_DONE);
	}

	/* Phase: certConf, one CertStatus per certificate. */
	if ((m = new_msg(tx, 0)) == NULL)
		return fail(tx, CMP_F_INTERNAL, "out of memory");
	m->body->type = CMP_BODY_CERTCONF;
	if ((m->body->value.certConf = cmp_certconf_new(certs, tx->nreqs, accept)) == NULL)
		goto nomem;
	if ((f = step(tx, CMP_STEP_CONFIRM)) != CMP_OK)
		goto out;
	f = exchange(tx, m, &rep);
	if (f == CMP_OK && rep->body->type != CMP_BODY_PKICONF)
		f = fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.3.17: expected pkiConf, got %s",
			 cmp_body_name(rep->body->type));
	f = confirm_outcome(tx, f, accept);
out:
	PKR_MSG_free(m);
	PKR_MSG_free(rep);
	return f;
nomem:
	PKR_MSG_free(m);
	return fail(tx, CMP_F_INTERNAL, "out of memory");
}

/* ---- revocation (RFC 4210 5.3.9, 5.3.10) ---- */

int cmp_tx_revoke(struct cmp_tx *tx, X509 *const *certs, int n, int reason)
{
	PKR_MSG *m = NULL, *rep = NULL;
	const PKR_REVREP *rp;
	int f, bad = 0;

	if (n < 1 || n > MAX_REQS || (tx->req->old_key == NULL && tx->req->secret == NULL))
		return fail(tx, CMP_F_CONFIG, "incomplete revocation request");
	if (cmp_random(tx->r.tid, sizeof(tx->r.tid)) < 0 || (m = new_msg(tx, 0)) == NULL)
		return fail(tx, CMP_F_INTERNAL, "out of memory");
	m->body->type = CMP_BODY_RR;
	if ((m->body->value.rr = cmp_rr_new(certs, n, reason, tx->req->rr_by_subject)) == NULL)
		goto nomem;
	if ((f = step(tx, CMP_STEP_REQUEST)) != CMP_OK || (f = exchange(tx, m, &rep)) != CMP_OK)
		goto out;
	if (rep->body->type != CMP_BODY_RP) {
		f = fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.3.10: expected rp, got %s",
			 cmp_body_name(rep->body->type));
		goto out;
	}
	/* RFC 4210 5.3.10: one status per RevDetails, in order */
	rp = rep->body->value.rp;
	if (sk_PKR_PKISI_num(rp->status) != n) {
		f = fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.3.10: rp has %d statuses for %d requests",
			 sk_PKR_PKISI_num(rp->status), n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const PKR_PKISI *si = sk_PKR_PKISI_value(rp->status, i);
		int st = cmp_pkisi_status(si);
		char text[400];

		tx->r.status[i] = st;
		tx->r.failbits[i] = cmp_pkisi_failbits(si);
		if (st == CMP_ST_ACCEPTED || st == CMP_ST_GRANTED_WITH_MODS)
			continue;
		cmp_pkisi_text(si, text, sizeof(text));
		if (!bad)
			f = fail(tx, CMP_F_REJECTED, "the CA refused to revoke certificate %d: %s",
				 i + 1, text);
		bad = 1;
	}
	if (!bad)
		f = step(tx, CMP_STEP_DONE);
out:
	PKR_MSG_free(m);
	PKR_MSG_free(rep);
	return f;
nomem:
	PKR_MSG_free(m);
	return fail(tx, CMP_F_INTERNAL, "out of memory");
}

/* ---- general message (RFC 4210 5.3.19) ---- */

int cmp_tx_genm(struct cmp_tx *tx, const char *info_oid, STACK_OF(PKR_ITAV) * *genp)
{
	PKR_MSG *m = NULL, *rep = NULL;
	int f;

	*genp = NULL;
	if (tx->req->old_key == NULL && tx->req->secret == NULL)
		return fail(tx, CMP_F_CONFIG, "genm: neither a key nor a secret to protect it");
	if (cmp_random(tx->r.tid, sizeof(tx->r.tid)) < 0 || (m = new_msg(tx, 0)) == NULL)
		return fail(tx, CMP_F_INTERNAL, "out of memory");
	m->body->type = CMP_BODY_GENM;
	if ((m->body->value.genm = cmp_genm_new(info_oid)) == NULL)
		goto nomem;
	if ((f = exchange(tx, m, &rep)) != CMP_OK)
		goto out;
	if (rep->body->type != CMP_BODY_GENP) {
		f = fail(tx, CMP_F_PROTOCOL, "RFC 4210 5.3.19: expected genp, got %s",
			 cmp_body_name(rep->body->type));
		goto out;
	}
	*genp = rep->body->value.genp;
	rep->body->value.genp = NULL;
	tx->r.step = CMP_STEP_DONE;
out:
	PKR_MSG_free(m);
	PKR_MSG_free(rep);
	return f;
nomem:
	PKR_MSG_free(m);
	return fail(tx, CMP_F_INTERNAL, "out of memory");
}
