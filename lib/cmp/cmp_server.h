/*
 * The CA side of CMP, shared by pkiroll-ca and the tests: reading
 * certificate requests (through the CRMF mirrors) and building replies.
 * Mechanism only: what a CA issues is its own policy (pkiroll-ca's is
 * cmd/pkiroll-ca/mint.c), as OpenSSL keeps cmp_server.c apart from
 * apps/lib/cmp_mock_srv.c.
 */
#ifndef PKIROLL_CMP_SERVER_H
#define PKIROLL_CMP_SERVER_H

#include "cmp/cmp.h"

/*
 * A reply to req: same transactionID, recipNonce = req's senderNonce, a
 * fresh senderNonce, pvno 2 (or req's when it is 3). Caller frees.
 */
PKR_MSG *cmp_srv_reply_new(const PKR_MSG *req, const X509_NAME *sender, int implicit_confirm);

/* An error reply (RFC 4210 5.3.21). text may be NULL. Caller frees. */
PKR_MSG *cmp_srv_error_new(const PKR_MSG *req, const X509_NAME *sender, int status,
			   unsigned long failbits, const char *text);

/* The CRMF mirror of a request's n-th CertReqMsg. Caller frees; NULL on error. */
PKR_CERTREQMSG *cmp_srv_certreq(const OSSL_CRMF_MSGS *msgs, int n);

/* The value of a control (regCtrl) by NID, or NULL. */
const ASN1_TYPE *cmp_srv_control(const PKR_CERTREQMSG *m, int nid);

/* id-regCtrl-protocolEncrKey as a public key (caller frees), or NULL. */
EVP_PKEY *cmp_srv_protocol_encr_key(const PKR_CERTREQMSG *m);

/* id-regCtrl-oldCertID: issuer and serial (caller frees both), 0 or -1. */
int cmp_srv_old_cert_id(const PKR_CERTREQMSG *m, X509_NAME **issuer, ASN1_INTEGER **serial);

/*
 * A CertResponse: status, and when cert is set the certificate, with the
 * encrypted private key when privkey is set (both taken over, also on error).
 */
PKR_CERTRESP *cmp_srv_certresp(int id, PKR_PKISI *si, X509 *cert, PKR_ENCVAL *privkey);

/* The key of a SubjectPublicKeyInfo (a full decode). Caller frees; NULL on error. */
EVP_PKEY *cmp_spki_pkey(const PKR_SPKI *spki);

#endif
