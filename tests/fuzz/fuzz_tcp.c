/*
 * Fuzz target: the TCP transport's framing (both versions) as the client
 * and pkiroll-ca read it: frames one after another until the input ends.
 */
#include <openssl/crypto.h>

#include "fuzz.h"
#include "base/base.h"
#include "cmp/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_memfd(data, size), v10, flags, type;
	unsigned char *payload;
	size_t n;
	char err[256];

	if (fd < 0)
		return 0;
	for (int i = 0; i < 64; i++) {
		int r = tcp_frame_read(fd, &v10, &flags, &type, &payload, &n, base_now_ms() + 1000,
				       err, sizeof(err));

		OPENSSL_free(payload);
		if (r <= 0)
			break;
	}
	close(fd);
	return 0;
}
