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
