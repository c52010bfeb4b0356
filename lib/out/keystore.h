/*
 * Per-community keystores: a PKCS#12 with both keys, both certificates and
 * the chain, plus PEM and DER copies of the certificates. Directory 0700,
 * files 0600, each written to a temporary file, synced and renamed.
 */
#ifndef PKIROLL_KEYSTORE_H
#define PKIROLL_KEYSTORE_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct keystore_in {
	const char *base;    /* the keystore directory; the community's is inside */
	const char *dirname; /* the community's directory in base (file_safe_name()) */
	const char *pass;    /* PKCS#12 passphrase */
	EVP_PKEY *sign_key;
	X509 *sign_cert;
	EVP_PKEY *enc_key; /* NULL without the dual-key pair */
	X509 *enc_cert;
	STACK_OF(X509) * chain; /* CA certificates */
	int legacy;		/* 3DES/SHA-1 PKCS#12 for older gateways */
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

#endif
