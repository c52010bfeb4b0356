/*
 * CA-side CMP helpers: reading certificate requests and building replies.
 * What a CA issues (its certificate policy) is the CA's own: pkiroll-ca's
 * is in cmd/pkiroll-ca/mint.c.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cmp/cmp_server.h"

PKR_MSG *cmp_srv_reply_new(const PKR_MSG *req, const X509_NAME *sender, int implicit_confirm)
{
	unsigned char nonce[CMP_NONCE_LEN], tid[CMP_NONCE_LEN];
	const PKR_HEADER *rh = req ? req->header : NULL;
	struct cmp_hdr_args a = {
		.pvno = rh && ASN1_INTEGER_get(rh->pvno) == 3 ? 3 : 2,
		.sender = sender,
		.sender_nonce = nonce,
		.recip_nonce = rh ? rh->senderNonce : NULL,
		.implicit_confirm = implicit_confirm,
	};
	PKR_MSG *m;

	if (cmp_random(nonce, sizeof(nonce)) < 0 || (m = PKR_MSG_new()) == NULL)
		return NULL;
	/* the transactionID is echoed; without one we make one up */
	if (rh != NULL && rh->transactionID != NULL && rh->transactionID->length == CMP_NONCE_LEN) {
		memcpy(tid, rh->transactionID->data, CMP_NONCE_LEN);
		a.tid = tid;
	}
	PKR_HEADER_free(m->header);
	if ((m->header = cmp_hdr_new(&a)) == NULL) {
		PKR_MSG_free(m);
		return NULL;
	}
	if (rh != NULL && rh->transactionID != NULL && a.tid == NULL) {
		m->header->transactionID = ASN1_OCTET_STRING_dup(rh->transactionID);
	}
	if (rh != NULL && rh->senderKID != NULL)
		m->header->recipKID = ASN1_OCTET_STRING_dup(rh->senderKID);
	/* RFC 4210 5.1.1: the reply goes to whoever sent the request */
	if (rh != NULL && rh->sender != NULL) {
		GENERAL_NAME_free(m->header->recipient);
		if ((m->header->recipient = GENERAL_NAME_dup(rh->sender)) == NULL) {
			PKR_MSG_free(m);
			return NULL;
		}
	}
	return m;
}

PKR_MSG *cmp_srv_error_new(const PKR_MSG *req, const X509_NAME *sender, int status,
			   unsigned long failbits, const char *text)
{
	PKR_MSG *m = cmp_srv_reply_new(req, sender, 0);

	if (m == NULL)
		return NULL;
	m->body->type = CMP_BODY_ERROR;
	if ((m->body->value.error = PKR_ERRMSG_new()) == NULL)
		goto fail;
	PKR_PKISI_free(m->body->value.error->pKIStatusInfo);
	if ((m->body->value.error->pKIStatusInfo = cmp_pkisi_new(status, failbits, text)) == NULL)
		goto fail;
	return m;
fail:
	PKR_MSG_free(m);
	return NULL;
}

PKR_CERTREQMSG *cmp_srv_certreq(const OSSL_CRMF_MSGS *msgs, int n)
{
	const OSSL_CRMF_MSG *crm = sk_OSSL_CRMF_MSG_value(msgs, n);
	unsigned char *der = NULL;
	const unsigned char *p;
	PKR_CERTREQMSG *m = NULL;
	int len;

	if (crm == NULL || (len = i2d_OSSL_CRMF_MSG(crm, &der)) <= 0)
		return NULL;
	p = der;
	m = d2i_PKR_CERTREQMSG(NULL, &p, len);
	OPENSSL_free(der);
	ERR_clear_error();
	return m;
}

const ASN1_TYPE *cmp_srv_control(const PKR_CERTREQMSG *m, int nid)
{
	for (int i = 0; i < sk_PKR_ATAV_num(m->certReq->controls); i++) {
		const PKR_ATAV *a = sk_PKR_ATAV_value(m->certReq->controls, i);

		if (OBJ_obj2nid(a->type) == nid)
			return a->value;
	}
	return NULL;
}

EVP_PKEY *cmp_srv_protocol_encr_key(const PKR_CERTREQMSG *m)
{
	const ASN1_TYPE *v = cmp_srv_control(m, NID_id_regCtrl_protocolEncrKey);
	const unsigned char *p;
	EVP_PKEY *k;

	if (v == NULL || v->type != V_ASN1_SEQUENCE)
		return NULL;
	p = v->value.sequence->data;
	k = d2i_PUBKEY(NULL, &p, v->value.sequence->length);
	ERR_clear_error();
	return k;
}

int cmp_srv_old_cert_id(const PKR_CERTREQMSG *m, X509_NAME **issuer, ASN1_INTEGER **serial)
{
	const ASN1_TYPE *v = cmp_srv_control(m, NID_id_regCtrl_oldCertID);
	const unsigned char *p;
	OSSL_CRMF_CERTID *cid;
	const X509_NAME *in;
	int rc = -1;

	*issuer = NULL;
	*serial = NULL;
	if (v == NULL || v->type != V_ASN1_SEQUENCE)
		return -1;
	p = v->value.sequence->data;
	if ((cid = d2i_OSSL_CRMF_CERTID(NULL, &p, v->value.sequence->length)) == NULL)
		goto out;
	in = OSSL_CRMF_CERTID_get0_issuer(cid);
	if (in == NULL || (*issuer = X509_NAME_dup(in)) == NULL ||
	    (*serial = ASN1_INTEGER_dup(OSSL_CRMF_CERTID_get0_serialNumber(cid))) == NULL) {
		X509_NAME_free(*issuer);
		*issuer = NULL;
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	OSSL_CRMF_CERTID_free(cid);
	return rc;
}

PKR_CERTRESP *cmp_srv_certresp(int id, PKR_PKISI *si, X509 *cert, PKR_ENCVAL *privkey)
{
	PKR_CERTRESP *cr = PKR_CERTRESP_new();

	if (cr == NULL || !ASN1_INTEGER_set(cr->certReqId, id))
		goto fail;
	PKR_PKISI_free(cr->status);
	cr->status = si;
	si = NULL;
	if (cert != NULL) {
		if ((cr->certifiedKeyPair = PKR_CKP_new()) == NULL)
			goto fail;
		cr->certifiedKeyPair->certOrEncCert->type = PKR_COEC_CERT;
		cr->certifiedKeyPair->certOrEncCert->value.certificate = cert;
		cert = NULL;
		if (privkey != NULL) {
			if ((cr->certifiedKeyPair->privateKey = PKR_ENCKEY_new()) == NULL)
				goto fail;
			cr->certifiedKeyPair->privateKey->type = PKR_ENCKEY_VALUE;
			cr->certifiedKeyPair->privateKey->value.encryptedValue = privkey;
			privkey = NULL;
		}
	}
	PKR_ENCVAL_free(privkey);
	return cr;
fail:
	PKR_PKISI_free(si);
	X509_free(cert);
	PKR_ENCVAL_free(privkey);
	PKR_CERTRESP_free(cr);
	return NULL;
}

EVP_PKEY *cmp_spki_pkey(const PKR_SPKI *spki)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *k = NULL;
	int n;

	if (spki != NULL && (n = i2d_PKR_SPKI(spki, &der)) > 0) {
		p = der;
		k = d2i_PUBKEY(NULL, &p, n);
	}
	OPENSSL_free(der);
	return k;
}
