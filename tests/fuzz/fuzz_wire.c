/*
 * Fuzz target: the parent-worker wire (frames, then their tagged fields),
 * as either side reads it.
 */
#include "fuzz.h"
#include "enroll/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_memfd(data, size), type, tag;
	struct wbuf b = {0};
	const unsigned char *v;
	size_t n;
	char s[64];

	if (fd < 0)
		return 0;
	for (int i = 0; i < 64 && wire_read(fd, &type, &b) > 0; i++) {
		/* each field as the readers take it: a number, a string, a nested list */
		while (wbuf_next(&b, &tag, &v, &n) > 0) {
			struct wbuf in = {.p = (unsigned char *)v, .len = n, .cap = n};
			const unsigned char *f;
			size_t fl;
			int t2;

			(void)wire_int(v, n);
			wire_str(v, n, s, sizeof(s));
			while (wbuf_next(&in, &t2, &f, &fl) > 0)
				(void)wire_int(f, fl);
		}
	}
	wbuf_free(&b);
	close(fd);
	return 0;
}
