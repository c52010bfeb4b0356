/*
 * pkiroll-ca's issuance: ir/cr/kur (CRMF, with central key generation for a
 * request without key bits), p10cr, and what is recorded of each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mint.h"
#include "request.h"
#include "ca_internal.h"

char *serial_hex(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	BN_free(bn);
	return hex;
}

/* The key type a certificate template hints at for a central key. */
/* Which protocolEncrKey a request carried, in the log: the low 32 bits
 * of its RSA modulus (enough to tell a client's keys apart). */
static void log_kek(struct req *r, const EVP_PKEY *kek)
{
	BIGNUM *n = NULL;

	if (EVP_PKEY_get_bn_param(kek, "n", &n))
		logf_(r, " kek=%08lx", (unsigned long)BN_mod_word(n, (BN_ULONG)1 << 32));
	BN_free(n);
}

static int hinted_key_type(const PKR_SPKI *pk)
{
	const ASN1_OBJECT *obj = NULL;
	const void *pval = NULL;
	int ptype = 0;

	if (pk == NULL)
		return KEY_RSA2048;
	X509_ALGOR_get0(&obj, &ptype, &pval, pk->algorithm);
	if (OBJ_obj2nid(obj) == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT) {
		int curve = OBJ_obj2nid(pval);

		return curve == NID_secp384r1 ? KEY_P384 : KEY_P256;
	}
	return KEY_RSA2048;
}

static int key_bits_present(const PKR_SPKI *pk)
{
	return pk != NULL && pk->subjectPublicKey != NULL && pk->subjectPublicKey->length > 0;
}

/* RFC 4210 5.2.3: grantedWithMods when the subject issued is not the one
 * the template asked for (Entrust sets it from its user entry), else
 * accepted. */
static PKR_PKISI *granted(const PKR_CERTREQMSG *cm, const X509_NAME *issued)
{
	const X509_NAME *asked = cm->certReq->certTemplate->subject;

	if (asked != NULL && X509_NAME_entry_count(asked) > 0 && X509_NAME_cmp(asked, issued) != 0)
		return cmp_pkisi_new(CMP_ST_GRANTED_WITH_MODS, 0, "subject set by the CA");
	return cmp_pkisi_new(CMP_ST_ACCEPTED, 0, NULL);
}

/* The subject of what this request may get. Caller frees. */
static X509_NAME *granted_subject(struct req *r, const X509_NAME *asked)
{
	char err[256];

	if (r->auth == AUTH_PBM) /* as Entrust: the registered user's DN */
		return dn_parse(r->user.subject, err, sizeof(err));
	if (r->signer != NULL && X509_cmp(r->signer, r->cfg->keys.cert) != 0)
		return X509_NAME_dup(X509_get_subject_name(r->signer));
	return asked ? X509_NAME_dup(asked) : NULL;
}

/*
 * A confirmed kur replaces the certificate that signed it: superseded, and
 * good for one more kur (a client that lost the kup may ask again), then
 * spent.
 */
int ca_supersede_signer(struct req *r)
{
	char *hex = serial_hex(r->signer);
	int rc;

	if (hex == NULL)
		return -1;
	rc = ca_issued_supersede(r->db, hex);
	OPENSSL_free(hex);
	return rc;
}

/*
 * Writes the transaction and its certificates; the user becomes pending.
 * The check that the codes are not used yet is made again inside the
 * write transaction, so two clients racing with one reference number
 * cannot both be issued to. 0, 1 the codes were used meanwhile (nothing
 * written), 2 the transactionID is another transaction's, -1 database
 * error.
 */
static int record(struct req *r, const char *kind, struct issued *is, int n, int implicit)
{
	const ASN1_OCTET_STRING *tid = r->msg->header->transactionID;
	const char *ref = r->have_user ? r->user.ref : NULL;
	char state[32];
	int ok = 0, rc;

	if (ca_db_begin(r->db) < 0)
		return -1;
	if (ref != NULL && r->auth == AUTH_PBM) {
		ca_user_state(r->db, ref, state, sizeof(state));
		if (strcmp(state, "consumed") == 0) {
			ca_db_rollback(r->db);
			return 1;
		}
		/* a new request rolls back what this user left unconfirmed */
		ca_issued_rollback_user(r->db, ref);
		ca_tx_supersede_user(r->db, ref);
	}
	if ((rc = ca_tx_open(r->db, tid, ref, kind, implicit)) < 0)
		goto out;
	if (rc == 0) {
		/* RFC 4210 5.1.1: one transaction, one issuance; only one that
		 * waited (polling) is taken up again */
		ca_db_rollback(r->db);
		return 2;
	}
	if (implicit && strcmp(kind, "kur") == 0 && r->signer != NULL && ca_supersede_signer(r) < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		char *hex = serial_hex(is[i].cert),
		     *subj = dn_format(X509_get_subject_name(is[i].cert));
		struct ca_issued_new c = {
			.tid = tid,
			.cert_req_id = is[i].id,
			.ref = ref,
			.serial = hex,
			.subject = subj,
			.usage = is[i].usage,
			.state = implicit ? "confirmed" : "unconfirmed",
			.cert = is[i].cert,
		};

		rc = ca_issued_add(r->db, &c);
		OPENSSL_free(hex);
		free(subj);
		if (rc < 0)
			goto out;
	}
	if (ref != NULL && r->auth == AUTH_PBM &&
	    ca_user_set_state(r->db, ref, implicit ? "consumed" : "pending") < 0)
		goto out;
	ok = 1;
out:
	if (ok)
		ca_db_commit(r->db);
	else
		ca_db_rollback(r->db);
	return ok ? 0 : -1;
}

/* What a client hears when record() did not write. */
static void record_or_refuse(struct req *r, int rc)
{
	if (rc < 0)
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_systemFailure), "CA database error", 1);
	else if (rc == 2)
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_transactionIdInUse),
			    "RFC 4210 5.1.1: this transactionID belongs to another transaction", 1);
	else if (rc > 0)
		code_used_reply(r);
}

static int stored_waiting(struct req *r, const PKR_MSG *content)
{
	const ASN1_OCTET_STRING *tid = r->msg->header->transactionID;
	unsigned char *der = NULL;
	int len = i2d_PKR_MSG(content, &der), rc;

	rc = ca_tx_wait(r->db, tid, r->have_user ? r->user.ref : NULL, r->f.waiting, der,
			len > 0 ? (size_t)len : 0);
	OPENSSL_free(der);
	return rc;
}

/*
 * Answers ir/cr/kur (content holds the CRMF messages; after polling it is
 * the stored request). rep_type is ip, cp or kup.
 */
void certify(struct req *r, const PKR_MSG *content, int rep_type, int may_wait)
{
	const OSSL_CRMF_MSGS *crms = content->body->value.ir;
	int n = sk_OSSL_CRMF_MSG_num(crms), nissued = 0, implicit;
	struct issued is[2] = {0};
	PKR_CERTREPMSG *crep;

	if (n < 1 || n > 2) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badRequest),
			    "one or two certificate requests per message", 1);
		return;
	}
	reply_new(r, rep_type);
	crep = r->rep->body->value.ip = PKR_CERTREPMSG_new();

	/* Phase: waiting, when told to make clients wait. */
	if (may_wait && r->f.waiting > 0) {
		for (int i = 0; i < n; i++)
			sk_PKR_CERTRESP_push(
				crep->response,
				cmp_srv_certresp(OSSL_CRMF_MSG_get_certReqId(
							 sk_OSSL_CRMF_MSG_value(crms, i)),
						 cmp_pkisi_new(CMP_ST_WAITING, 0, NULL), NULL,
						 NULL));
		stored_waiting(r, content);
		logf_(r, " -> %s waiting", cmp_body_name(rep_type));
		return;
	}

	/* Phase: one CertResponse per CertReqMsg. */
	for (int i = 0; i < n; i++) {
		PKR_CERTREQMSG *cm = cmp_srv_certreq(crms, i);
		int id = OSSL_CRMF_MSG_get_certReqId(sk_OSSL_CRMF_MSG_value(crms, i));
		PKR_CERTRESP *cr = NULL;
		X509_NAME *subj = NULL;
		EVP_PKEY *kek = NULL, *central = NULL;
		X509 *x = NULL;

		if (cm == NULL) {
			cr = reject_resp(id, OSSL_CMP_PKIFAILUREINFO_badDataFormat,
					 "unreadable CertReqMsg");
		} else if (r->f.reject_bit >= 0 || r->f.consumed) {
			int bit = r->f.consumed ? OSSL_CMP_PKIFAILUREINFO_notAuthorized
						: r->f.reject_bit;

			cr = reject_resp(id, bit,
					 r->f.consumed ? "reference number already used"
						       : "rejected (fault injection)");
		} else if ((subj = granted_subject(r, cm->certReq->certTemplate->subject)) ==
			   NULL) {
			cr = reject_resp(id, OSSL_CMP_PKIFAILUREINFO_badCertTemplate, "no subject");
		} else if (key_bits_present(cm->certReq->certTemplate->publicKey)) {
			/* the client's key: proof of possession by signature */
			if (!OSSL_CRMF_MSGS_verify_popo(crms, id, 0, NULL, NULL)) {
				ERR_clear_error();
				cr = reject_resp(id, OSSL_CMP_PKIFAILUREINFO_badPOP,
						 "proof of possession failed");
			} else if ((x = ca_mint(r->cfg->keys.cert, r->cfg->keys.key, subj, NULL,
						cm->certReq->certTemplate->publicKey, MINT_SIGNING,
						r->cfg->validity)) == NULL) {
				cr = reject_resp(id, OSSL_CMP_PKIFAILUREINFO_systemFailure,
						 "cannot issue");
			} else {
				X509_up_ref(x);
				is[nissued++] = (struct issued){x, id, "signing"};
				cr = cmp_srv_certresp(id, granted(cm, subj), x, NULL);
			}
		} else if ((kek = cmp_srv_protocol_encr_key(cm)) != NULL) {
			/* central key generation, the key sent under protocolEncrKey */
			EVP_CIPHER *c =
				EVP_CIPHER_fetch(NULL, OBJ_nid2sn(r->cfg->enc_cipher_nid), NULL);
			PKR_ENCVAL *ev = NULL;

			if ((central = keys_generate(hinted_key_type(
				     cm->certReq->certTemplate->publicKey))) != NULL &&
			    (x = ca_mint(r->cfg->keys.cert, r->cfg->keys.key, subj, central, NULL,
					 MINT_ENCRYPTION, r->cfg->validity)) != NULL &&
			    (ev = cmp_encval_encrypt(central, kek, c, r->cfg->oaep)) != NULL) {
				X509_up_ref(x);
				is[nissued++] = (struct issued){x, id, "encryption"};
				cr = cmp_srv_certresp(id, granted(cm, subj), x, ev);
			} else {
				X509_free(x);
				cr = reject_resp(id, OSSL_CMP_PKIFAILUREINFO_systemFailure,
						 "central key generation failed");
			}
			EVP_CIPHER_free(c);
		} else {
			cr = reject_resp(id, OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
					 "no public key and no protocolEncrKey");
		}
		sk_PKR_CERTRESP_push(crep->response, cr);
		logf_(r, "%s%s", i ? "," : " -> ", i ? "" : cmp_body_name(rep_type));
		logf_(r, " %s", cmp_status_name(cmp_pkisi_status(cr->status)));
		if (kek != NULL)
			log_kek(r, kek);
		ERR_clear_error();
		EVP_PKEY_free(kek);
		EVP_PKEY_free(central);
		X509_NAME_free(subj);
		PKR_CERTREQMSG_free(cm);
	}

	/* Phase: the chain, implicit confirmation, the record. */
	crep->caPubs = sk_X509_new_null();
	for (int i = 0; i < sk_X509_num(r->cfg->keys.chain); i++)
		X509_add_cert(crep->caPubs, sk_X509_value(r->cfg->keys.chain, i),
			      X509_ADD_FLAG_UP_REF);
	implicit =
		nissued > 0 && r->cfg->allow_implicit && cmp_hdr_implicit_confirm(r->msg->header);
	if (implicit) {
		PKR_HEADER *h = r->rep->header;
		struct cmp_hdr_args a = {.implicit_confirm = 1};
		PKR_HEADER *tmp = cmp_hdr_new(&a);

		h->generalInfo = tmp->generalInfo;
		tmp->generalInfo = NULL;
		PKR_HEADER_free(tmp);
		logf_(r, " implicitConfirm");
	}
	if (nissued > 0)
		record_or_refuse(
			r, record(r, cmp_body_name(content->body->type), is, nissued, implicit));
	for (int i = 0; i < nissued; i++)
		X509_free(is[i].cert);
}

void on_p10cr(struct req *r)
{
	X509_REQ *csr = r->msg->body->value.p10cr;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
	X509_NAME *subj = granted_subject(r, X509_REQ_get_subject_name(csr));
	struct issued is = {0};
	PKR_CERTRESP *cr;
	X509 *x = NULL;

	reply_new(r, CMP_BODY_CP);
	r->rep->body->value.cp = PKR_CERTREPMSG_new();
	if (pub == NULL || X509_REQ_verify(csr, pub) != 1 || subj == NULL) {
		cr = reject_resp(0, OSSL_CMP_PKIFAILUREINFO_badPOP,
				 "the CSR's signature does not verify");
	} else if ((x = ca_mint(r->cfg->keys.cert, r->cfg->keys.key, subj, pub, NULL, MINT_SIGNING,
				r->cfg->validity)) == NULL) {
		cr = reject_resp(0, OSSL_CMP_PKIFAILUREINFO_systemFailure, "cannot issue");
	} else {
		X509_up_ref(x);
		is = (struct issued){x, 0, "signing"};
		cr = cmp_srv_certresp(0, cmp_pkisi_new(CMP_ST_ACCEPTED, 0, NULL), x, NULL);
	}
	ERR_clear_error();
	sk_PKR_CERTRESP_push(r->rep->body->value.cp->response, cr);
	logf_(r, " -> cp %s", cmp_status_name(cmp_pkisi_status(cr->status)));
	X509_NAME_free(subj);
	if (is.cert != NULL) {
		record_or_refuse(r, record(r, "p10cr", &is, 1, 0));
		X509_free(is.cert);
	}
}

void on_kur(struct req *r)
{
	const OSSL_CRMF_MSGS *crms = r->msg->body->value.kur;
	PKR_CERTREQMSG *cm = cmp_srv_certreq(crms, 0);
	X509_NAME *issuer = NULL;
	ASN1_INTEGER *serial = NULL;

	if (r->auth != AUTH_SIG || r->signer == NULL) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_wrongIntegrity),
			    "RFC 4210 5.3.5: kur must be signed with the current certificate", 1);
		goto out;
	}
	/* RFC 4211 6.5: oldCertID, when given, is the certificate that signs */
	if (cm != NULL && cmp_srv_old_cert_id(cm, &issuer, &serial) == 0 &&
	    (X509_NAME_cmp(issuer, X509_get_issuer_name(r->signer)) != 0 ||
	     ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(r->signer)) != 0)) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badCertId),
			    "oldCertID is not the certificate that signed the request", 1);
		goto out;
	}
	certify(r, r->msg, CMP_BODY_KUP, 1);
out:
	X509_NAME_free(issuer);
	ASN1_INTEGER_free(serial);
	PKR_CERTREQMSG_free(cm);
}
