/*
 * Fuzz target: an HTTP reply (status line, headers, body) as the client
 * takes it from the CA.
 */
#include <openssl/crypto.h>

#include "fuzz.h"
#include "cmp/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *rsp = NULL;
	size_t n = 0;
	char err[512];

	transport_http_reply(data, size, &rsp, &n, err, sizeof(err));
	OPENSSL_free(rsp);
	return 0;
}
