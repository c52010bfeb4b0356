/*
 * pkiroll-ca's reply kit: the request's log line, and how a reply is
 * made, refused and protected. The dispatcher (handler.c) and issuance
 * (issue.c) build their answers with it; it calls neither.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "request.h"

void logf_(struct req *r, const char *fmt, ...)
{
	size_t used = strlen(r->log);
	va_list ap;

	if (used >= sizeof(r->log) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(r->log + used, sizeof(r->log) - used, fmt, ap);
	va_end(ap);
}

const X509_NAME *ca_name(const struct req *r)
{
	return X509_get_subject_name(r->cfg->keys.cert);
}

void reply_new(struct req *r, int type)
{
	PKR_MSG_free(r->rep);
	r->rep = cmp_srv_reply_new(r->msg, ca_name(r), 0);
	r->rep->body->type = type;
}

PKR_CERTRESP *reject_resp(long id, int bit, const char *text)
{
	return cmp_srv_certresp(id, cmp_pkisi_new(CMP_ST_REJECTION, BIT(bit), text), NULL, NULL);
}

void code_used_reply(struct req *r)
{
	char text[300];

	if (!r->f.ejbca) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_notAuthorized),
			    "reference number already used", 1);
		return;
	}
	snprintf(text, sizeof(text),
		 "Got request with status GENERATED (40), NEW, FAILED or INPROCESS required: "
		 "%.100s.",
		 r->have_user ? r->user.ref : "?");
	error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badRequest), text, 1);
}

void error_reply(struct req *r, unsigned long bits, const char *text, int protect)
{
	PKR_MSG_free(r->rep);
	r->rep = cmp_srv_error_new(r->msg, ca_name(r), CMP_ST_REJECTION, bits, text);
	if (!protect)
		r->auth = AUTH_NONE;
	logf_(r, " -> error (%s%s%s)", bits ? cmp_failinfo_name(__builtin_ctzl(bits)) : "",
	      bits ? ": " : "", text);
}

/*
 * How the reply is protected: as the request was (a MAC with the user's
 * code, or the CA's signature), or as the faults of real CAs say: signed
 * by a CMP responder, signed although the request had a MAC, errors
 * signed even without an authenticated request.
 */
int protect_reply(struct req *r)
{
	struct cmp_protection p = {0};
	char err[256];
	int how = r->auth;

	if ((how == AUTH_PBM && r->f.signpbm) ||
	    (how == AUTH_NONE && r->f.signerrors && r->rep->body->type == CMP_BODY_ERROR))
		how = AUTH_SIG;
	switch (how) {
	case AUTH_PBM:
		p.type = CMP_PROT_PBM;
		p.secret = (const unsigned char *)(r->f.wrongmac ? "not-the-code" : r->user.code);
		p.secret_len = strlen((const char *)p.secret);
		p.pbm_reuse = r->msg->header->protectionAlg;
		/* the CA certificates in extraCerts, as signed replies have them:
		 * a client builds its new certificate's path from them */
		if (r->rep->body->type == CMP_BODY_IP || r->rep->body->type == CMP_BODY_CP ||
		    r->rep->body->type == CMP_BODY_KUP) {
			if (r->rep->extraCerts == NULL)
				r->rep->extraCerts = sk_X509_new_null();
			for (int i = 0; i < sk_X509_num(r->cfg->keys.chain); i++)
				X509_add_cert(r->rep->extraCerts,
					      sk_X509_value(r->cfg->keys.chain, i),
					      X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP);
		}
		break;
	case AUTH_SIG: {
		STACK_OF(X509) *rest = sk_X509_new_null();
		int responder = r->f.responder && r->cfg->resp_cert != NULL;

		/* the signer first, then the CA certificates above it */
		for (int i = responder ? 0 : 1; i < sk_X509_num(r->cfg->keys.chain); i++)
			sk_X509_push(rest, sk_X509_value(r->cfg->keys.chain, i));
		p.type = CMP_PROT_SIG;
		p.key = responder ? r->cfg->resp_key : r->cfg->keys.key;
		p.cert = responder ? r->cfg->resp_cert : r->cfg->keys.cert;
		p.chain = rest;
		p.md_nid = NID_sha256;
		/* NCM: the pkiConf comes bare, the client knows the signer */
		p.bare = responder && r->rep->body->type == CMP_BODY_PKICONF;
		if (cmp_msg_protect(r->rep, &p, err, sizeof(err)) < 0) {
			sk_X509_free(rest);
			return -1;
		}
		sk_X509_free(rest);
		/* the wrongmac fault, for a signed reply: a signature that fails */
		if (r->f.wrongmac && r->rep->protection != NULL && r->rep->protection->length > 0)
			r->rep->protection->data[r->rep->protection->length - 1] ^= 0x01;
		/* the sender of a signed reply is the signer */
		return 0;
	}
	default:
		p.type = CMP_PROT_NONE;
	}
	return cmp_msg_protect(r->rep, &p, err, sizeof(err));
}
