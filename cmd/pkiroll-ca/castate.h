/*
 * pkiroll-ca's state directory: the CA's keys and certificates (made by
 * `init`) and ca.db (SQLite: registered users, transactions, issued
 * certificates). Every connection is short-lived so many threads and
 * processes can share the directory.
 */
#ifndef PKIROLL_CA_STATE_H
#define PKIROLL_CA_STATE_H

#include <sqlite3.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

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

/* Looks up a user. 1 found, 0 not, -1 error. */
int ca_user_get(sqlite3 *db, const char *ref, struct ca_user *u);

/* A user's state ("active", "pending", "consumed") as this connection's
 * transaction sees it, into out; "" when there is no such user. */
void ca_user_state(sqlite3 *db, const char *ref, char *out, size_t len);

/* Adds or replaces a user (state active). 0 or -1. */
int ca_user_put(sqlite3 *db, const char *ref, const char *code, const char *subject,
		const char *faults);

/* Sets a user's state. */
int ca_user_set_state(sqlite3 *db, const char *ref, const char *state);

/* Prepares SQL on db, or hands out this connection's cached statement with
 * the same text; give it back with ca_done() (which resets it). The
 * statements are finalized when the connection closes. SQLITE_OK or an
 * error code. */
int ca_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);
void ca_done(sqlite3_stmt *st);

/* Closes a connection with its cached statements (NULL is accepted). */
void ca_db_close(sqlite3 *db);

/* Runs SQL; 0 or -1. */
int ca_exec(sqlite3 *db, const char *sql);

/* Rolls back issuances not confirmed within timeout seconds: their users
 * may enroll again. pkiroll-ca's sweeper runs it once a second. */
void ca_expire_unconfirmed(sqlite3 *db, int timeout);

#endif
