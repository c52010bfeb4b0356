/*
 * PKIMessage headers, the bodies of the client's requests (ir/cr/kur,
 * pollReq, certConf, rr, genm), encoding and decoding.
 */
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "cmp/cmp.h"
#include "cmp/cmp_client.h"
#include "x509/keys.h"

int cmp_random(unsigned char *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int cmp_octets_to_bits(ASN1_BIT_STRING *bs, const unsigned char *p, size_t n)
{
	if (!ASN1_BIT_STRING_set(bs, (unsigned char *)p, (int)n))
		return 0;
	bs->flags &= ~0x07;
	bs->flags |= ASN1_STRING_FLAG_BITS_LEFT; /* with 0 unused bits */
	return 1;
}

GENERAL_NAME *cmp_dirname(const X509_NAME *name)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	X509_NAME *dup = name != NULL ? X509_NAME_dup(name) : X509_NAME_new();

	if (gn == NULL || dup == NULL) {
		GENERAL_NAME_free(gn);
		X509_NAME_free(dup);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dup);
	return gn;
}

static ASN1_OCTET_STRING *octets(const unsigned char *p, size_t n)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

	if (os != NULL && !ASN1_OCTET_STRING_set(os, p, (int)n)) {
		ASN1_OCTET_STRING_free(os);
		return NULL;
	}
	return os;
}

PKR_HEADER *cmp_hdr_new(const struct cmp_hdr_args *a)
{
	PKR_HEADER *h = PKR_HEADER_new();

	if (h == NULL)
		return NULL;
	GENERAL_NAME_free(h->sender);
	GENERAL_NAME_free(h->recipient);
	h->sender = cmp_dirname(a->sender);
	h->recipient = cmp_dirname(a->recipient);
	h->messageTime = ASN1_GENERALIZEDTIME_set(NULL, time(NULL));
	if (h->sender == NULL || h->recipient == NULL || h->messageTime == NULL ||
	    !ASN1_INTEGER_set(h->pvno, a->pvno ? a->pvno : 2))
		goto fail;
	if (a->tid != NULL && (h->transactionID = octets(a->tid, CMP_NONCE_LEN)) == NULL)
		goto fail;
	if (a->sender_nonce != NULL &&
	    (h->senderNonce = octets(a->sender_nonce, CMP_NONCE_LEN)) == NULL)
		goto fail;
	if (a->recip_nonce != NULL &&
	    (h->recipNonce = ASN1_OCTET_STRING_dup(a->recip_nonce)) == NULL)
		goto fail;
	if (a->implicit_confirm) {
		PKR_ITAV *itav = PKR_ITAV_new();

		/* RFC 4210 5.1.1.1: ImplicitConfirmValue ::= NULL */
		if (itav == NULL ||
		    (itav->infoType = OBJ_nid2obj(NID_id_it_implicitConfirm)) == NULL ||
		    (itav->infoValue = ASN1_TYPE_new()) == NULL ||
		    !ASN1_TYPE_set1(itav->infoValue, V_ASN1_NULL, NULL) ||
		    (h->generalInfo = sk_PKR_ITAV_new_null()) == NULL ||
		    !sk_PKR_ITAV_push(h->generalInfo, itav)) {
			PKR_ITAV_free(itav);
			goto fail;
		}
	}
	return h;
fail:
	PKR_HEADER_free(h);
	return NULL;
}

int cmp_hdr_implicit_confirm(const PKR_HEADER *h)
{
	for (int i = 0; i < sk_PKR_ITAV_num(h->generalInfo); i++)
		if (OBJ_obj2nid(sk_PKR_ITAV_value(h->generalInfo, i)->infoType) ==
		    NID_id_it_implicitConfirm)
			return 1;
	return 0;
}

/* ---- request bodies (the client's, cmp_client.c) ---- */

int cmp_req_body(int req_type)
{
	return req_type == CMP_REQ_KUR	? CMP_BODY_KUR
	       : req_type == CMP_REQ_CR ? CMP_BODY_CR
					: CMP_BODY_IR;
}

int cmp_rep_body(int req_type)
{
	switch (req_type) {
	case CMP_REQ_CR:
		return CMP_BODY_CP;
	case CMP_REQ_KUR:
		return CMP_BODY_KUP;
	default:
		return CMP_BODY_IP;
	}
}

void cmp_req_protection(const struct cmp_request *rq, const struct cmp_pbm_params *pbm,
			const X509_ALGOR *reply_pbm, struct cmp_protection *p)
{
	memset(p, 0, sizeof(*p));
	if (rq->old_key != NULL && rq->old_cert != NULL) {
		p->type = CMP_PROT_SIG;
		p->key = rq->old_key;
		p->cert = rq->old_cert;
		p->chain = rq->old_chain;
		p->md_nid = NID_sha256;
	} else {
		p->type = CMP_PROT_PBM;
		p->secret = rq->secret;
		p->secret_len = rq->secret_len;
		p->reference = rq->reference;
		p->pbm = *pbm;
		p->pbm_reuse = reply_pbm; /* NULL for the first message */
	}
}

/* The AlgorithmIdentifier that hints the central key type, with an empty key. */
static PKR_SPKI *key_hint(int key_type)
{
	PKR_SPKI *pk = PKR_SPKI_new();
	int ok;

	if (pk == NULL)
		return NULL;
	switch (key_type) {
	case KEY_P256:
	case KEY_P384:
		ok = X509_ALGOR_set0(
			pk->algorithm, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
			OBJ_nid2obj(key_type == KEY_P256 ? NID_X9_62_prime256v1 : NID_secp384r1));
		break;
	default:
		ok = X509_ALGOR_set0(pk->algorithm, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL,
				     NULL);
	}
	if (!ok) {
		PKR_SPKI_free(pk);
		return NULL;
	}
	return pk;
}

/* Puts a key-type hint into an OSSL_CRMF_MSG (3.0 has no setter for it). */
static OSSL_CRMF_MSG *with_hint(OSSL_CRMF_MSG *crm, int key_type)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	PKR_CERTREQMSG *m = NULL;
	OSSL_CRMF_MSG *out = NULL;
	int n;

	if ((n = i2d_OSSL_CRMF_MSG(crm, &der)) <= 0)
		goto out;
	p = der;
	if ((m = d2i_PKR_CERTREQMSG(NULL, &p, n)) == NULL)
		goto out;
	PKR_SPKI_free(m->certReq->certTemplate->publicKey);
	if ((m->certReq->certTemplate->publicKey = key_hint(key_type)) == NULL)
		goto out;
	OPENSSL_free(der);
	der = NULL;
	if ((n = i2d_PKR_CERTREQMSG(m, &der)) <= 0)
		goto out;
	p = der;
	out = d2i_OSSL_CRMF_MSG(NULL, &p, n);
out:
	OPENSSL_free(der);
	PKR_CERTREQMSG_free(m);
	OSSL_CRMF_MSG_free(crm);
	return out;
}

OSSL_CRMF_MSGS *cmp_crms_new(const struct cmp_request *rq, EVP_PKEY **kek)
{
	const X509_NAME *subject = rq->subject;
	OSSL_CRMF_MSGS *crms = sk_OSSL_CRMF_MSG_new_null();
	OSSL_CRMF_MSG *crm = NULL;
	X509_PUBKEY *xpk = NULL;

	if (subject == NULL && rq->old_cert != NULL)
		subject = X509_get_subject_name(rq->old_cert);
	if (crms == NULL)
		goto fail;

	/* Phase: crm[0], the client's signing key, POP by signature. */
	if ((crm = OSSL_CRMF_MSG_new()) == NULL || !OSSL_CRMF_MSG_set_certReqId(crm, 0) ||
	    !OSSL_CRMF_CERTTEMPLATE_fill(OSSL_CRMF_MSG_get0_tmpl(crm), rq->new_key, subject, NULL,
					 NULL))
		goto fail;
	if (rq->type == CMP_REQ_KUR) {
		/* RFC 4211 6.5: oldCertID names the certificate being updated */
		OSSL_CRMF_CERTID *cid = OSSL_CRMF_CERTID_gen(X509_get_issuer_name(rq->old_cert),
							     X509_get0_serialNumber(rq->old_cert));

		if (cid == NULL || !OSSL_CRMF_MSG_set1_regCtrl_oldCertID(crm, cid)) {
			OSSL_CRMF_CERTID_free(cid);
			goto fail;
		}
		OSSL_CRMF_CERTID_free(cid);
	}
	if (!OSSL_CRMF_MSG_create_popo(OSSL_CRMF_POPO_SIGNATURE, crm, rq->new_key, EVP_sha256(),
				       NULL, NULL) ||
	    !sk_OSSL_CRMF_MSG_push(crms, crm))
		goto fail;
	crm = NULL;

	/* Phase: crm[1], a key pair the CA makes, sent back under protocolEncrKey. */
	if (rq->dual) {
		if (rq->kek != NULL && EVP_PKEY_up_ref(rq->kek))
			*kek = rq->kek;
		else
			*kek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		if (*kek == NULL || (crm = OSSL_CRMF_MSG_new()) == NULL ||
		    !OSSL_CRMF_MSG_set_certReqId(crm, 1) ||
		    !OSSL_CRMF_CERTTEMPLATE_fill(OSSL_CRMF_MSG_get0_tmpl(crm), NULL, subject, NULL,
						 NULL))
			goto fail;
		/* the hint before the protocolEncrKey: it goes through DER, and
		 * OpenSSL 3.0 sets up a decoder for every key it parses */
		if (rq->enc_key_type >= 0 && (crm = with_hint(crm, rq->enc_key_type)) == NULL)
			goto fail;
		if ((rq->kek_pub == NULL && !X509_PUBKEY_set(&xpk, *kek)) ||
		    !OSSL_CRMF_MSG_set1_regCtrl_protocolEncrKey(crm,
								rq->kek_pub ? rq->kek_pub : xpk))
			goto fail;
		if (!sk_OSSL_CRMF_MSG_push(crms, crm))
			goto fail;
		crm = NULL;
	}
	X509_PUBKEY_free(xpk);
	return crms;
fail:
	X509_PUBKEY_free(xpk);
	OSSL_CRMF_MSG_free(crm);
	sk_OSSL_CRMF_MSG_pop_free(crms, OSSL_CRMF_MSG_free);
	return NULL;
}

STACK_OF(PKR_POLLREQ) * cmp_pollreq_new(int n)
{
	STACK_OF(PKR_POLLREQ) *sk = sk_PKR_POLLREQ_new_null();

	if (sk == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		PKR_POLLREQ *pr = PKR_POLLREQ_new();

		if (pr == NULL || !ASN1_INTEGER_set(pr->certReqId, i) ||
		    !sk_PKR_POLLREQ_push(sk, pr)) {
			PKR_POLLREQ_free(pr);
			sk_PKR_POLLREQ_pop_free(sk, PKR_POLLREQ_free);
			return NULL;
		}
	}
	return sk;
}

static PKR_CERTSTATUS *cert_status(X509 *cert, int id, int accept)
{
	PKR_CERTSTATUS *cs = PKR_CERTSTATUS_new();

	if (cs == NULL)
		return NULL;
	/* RFC 4210 5.3.18: the hash algorithm of the certificate's signature */
	ASN1_OCTET_STRING_free(cs->certHash);
	if ((cs->certHash = X509_digest_sig(cert, NULL, NULL)) == NULL ||
	    !ASN1_INTEGER_set(cs->certReqId, id) ||
	    (cs->statusInfo = cmp_pkisi_new(
		     accept ? CMP_ST_ACCEPTED : CMP_ST_REJECTION,
		     accept ? 0 : 1UL << OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
		     accept ? NULL : "certificate not accepted by the client")) == NULL) {
		PKR_CERTSTATUS_free(cs);
		return NULL;
	}
	return cs;
}

STACK_OF(PKR_CERTSTATUS) * cmp_certconf_new(X509 *const *certs, int n, int accept)
{
	STACK_OF(PKR_CERTSTATUS) *sk = sk_PKR_CERTSTATUS_new_null();

	if (sk == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		PKR_CERTSTATUS *cs;

		if (certs[i] == NULL)
			continue;
		if ((cs = cert_status(certs[i], i, accept)) == NULL ||
		    !sk_PKR_CERTSTATUS_push(sk, cs)) {
			PKR_CERTSTATUS_free(cs);
			sk_PKR_CERTSTATUS_pop_free(sk, PKR_CERTSTATUS_free);
			return NULL;
		}
	}
	return sk;
}

/* One RevDetails: the certificate by issuer and serial number (or, with
 * by_subject, by issuer, subject and public key: RFC 4210 5.3.9 leaves the
 * choice to the sender), the reason as the CRL entry extension (RFC 5280
 * 5.3.1). */
static PKR_REVDETAILS *rev_details(X509 *cert, int reason, int by_subject)
{
	PKR_REVDETAILS *rd = PKR_REVDETAILS_new();
	ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
	OSSL_CRMF_CERTTEMPLATE *t = OSSL_CRMF_CERTTEMPLATE_new();

	if (rd == NULL || e == NULL || t == NULL ||
	    !OSSL_CRMF_CERTTEMPLATE_fill(t, by_subject ? X509_get0_pubkey(cert) : NULL,
					 by_subject ? X509_get_subject_name(cert) : NULL,
					 X509_get_issuer_name(cert),
					 by_subject ? NULL : X509_get0_serialNumber(cert)) ||
	    !ASN1_ENUMERATED_set(e, reason) ||
	    X509V3_add1_i2d(&rd->crlEntryDetails, NID_crl_reason, e, 0, X509V3_ADD_REPLACE) != 1)
		goto fail;
	OSSL_CRMF_CERTTEMPLATE_free(rd->certDetails);
	rd->certDetails = t;
	ASN1_ENUMERATED_free(e);
	return rd;
fail:
	PKR_REVDETAILS_free(rd);
	ASN1_ENUMERATED_free(e);
	OSSL_CRMF_CERTTEMPLATE_free(t);
	return NULL;
}

STACK_OF(PKR_REVDETAILS) * cmp_rr_new(X509 *const *certs, int n, int reason, int by_subject)
{
	STACK_OF(PKR_REVDETAILS) *sk = sk_PKR_REVDETAILS_new_null();

	if (sk == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		PKR_REVDETAILS *rd = rev_details(certs[i], reason, by_subject);

		if (rd == NULL || !sk_PKR_REVDETAILS_push(sk, rd)) {
			PKR_REVDETAILS_free(rd);
			sk_PKR_REVDETAILS_pop_free(sk, PKR_REVDETAILS_free);
			return NULL;
		}
	}
	return sk;
}

STACK_OF(PKR_ITAV) * cmp_genm_new(const char *info_oid)
{
	STACK_OF(PKR_ITAV) *sk = sk_PKR_ITAV_new_null();
	PKR_ITAV *itav = NULL;

	if (sk == NULL)
		return NULL;
	if (info_oid != NULL) {
		/* RFC 9810 5.3.19: a request names the infoType, infoValue absent */
		if ((itav = PKR_ITAV_new()) == NULL)
			goto fail;
		ASN1_OBJECT_free(itav->infoType);
		ASN1_TYPE_free(itav->infoValue);
		itav->infoValue = NULL;
		if ((itav->infoType = OBJ_txt2obj(info_oid, 1)) == NULL ||
		    !sk_PKR_ITAV_push(sk, itav))
			goto fail;
	}
	return sk;
fail:
	PKR_ITAV_free(itav);
	sk_PKR_ITAV_pop_free(sk, PKR_ITAV_free);
	return NULL;
}

int cmp_msg_encode(const PKR_MSG *m, unsigned char **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_PKR_MSG(m, der)) <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

PKR_MSG *cmp_msg_decode(const unsigned char *der, size_t len, char *err, size_t errlen)
{
	const unsigned char *p = der;
	long inner;
	int tag, class, r;
	PKR_MSG *m;

	/* Phase: the outer TLV, checked before the template engine sees it. */
	if (len == 0) {
		snprintf(err, errlen, "empty reply");
		return NULL;
	}
	if (len > CMP_MAX_MSG) {
		snprintf(err, errlen, "reply of %zu bytes is larger than %d", len, CMP_MAX_MSG);
		return NULL;
	}
	r = ASN1_get_object(&p, &inner, &tag, &class, (long)len);
	if (r & 0x80) {
		ERR_clear_error();
		snprintf(err, errlen, "RFC 4210 5.1: reply is truncated or not DER (%zu bytes)",
			 len);
		return NULL;
	}
	if (!(r & V_ASN1_CONSTRUCTED) || tag != V_ASN1_SEQUENCE || class != V_ASN1_UNIVERSAL) {
		snprintf(err, errlen, "RFC 4210 5.1: reply is not a PKIMessage (outer tag 0x%02x)",
			 der[0]);
		return NULL;
	}
	if ((size_t)(p - der) + (size_t)inner != len) {
		snprintf(err, errlen, "RFC 4210 5.1: %zu bytes after the PKIMessage",
			 len - (size_t)(p - der) - (size_t)inner);
		return NULL;
	}

	/* Phase: the whole message. */
	p = der;
	if ((m = d2i_PKR_MSG(NULL, &p, (long)len)) == NULL) {
		unsigned long e = ERR_peek_error();

		snprintf(err, errlen, "RFC 4210 5.1: malformed PKIMessage (%s)",
			 e ? ERR_reason_error_string(e) : "?");
		ERR_clear_error();
		return NULL;
	}
	if (p != der + len) {
		PKR_MSG_free(m);
		snprintf(err, errlen, "RFC 4210 5.1: trailing bytes in PKIMessage");
		return NULL;
	}
	return m;
}
