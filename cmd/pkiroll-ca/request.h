/*
 * One request as pkiroll-ca handles it, shared by the dispatcher
 * (handler.c), the reply kit (reply.c) and issuance (issue.c). Private to
 * pkiroll-ca. The calls run one way: handler.c -> issue.c -> reply.c.
 */
#ifndef PKIROLL_CA_REQUEST_H
#define PKIROLL_CA_REQUEST_H

#include "ca_internal.h"
#include "handler.h"

#define BIT(n) (1UL << (n))

enum auth { AUTH_NONE = 0, AUTH_PBM, AUTH_SIG };

/* Everything about the request being handled. */
struct req {
	const struct ca_cfg *cfg;
	sqlite3 *db;
	const unsigned char *der;
	size_t len;
	PKR_MSG *msg;
	int auth;
	struct ca_user user; /* AUTH_PBM, or the owner of the signer's certificate */
	int have_user;
	X509 *signer; /* AUTH_SIG */
	struct faults f;
	PKR_MSG *rep;
	int lose_reply; /* fault lostconf: the work is done, the answer lost */
	char log[1024];
};

/* A certificate issued in this request, and for which certReqId. */
struct issued {
	X509 *cert;
	int id;
	const char *usage;
};

/* ---- the reply kit (reply.c) ---- */

/* Appends to the request's log line. */
void logf_(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The CA's name (the issuing certificate's subject): the sender of replies. */
const X509_NAME *ca_name(const struct req *r);

/* Replaces the reply with an error message (RFC 4210 5.3.21), protected
 * unless protect is 0; logged. */
void error_reply(struct req *r, unsigned long bits, const char *text, int protect);

/* A new reply of body type to the request, its header filled (RFC 4210
 * 5.1.1: transactionID, recipNonce, sender). */
void reply_new(struct req *r, int type);

/* The answer to a request with codes already used: notAuthorized, or as
 * EJBCA answers (fault ejbca): badRequest, "Got request with status
 * GENERATED (40) ...". Protected. */
void code_used_reply(struct req *r);

/* A CertResponse that rejects certReqId id with one failInfo bit. */
PKR_CERTRESP *reject_resp(long id, int bit, const char *text);

/*
 * Protects the reply: as the request was (a MAC with the user's code, or
 * the CA's signature), or as the faults of real CAs say (signed by a CMP
 * responder, signed although the request had a MAC, errors signed even
 * without an authenticated request). 0 or -1.
 */
int protect_reply(struct req *r);

/* ---- issuance (issue.c) ---- */

/* A certificate's serial number in hex (OPENSSL_free it), or NULL. */
char *serial_hex(X509 *x);

/* ir, cr (rep_type ip, cp) and kur (kup) with the CRMF requests of content;
 * may_wait: the user's waiting fault applies. */
void certify(struct req *r, const PKR_MSG *content, int rep_type, int may_wait);
void on_p10cr(struct req *r);
void on_kur(struct req *r);

/* A confirmed kur replaces the certificate that signed it (r->signer):
 * superseded, good for one more kur, then spent. 0 or -1. */
int ca_supersede_signer(struct req *r);

#endif
