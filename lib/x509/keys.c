/*
 * Key generation, the legacy provider, and key-certificate matching.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "x509/keys.h"

EVP_PKEY *keys_generate(int key_type)
{
	switch (key_type) {
	case KEY_RSA2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case KEY_RSA3072:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	case KEY_RSA4096:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	case KEY_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case KEY_P384:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	default:
		return NULL;
	}
}

static OSSL_PROVIDER *dflt, *legacy; /* held for the life of the process */

/* Unloads at exit, before OpenSSL's own cleanup (atexit runs LIFO). */
static void unload_providers(void)
{
	OSSL_PROVIDER_unload(legacy);
	OSSL_PROVIDER_unload(dflt);
	legacy = dflt = NULL;
}

int keys_legacy_provider(void)
{
	static int state; /* 0 untried, 1 loaded, -1 unavailable */

	if (state == 0) {
		/* loading "legacy" alone would hide the default provider */
		if ((dflt = OSSL_PROVIDER_load(NULL, "default")) != NULL &&
		    (legacy = OSSL_PROVIDER_load(NULL, "legacy")) != NULL) {
			state = 1;
			atexit(unload_providers);
		} else
			state = -1;
		ERR_clear_error();
	}
	return state == 1;
}

int keys_match_cert(EVP_PKEY *priv, X509 *cert)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	int r = pub != NULL && priv != NULL && EVP_PKEY_eq(pub, priv) == 1;

	ERR_clear_error();
	return r;
}
