/*
 * pkiroll-ca's certificate policy: what the test CA puts in the
 * certificates it issues (its own CA certificates, end-entity signing and
 * encryption certificates, the TLS server certificate of its HTTPS
 * listener). The CMP mechanism is in the library (cmp_server.c); this is
 * the CA's choice, as OpenSSL keeps apps/lib/cmp_mock_srv.c apart from
 * crypto/cmp/cmp_server.c. The unit tests' fake CA links it too.
 */
#ifndef PKIROLL_CA_MINT_H
#define PKIROLL_CA_MINT_H

#include "ca_internal.h"

/* Key usage of a minted certificate. */
enum mint_usage { MINT_SIGNING = 0, MINT_ENCRYPTION, MINT_CA, MINT_TLS_SERVER };

/*
 * Issues a certificate for pub (or, when spki is not NULL, for the key in
 * that SubjectPublicKeyInfo, copied as it is) under subject, signed by ca_key
 * (ca_cert NULL: self-signed). Random 16-byte serial, SKI/AKI,
 * basicConstraints, keyUsage by usage (an enum mint_usage), validity from
 * now for seconds. Caller frees; NULL on error.
 */
X509 *ca_mint(X509 *ca_cert, EVP_PKEY *ca_key, const X509_NAME *subject, EVP_PKEY *pub,
	      const PKR_SPKI *spki, int usage, long seconds);

#endif
