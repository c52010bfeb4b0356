/*
 * pkiroll-ca's state directory: the CA's keys and certificates (made by
 * `init`; cakeys.c) and ca.db (SQLite: registered users, transactions,
 * issued certificates; castate.c, which holds every SQL statement of
 * pkiroll-ca). Every connection is short-lived so many threads and
 * processes can share the directory.
 */
#ifndef PKIROLL_CA_STATE_H
#define PKIROLL_CA_STATE_H

#include <sqlite3.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* ---- the CA's keys (cakeys.c) ---- */

struct ca_keys {
	EVP_PKEY *key;		/* the issuing CA's key */
	X509 *cert;		/* the issuing CA's certificate */
	STACK_OF(X509) * chain; /* issuing CA first, then up to the root */
	X509 *root;
	X509_STORE *trust; /* the root, for signature-protected requests */
};

/* Makes DIR (0700) with a root (and an intermediate) CA. 0 or -1 (printed). */
int ca_init(const char *dir, int key_type, int intermediate);

/* Loads the CA of DIR. 0 or -1 (printed). */
int ca_keys_load(const char *dir, struct ca_keys *k);
void ca_keys_free(struct ca_keys *k);

/* ---- ca.db (castate.c) ---- */

/* Opens DIR/ca.db (schema created on first use). NULL on error (printed). */
sqlite3 *ca_db_open(const char *dir);

struct ca_user {
	char ref[160];
	char code[512];
	char subject[1024];
	char state[16];	  /* active, pending, consumed */
	char faults[256]; /* per-user fault injection, "" when none */
};

/*
 * For the serving threads: a connection from a small pool (the schema is
 * there already), and back to the pool when done.
 */
sqlite3 *ca_db_get(const char *dir);
void ca_db_put(sqlite3 *db);

/* Closes a connection with its cached statements (NULL is accepted). */
void ca_db_close(sqlite3 *db);

/*
 * Every SQL statement of pkiroll-ca is a function below, in castate.c; the
 * other files hold no SQL. Statements are cached per connection. Errors of
 * BEGIN, COMMIT and ROLLBACK are printed; the others are returned.
 */

/* BEGIN IMMEDIATE: a write transaction that holds the write lock from the
 * start, so checks made in it stay true until COMMIT. 0 or -1. */
int ca_db_begin(sqlite3 *db);
/* COMMIT. 0 or -1 (the transaction is still open: roll it back). */
int ca_db_commit(sqlite3 *db);
/* ROLLBACK. 0 or -1. */
int ca_db_rollback(sqlite3 *db);

/* ---- users: who may enroll, with which codes ---- */

/* Looks up a user. 1 found, 0 not, -1 error. */
int ca_user_get(sqlite3 *db, const char *ref, struct ca_user *u);

/* A user's state ("active", "pending", "consumed") as this connection's
 * transaction sees it, into out; "" when there is no such user. */
void ca_user_state(sqlite3 *db, const char *ref, char *out, size_t len);

/* Adds or replaces a user (state active). 0 or -1. */
int ca_user_put(sqlite3 *db, const char *ref, const char *code, const char *subject,
		const char *faults);

/* Sets a user's state; "consumed" records when. 0 or -1. */
int ca_user_set_state(sqlite3 *db, const char *ref, const char *state);

/* One user as `users list` shows it; the strings live during the call. */
struct ca_user_row {
	const char *ref, *state, *subject, *faults;
};

/* Calls fn for every user, by reference number. 0 or -1. */
int ca_user_each(sqlite3 *db, void (*fn)(void *arg, const struct ca_user_row *u), void *arg);

/* ---- transactions: one per CMP transactionID ---- */

/* A transaction's reference number ("" when signed), state and kind. */
struct ca_tx {
	char ref[160];
	char state[32]; /* waiting, issued, confirmed, rejected, superseded, expired */
	char kind[16];	/* ir, cr, kur, p10cr, wait */
};

/* 1 if a transaction with this transactionID exists (0 also on error). */
int ca_tx_exists(sqlite3 *db, const ASN1_OCTET_STRING *tid);

/* The transaction of tid. 1 found, 0 not, -1 error. */
int ca_tx_get(sqlite3 *db, const ASN1_OCTET_STRING *tid, struct ca_tx *tx);

/*
 * Records a request that is told to wait (pollRep): tid (replacing a row
 * with it), ref (NULL: none), polls pollReqs to go, and the request's DER
 * to answer at the last poll. 0 or -1.
 */
int ca_tx_wait(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *ref, int polls,
	       const unsigned char *request, size_t len);

/*
 * A waiting transaction: its pollReqs to go, and the stored request
 * (malloc'd copy, the caller frees; NULL when empty). tid may be NULL.
 * 1 found, 0 none waiting, -1 error.
 */
int ca_tx_waiting(sqlite3 *db, const ASN1_OCTET_STRING *tid, int *polls_left,
		  unsigned char **request, size_t *len);

/* Counts one pollReq of a waiting transaction. 0 or -1. */
int ca_tx_poll(sqlite3 *db, const ASN1_OCTET_STRING *tid);

/*
 * Opens the transaction of an issuance: state "confirmed" when implicit,
 * else "issued". A transaction that waited (polling) is taken up again;
 * any other with this tid is left alone. 1 written, 0 tid is another
 * transaction's, -1 error.
 */
int ca_tx_open(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *ref, const char *kind,
	       int implicit);

/* Sets the state of tid's transaction. The rows changed (0 or 1), or -1. */
int ca_tx_set_state(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *state);

/* A user's transactions waiting for certConf become "superseded". 0 or -1. */
int ca_tx_supersede_user(sqlite3 *db, const char *ref);

/* ---- issued: every certificate, by serial number (upper-case hex) ---- */

/* What is recorded of a certificate. */
struct ca_issued {
	char ref[160];	/* its user, "" when none */
	char state[32]; /* unconfirmed, confirmed, rejected, rolledback, revoked,
			 * superseded, spent */
	long reason;	/* revocation reason, -1 none */
};

/* The record of serial. 1 found, 0 not, -1 error. */
int ca_issued_get(sqlite3 *db, const char *serial, struct ca_issued *out);

/* A certificate to record (ca_issued_add). */
struct ca_issued_new {
	const ASN1_OCTET_STRING *tid;
	int cert_req_id;
	const char *ref; /* NULL: none */
	const char *serial;
	const char *subject;
	const char *usage; /* "signing", "encryption" */
	const char *state; /* "unconfirmed", or "confirmed" (implicitConfirm) */
	X509 *cert;
};

/* Records an issued certificate. 0 or -1. */
int ca_issued_add(sqlite3 *db, const struct ca_issued_new *c);

/*
 * The certHash (RFC 4210 5.3.18: the hash of the DER certificate with its
 * signature's digest) of the certificate issued in tid for certReqId id:
 * caller frees. NULL, *found 0: none issued; NULL, *found 1: error.
 */
ASN1_OCTET_STRING *ca_issued_cert_hash(sqlite3 *db, const ASN1_OCTET_STRING *tid, long id,
				       int *found);

/*
 * The live certificates (not rolled back, rejected or unconfirmed) issued
 * to subject with the public key pubkey (NULL: any key): how many, and the
 * serial of the first in *serial (strdup'd, the caller frees; NULL when
 * none). A database error counts as no match.
 */
int ca_issued_find(sqlite3 *db, const char *subject, const ASN1_BIT_STRING *pubkey, char **serial);

/* Sets the state of every certificate of tid. The rows changed, or -1. */
int ca_issued_set_state(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *state);

/* Settles tid's unconfirmed certificates: "confirmed" or "rejected". The
 * rows changed (0: none was unconfirmed), or -1. */
int ca_issued_settle(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *state);

/* A user's unconfirmed certificates of transactions still open (issued or
 * waiting) are rolled back. 0 or -1. */
int ca_issued_rollback_user(sqlite3 *db, const char *ref);

/* A certificate replaced by a confirmed kur: confirmed becomes superseded
 * (good for one more kur), superseded becomes spent. 0 or -1. */
int ca_issued_supersede(sqlite3 *db, const char *serial);

/* Revokes with an RFC 5280 reason code. 0 or -1. */
int ca_issued_revoke(sqlite3 *db, const char *serial, long reason);

/* removeFromCRL: a certificate on hold is confirmed again. 0 or -1. */
int ca_issued_release(sqlite3 *db, const char *serial);

/* One certificate as `issued` shows it; the strings live during the call. */
struct ca_issued_row {
	const char *serial, *usage, *state;
	const char *ref;    /* "-" when none */
	const char *issued; /* UTC, 2024-01-31T12:00:00Z */
	const char *subject;
};

/* Calls fn for every certificate, in the order issued. 0 or -1. */
int ca_issued_each(sqlite3 *db, void (*fn)(void *arg, const struct ca_issued_row *c), void *arg);

/* Rolls back issuances not confirmed within timeout seconds: their users
 * may enroll again. pkiroll-ca's sweeper runs it once a second. */
void ca_expire_unconfirmed(sqlite3 *db, int timeout);

#endif
