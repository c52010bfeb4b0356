/*
 * What pkiroll records about a certificate, and its fingerprints.
 */
#ifndef PKIROLL_CERTINFO_H
#define PKIROLL_CERTINFO_H

#include <openssl/x509.h>

#include "base/base.h"

/* Fills info from a certificate. Returns PKIROLL_OK; free the strings with
 * pkiroll_cert_info_free(info, 1) semantics (certinfo_clear). */
int certinfo_from_x509(X509 *x, struct pkiroll_cert_info *info);

/* A certificate's digests, raw: what its fingerprints show. */
struct certinfo_digests {
	unsigned char md5[16], sha1[20], sha256[32];
};

/* The MD5, SHA-1 and SHA-256 of a certificate's DER. 0 or -1. */
int certinfo_digests(const unsigned char *der, size_t len, struct certinfo_digests *d);

/* The fingerprints as pkiroll shows them (colon-separated upper-case hex),
 * from the digests. */
void certinfo_fingerprints(const struct certinfo_digests *d, struct pkiroll_fingerprints *fp);

/* Frees the strings of one info. */
void certinfo_clear(struct pkiroll_cert_info *info);

/* A certificate's serial number in upper-case hex, as the store keeps it.
 * 0, or -1 (buf "") if it does not fit. */
int certinfo_serial(const X509 *x, char *buf, size_t len);

/* "rsa2048", "p256", ... for a public key, into buf. */
void certinfo_key_type(EVP_PKEY *pkey, char *buf, size_t len);

/* The certificate in dir/name, PEM (pem set) or DER; NULL when it is
 * missing or unreadable. The caller frees it. */
X509 *certinfo_read(const char *dir, const char *name, int pem);

#endif
