/*
 * The keystore passphrase's verifier: derived, compared, kept in the
 * store; and the keystore directories the passphrase opens.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/store_pass.h"

/* PBKDF2-HMAC-SHA256 of pass under v's salt and iterations into out. */
static int derive(const struct store_verifier *v, const char *pass, unsigned char out[32])
{
	return PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), v->salt, sizeof(v->salt), v->iterations,
				 EVP_sha256(), 32, out) == 1
		       ? 0
		       : -1;
}

int store_verifier_make(const char *pass, struct store_verifier *v)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->algorithm, sizeof(v->algorithm), "%s", STORE_PASS_ALG);
	v->iterations = STORE_PASS_ITER;
	if (RAND_bytes(v->salt, sizeof(v->salt)) != 1)
		return -1;
	return derive(v, pass, v->hash);
}

int store_verifier_match(const struct store_verifier *v, const char *pass)
{
	unsigned char h[32];
	int r;

	if (strcmp(v->algorithm, STORE_PASS_ALG) != 0 || v->iterations < 1 ||
	    derive(v, pass, h) < 0)
		return -1;
	r = CRYPTO_memcmp(h, v->hash, sizeof(h)) == 0;
	OPENSSL_cleanse(h, sizeof(h));
	return r;
}

int store_verifier_get(struct pkiroll_store *s, const char *role, struct store_verifier *v)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT algorithm, iterations, salt, verifier FROM"
					    " keystore_passphrase WHERE role = ?");
	int rc, found = 0;

	memset(v, 0, sizeof(*v));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_col_copy(st, 0, v->algorithm, sizeof(v->algorithm));
		v->iterations = sqlite3_column_int(st, 1);
		/* a salt or hash of another size is another algorithm: no match */
		if (store_col_blob(st, 2, v->salt, sizeof(v->salt)) != (int)sizeof(v->salt) ||
		    store_col_blob(st, 3, v->hash, sizeof(v->hash)) != (int)sizeof(v->hash))
			v->algorithm[0] = '?';
		found = 1;
	}
	store_done(s, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sql_error(s, "keystore passphrase verifier");
		return -1;
	}
	return found;
}

int store_verifier_put(struct pkiroll_store *s, const char *role, const struct store_verifier *v)
{
	sqlite3_stmt *st = store_prepare(
		s, "INSERT OR REPLACE INTO keystore_passphrase (role, algorithm, iterations, salt,"
		   " verifier, created_at) VALUES (?, ?, ?, ?, ?, ?)");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v->algorithm, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, v->iterations);
	sqlite3_bind_blob(st, 4, v->salt, sizeof(v->salt), SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, v->hash, sizeof(v->hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	store_done(s, st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, "keystore passphrase verifier");
		return -1;
	}
	return 0;
}

int store_verifier_switch(struct pkiroll_store *s)
{
	int ok;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	ok = store_exec(s, "DELETE FROM keystore_passphrase WHERE role = 'current'") == 0 &&
	     store_exec(s,
			"UPDATE keystore_passphrase SET role = 'current' WHERE role = 'rekey'") ==
		     0;
	return store_end(s, ok, "keystore passphrase switch");
}

int store_keystore_dirs(struct pkiroll_store *s, int recorded_only, store_keystore_dir_fn *fn,
			void *arg)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT name, keystore_dir FROM communities WHERE keystore_dir IS NOT NULL"
		   " AND keystore_dir != '' AND (?1 = 0 OR keystore IS NOT NULL) ORDER BY id");
	int rc = SQLITE_DONE, r = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, recorded_only);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = fn(arg, store_col_text(st, 0), store_col_text(st, 1));
	store_done(s, st);
	if (r == 0 && rc != SQLITE_DONE) {
		store_sql_error(s, "keystore directories");
		return -1;
	}
	return r;
}
