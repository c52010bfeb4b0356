/*
 * The client side of one CMP transaction: ir/cr (PBM, RFC 4210 D.4) or kur
 * (signature, D.6), with central key generation for the encryption key,
 * polling, and certConf/pkiConf. The caller records each step (on_step)
 * before the next one starts.
 */
#ifndef PKIROLL_CMP_CLIENT_H
#define PKIROLL_CMP_CLIENT_H

#include "cmp/cmp.h"
#include "cmp/cmp_trace.h"
#include "cmp/transport.h"

/* What a CA profile says about the protocol. */
struct cmp_client_cfg {
	struct transport *transport; /* the caller's */
	struct cmp_pbm_params pbm;   /* for our PBM-protected requests */
	int implicit_confirm;	     /* offer implicitConfirm */
	int poll_deadline;	     /* seconds of waiting/polling in all, 0: 300 */
	const X509_NAME *recipient;  /* NULL: NULL-DN */
	X509_STORE *trust;	     /* signed replies chain to it (trust_anchor, the CA chain) */
	int pvno;		     /* 0: 2 */
	struct cmp_trace *trace;     /* dump files and trace lines; NULL: none */
};

enum cmp_req_type { CMP_REQ_IR = 0, CMP_REQ_CR, CMP_REQ_KUR };

struct cmp_request {
	enum cmp_req_type type;
	/* ir/cr with PBM: */
	const char *reference; /* senderKID */
	const unsigned char *secret;
	size_t secret_len;
	/* kur (and cr with a certificate): the current key and certificate */
	EVP_PKEY *old_key;
	X509 *old_cert;
	STACK_OF(X509) * old_chain;
	/* both */
	EVP_PKEY *new_key;	    /* the client-made signing key */
	const X509_NAME *subject;   /* requested subject; kur: NULL = old subject */
	int sender_is_subject;	    /* sender = subject instead of NULL-DN */
	int dual;		    /* crm[1]: CA-generated encryption key */
	int enc_key_type;	    /* enum key_type hint for the CA, -1: none */
	EVP_PKEY *kek;		    /* RSA protocolEncrKey to use, NULL: make one */
	const X509_PUBKEY *kek_pub; /* kek's public half made once for many, NULL: from kek */
	int rr_by_subject;	    /* rr: name a certificate by subject and key, no serial */
};

enum cmp_fault {
	CMP_OK = 0,
	CMP_F_TRANSIENT, /* network, timeout, 5xx: may be retried */
	CMP_F_REJECTED,	 /* the CA said no (status rejection, or an error body) */
	CMP_F_BADMAC,	 /* our MAC was refused, or the reply's did not verify */
	CMP_F_PROTOCOL,	 /* malformed or unexpected reply */
	CMP_F_WAITING,	 /* still waiting at the polling deadline */
	CMP_F_CONFIG,	 /* bad URL, 4xx, missing trust anchor */
	CMP_F_KEY,	 /* returned key or certificate does not fit */
	CMP_F_INTERNAL,
	CMP_F_RATELIMIT,   /* HTTP 429/503 before the CA: wait (retry_after), then again */
	CMP_F_UNVERIFIED,  /* a reply carried certificates, but did not verify: issued? */
	CMP_F_UNCONFIRMED, /* certConf sent again, and no verified answer proves either way */
	CMP_F__MAX
};

/*
 * What the answer to certConf proved. The rule that follows: the key of a
 * certificate the CA may have issued is kept until the CA refused the
 * certConf, in a verified answer to its first sending.
 */
enum cmp_confirm {
	CMP_CONFIRM_NONE = 0, /* no certConf yet */
	CMP_CONFIRM_PROVEN,   /* a verified pkiConf (or certConfirmed, transactionIdInUse
			       * on a resent certConf), or implicitConfirm granted */
	CMP_CONFIRM_OPEN,     /* no answer, or one that does not verify: send it again */
	CMP_CONFIRM_UNPROVEN, /* sent again, and refused or unverifiable: the CA may hold
			       * the certificates confirmed; keep them, and say so */
	CMP_CONFIRM_REFUSED,  /* a verified refusal of the first certConf */
	CMP_CONFIRM__MAX
};

/* Name of a fault for messages ("transient", ...). */
const char *cmp_fault_name(int fault);

enum cmp_step {
	CMP_STEP_NONE = 0,
	CMP_STEP_REQUEST,  /* about to send the request: codes may be spent */
	CMP_STEP_RESPONSE, /* certificates received and verified */
	CMP_STEP_KEYS,	   /* the caller's: the keys are stored (between the two) */
	CMP_STEP_CONFIRM,  /* about to send certConf */
	CMP_STEP_DONE,	   /* pkiConf received, or implicit confirmation */
	CMP_STEP__MAX
};

/* One name per step, from here up to the store: "request", "response",
 * "keys", "confirm", "confirmed" ("" for none). */
const char *cmp_step_name(int step);
/* The step of a name, CMP_STEP_NONE for "" or NULL, -1 if unknown. */
int cmp_step_from_name(const char *name);

/* Everything the transaction produced; owned by the transaction. */
struct cmp_result {
	int fault;	   /* enum cmp_fault */
	char reason[1024]; /* readable, no secrets */
	int step;	   /* enum cmp_step reached */
	unsigned char tid[CMP_NONCE_LEN];
	int status[2]; /* PKIStatus per request, -1 none */
	unsigned long failbits[2];
	X509 *sign_cert;   /* certReqId 0 */
	X509 *enc_cert;	   /* certReqId 1 */
	EVP_PKEY *enc_key; /* the CA-generated encryption key */
	STACK_OF(X509) * ca_pubs;
	STACK_OF(X509) * extra_certs;
	int implicit_confirmed; /* the CA granted implicitConfirm */
	int subject_changed;	/* the CA changed the requested subject */
	int polls;		/* pollReq messages sent */
	int confirm;		/* enum cmp_confirm */
	int unverified;		/* a reply's protection did not verify (reason says why) */
	int retry_after;	/* rate limit: Retry-After seconds, -1 none */
	int rate_waits;		/* rate-limited answers waited out inside the transaction */
	int unanswered;		/* the request may have reached the CA, no answer came */
};

struct cmp_tx;

/* Called at each step; a non-zero return stops the transaction. */
typedef int cmp_step_fn(void *arg, int step, const struct cmp_result *r);

/* A transaction; the cfg and req (and what they point to) must outlive it. */
struct cmp_tx *cmp_tx_new(const struct cmp_client_cfg *cfg, const struct cmp_request *req,
			  cmp_step_fn *on_step, void *arg);

/*
 * Sends the request, polls while the CA says waiting, verifies the reply and
 * decrypts the central key. Returns an enum cmp_fault (also in the result).
 */
int cmp_tx_request(struct cmp_tx *tx);

/*
 * Confirms (certConf, or nothing under implicitConfirm). With accept == 0 the
 * certificates are rejected in the certConf. Returns an enum cmp_fault.
 */
int cmp_tx_confirm(struct cmp_tx *tx, int accept);

/*
 * Revokes n (1 or 2) certificates with one rr (RFC 4210 5.3.9), protected
 * by the request's old key and certificate (signature) or its secret
 * (PBM); reason is a CRLReason (RFC 5280 5.3.1). The rp's statuses land
 * in the result (status, failbits per certificate). Steps: request, then
 * confirmed when every one was revoked. Returns an enum cmp_fault.
 */
int cmp_tx_revoke(struct cmp_tx *tx, X509 *const *certs, int n, int reason);

const struct cmp_result *cmp_tx_result(const struct cmp_tx *tx);

/* What a later process needs to send this transaction's certConf. */
const ASN1_OCTET_STRING *cmp_tx_their_nonce(const struct cmp_tx *tx);
const X509_ALGOR *cmp_tx_reply_pbm(const struct cmp_tx *tx);

/*
 * A transaction that resumes at certConf for certificates an earlier,
 * interrupted process received: tid, the CA's last senderNonce and PBM
 * parameters as that process recorded them. Follow with cmp_tx_confirm(),
 * which sends the certConf again: a refusal of it no longer proves that
 * the first one did not arrive (enum cmp_confirm).
 */
struct cmp_tx *cmp_tx_resume(const struct cmp_client_cfg *cfg, const struct cmp_request *req,
			     const unsigned char *tid, const unsigned char *nonce, size_t nonce_len,
			     const unsigned char *pbm_der, size_t pbm_len, X509 *sign_cert,
			     X509 *enc_cert);

void cmp_tx_free(struct cmp_tx *tx);

/*
 * A general message (RFC 4210 5.3.19, RFC 9810 5.3.19): a genm asking for
 * info_oid with an absent infoValue (NULL: an empty genm), protected as
 * the request says (its secret: PBM; its old key and certificate: a
 * signature). On CMP_OK *genp holds the genp's InfoTypeAndValues (the
 * caller frees them with sk_PKR_ITAV_pop_free(.., PKR_ITAV_free)).
 * Returns an enum cmp_fault.
 */
int cmp_tx_genm(struct cmp_tx *tx, const char *info_oid, STACK_OF(PKR_ITAV) * *genp);

/* ---- request bodies (cmp_msg.c): what a transaction sends ---- */

/* The body type (CMP_BODY_IR, CR, KUR) of a request of req_type (enum
 * cmp_req_type), and that of the reply it expects (IP, CP, KUP). */
int cmp_req_body(int req_type);
int cmp_rep_body(int req_type);

/* How a request's messages are protected: a signature with its old key and
 * certificate (and chain) when it has them, else a MAC with its secret
 * under pbm, reusing reply_pbm (the CA's parameters; NULL for the first
 * message). Fills p. */
void cmp_req_protection(const struct cmp_request *rq, const struct cmp_pbm_params *pbm,
			const X509_ALGOR *reply_pbm, struct cmp_protection *p);

/*
 * The CertReqMessages of an ir, cr or kur (RFC 4211): crm[0] for the
 * client's signing key with POP by signature (kur: oldCertID naming the
 * certificate updated); with rq->dual, crm[1] for a key pair the CA makes,
 * sent back under protocolEncrKey: *kek gets its private half (rq->kek, or
 * a new RSA key), which the caller frees, also on failure. NULL on error.
 */
OSSL_CRMF_MSGS *cmp_crms_new(const struct cmp_request *rq, EVP_PKEY **kek);

/* A pollReq body: one PollReq per request, certReqId 0 to n - 1. NULL on
 * error; the caller frees it (with the message). */
STACK_OF(PKR_POLLREQ) * cmp_pollreq_new(int n);

/* A certConf body: one CertStatus (RFC 4210 5.3.18) per certificate of
 * certs[0..n), certReqId its index (a NULL entry has none), accepted or
 * rejected. NULL on error. */
STACK_OF(PKR_CERTSTATUS) * cmp_certconf_new(X509 *const *certs, int n, int accept);

/* An rr body (RFC 4210 5.3.9): one RevDetails per certificate of
 * certs[0..n), by issuer and serial, or by_subject by issuer, subject and
 * public key; reason the CRLReason. NULL on error. */
STACK_OF(PKR_REVDETAILS) * cmp_rr_new(X509 *const *certs, int n, int reason, int by_subject);

/* A genm body asking for info_oid (RFC 9810 5.3.19: infoValue absent);
 * info_oid NULL: empty. NULL on error (an OID that does not parse too). */
STACK_OF(PKR_ITAV) * cmp_genm_new(const char *info_oid);

#endif
