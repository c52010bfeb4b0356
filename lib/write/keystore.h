/*
 * Per-community keystores: a PKCS#12 with both keys, both certificates and
 * the chain, plus PEM and DER copies of the certificates. Directory 0700,
 * files 0600, each written to a temporary file, synced and renamed.
 * keystore_p12.c is the PKCS#12 codec (keystore_p12(), keystore_load());
 * keystore.c the directory: write, stage, commit, history, sweep.
 */
#ifndef PKIROLL_KEYSTORE_H
#define PKIROLL_KEYSTORE_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkiroll.h"

/* A decryption key of an earlier generation, kept for messages still
 * encrypted to its certificate: friendly name "encryption-SERIAL". */
struct keystore_key {
	EVP_PKEY *key;
	X509 *cert;
	char name[80];
};

#define KEYSTORE_HISTORY_MAX 8

struct keystore_in {
	const char *base;    /* the keystore directory; the community's is inside */
	const char *dirname; /* the community's directory in base (file_safe_name()) */
	const char *pass;    /* PKCS#12 passphrase */
	EVP_PKEY *sign_key;
	X509 *sign_cert;
	EVP_PKEY *enc_key; /* NULL without the dual-key pair */
	X509 *enc_cert;
	STACK_OF(X509) * chain;		    /* CA certificates */
	int legacy;			    /* 3DES/SHA-1 PKCS#12 for older gateways */
	const struct keystore_key *history; /* previous decryption keys, newest first */
	int nhistory;
	/* write only the PKCS#12, as keystore.p12.staged beside the current
	 * one; keystore_commit() makes it current once the CA confirmed */
	int staged;
	/* with staged: the file's name instead of keystore.p12.staged (e.g. a
	 * keystore kept aside for certificates that did not verify) */
	const char *file;
};

/*
 * Writes the keystore; *path gets the community's directory. Returns 0, or
 * -1 with err set (the file or directory and the errno; no secret). What
 * this call renamed into place is removed again on failure.
 */
int keystore_write(const struct keystore_in *in, char *path, size_t pathlen, char *err,
		   size_t errlen);

/*
 * The certificates of the keystore in dir, read from its PKCS#12 by their
 * friendly names ("signing", "encryption"); the caller frees them. 1 read
 * (a certificate that is not there stays NULL), 0 there is no keystore.p12,
 * -1 it cannot be read or opened with pass.
 */
int keystore_read_certs(const char *dir, const char *pass, X509 **sign, X509 **enc);

/* The PKCS#12 of in (in->base, dirname and staged unused; a NULL
 * sign_key leaves the signing pair out) as DER; *out is the caller's
 * (OPENSSL_free). 0 or -1. */
int keystore_p12(const struct keystore_in *in, unsigned char **out, size_t *outlen);

/* Everything a keystore holds, read back (keystore_load()). */
struct keystore_content {
	EVP_PKEY *sign_key;
	X509 *sign_cert;
	EVP_PKEY *enc_key; /* NULL: single key */
	X509 *enc_cert;
	STACK_OF(X509) * chain; /* the certificates without a friendly name */
	struct keystore_key history[KEYSTORE_HISTORY_MAX];
	int nhistory;
	int legacy; /* its MAC is HMAC-SHA1: written with the legacy profile */
};

/*
 * Reads dir/file (keystore.p12, keystore.p12.staged) with pass: the keys
 * and certificates by their friendly names. 1 read, 0 the file is not
 * there, -1 it cannot be read or opened with pass (err says which).
 */
int keystore_load(const char *dir, const char *file, const char *pass, struct keystore_content *k,
		  char *err, size_t errlen);
void keystore_content_free(struct keystore_content *k);

/* Does pass open dir/file (its MAC verifies)? 1 yes, 0 the file is not
 * there, -1 no, or it is no PKCS#12. Cheaper than keystore_load(). */
int keystore_opens(const char *dir, const char *file, const char *pass);

/* ---- one passphrase for a store's keystores (keystore_pass.c) ---- */

/*
 * Checks pass against the store's verifier of the keystore passphrase.
 * A store without one gets one: when pass opens the first keystore the
 * store recorded (keystore_dir/DIR/keystore.p12), or when no keystore was
 * written yet (the first enrollment). PKIROLL_OK; PKIROLL_ERR_CONFIG
 * (logged) when pass is another passphrase, or when the verifier is of an
 * algorithm this pkiroll does not know; PKIROLL_ERR_STORE.
 */
int keystore_pass_current(pkiroll_store *s, const char *keystore_dir, const char *pass);

/* keystore_pass_current() for every command but rekey-keystores: also
 * PKIROLL_ERR_CONFIG (logged) while a rekey is in progress. */
int keystore_pass_guard(pkiroll_store *s, const char *keystore_dir, const char *pass);

/* The certificates of a keystore, for its PEM and DER copies. */
struct keystore_certs {
	X509 *sign, *enc; /* enc NULL: none */
	STACK_OF(X509) * chain;
};

/*
 * Makes the staged keystore current: the current PKCS#12 is kept as
 * keystore-OLDSERIAL.p12, keystore.p12.staged is renamed over keystore.p12
 * (one atomic rename) and the directory synced; then the certificate
 * copies are written, from certs (the staged keystore's), or read from the
 * PKCS#12 when certs is NULL. Without a staged file (a rerun after the
 * rename) only the copies are written. 0, or -1 with err set.
 */
int keystore_commit(const char *dir, const char *pass, const char *old_serial,
		    const struct keystore_certs *certs, char *err, size_t errlen);

/*
 * The earlier decryption keys a new keystore keeps, newest first, into h
 * (borrowed from cur): cur's encryption key when replaced is set (named
 * encryption-SERIAL), then the ones cur kept; at most keep. Returns how many.
 */
int keystore_history(const struct keystore_content *cur, int replaced, int keep,
		     struct keystore_key *h);

/* Keeps the current keystore.p12 (if any) as keystore-SERIAL.p12 beside
 * it, SERIAL from its signing.pem, before a new enrollment overwrites it.
 * 0, or -1 with errno set. */
int keystore_keep_current(const char *dir);

/*
 * Removes the temporary files a crashed run left while it wrote a keystore
 * into dir: exactly file_atomic_write()'s names for it (.keystore.p12.XXXXXX,
 * .keystore.p12.staged.XXXXXX, six characters of mkstemp's alphabet),
 * regular files (not followed if a link), owned by us, last modified before
 * started (the start of this run, so never a file this run is writing).
 * Each removal is logged at debug level on ctx (may be NULL). Returns how
 * many were removed.
 */
int keystore_sweep_temp(const char *dir, time_t started, pkiroll_ctx *ctx);

/* Removes a staged keystore the CA did not confirm. */
void keystore_discard_staged(const char *dir);

/* Is there a staged keystore in dir? */
int keystore_has_staged(const char *dir);

#endif
