/*
 * The keystore passphrase's verifier in the store: a salted PBKDF2 of it,
 * with its algorithm and iteration count beside it (so either can change
 * later), never the passphrase. One 'current' row for the keystores as
 * they are; a 'rekey' row while pkiroll rekey-keystores moves them to a
 * new passphrase.
 */
#ifndef PKIROLL_STORE_PASS_H
#define PKIROLL_STORE_PASS_H

#include "store/store.h"

#define STORE_PASS_ALG "PBKDF2-HMAC-SHA256"
#define STORE_PASS_ITER 600000 /* OWASP's figure for PBKDF2-HMAC-SHA256 (2023) */

struct store_verifier {
	char algorithm[32];
	int iterations;
	unsigned char salt[16];
	unsigned char hash[32];
};

/* A new verifier of pass: a fresh random salt. 0 or -1. */
int store_verifier_make(const char *pass, struct store_verifier *v);

/* Does pass match v? 1 yes, 0 no, -1 v's algorithm is not one this
 * pkiroll knows (or the derivation failed). Constant time in the hash. */
int store_verifier_match(const struct store_verifier *v, const char *pass);

/* The verifier of role ("current", "rekey") into *v: 1 found, 0 none,
 * -1 a store error (logged). */
int store_verifier_get(struct pkiroll_store *s, const char *role, struct store_verifier *v);

/* Records v as role's verifier, replacing any. 0 or -1 (logged). */
int store_verifier_put(struct pkiroll_store *s, const char *role, const struct store_verifier *v);

/* The end of a rekey, in one transaction: the 'rekey' verifier becomes
 * the 'current' one. 0 or -1 (logged). */
int store_verifier_switch(struct pkiroll_store *s);

/* Calls fn with the keystore directory name of every community that has
 * one, by id; with recorded_only, only those whose keystore was written
 * (the keystore column set). A non-zero return from fn stops and is
 * returned; -1 on a store error (logged). */
typedef int store_keystore_dir_fn(void *arg, const char *community, const char *ksdir);
int store_keystore_dirs(struct pkiroll_store *s, int recorded_only, store_keystore_dir_fn *fn,
			void *arg);

#endif
