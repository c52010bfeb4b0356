/*
 * Fuzz target: a community's keystore.p12 as a resumed run reads it.
 */
#include <openssl/x509.h>

#include "fuzz.h"
#include "write/keystore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509 *sign = NULL, *enc = NULL;

	if (fuzz_file("keystore.p12", data, size) == NULL)
		return 0;
	keystore_read_certs(fuzz_dir(), "fuzz-pass", &sign, &enc);
	X509_free(sign);
	X509_free(enc);
	return 0;
}
