/*
 * Fuzz target: the manifest reader on arbitrary bytes. The input goes to a
 * temporary file because the reader streams from a path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "input/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static pkiroll_ctx *ctx;
	const struct manifest_row *row;
	struct manifest *m;
	FILE *f;
	int err;

	if (ctx == NULL) {
		ctx = pkiroll_ctx_new(NULL, NULL);
		snprintf(path, sizeof(path), "/tmp/fuzz-manifest.%d.csv", (int)getpid());
	}
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	/* the first byte picks the delimiter option, as --delimiter would */
	{
		struct pkiroll_manifest_opts o = {0};

		if (size > 0)
			o.delimiter = "\0,;\t"[data[0] & 3];
		if ((m = manifest_open(ctx, path, &o, &err)) != NULL) {
			while (manifest_next_row(m, &row) > 0)
				;
			manifest_close(m);
		}
	}
	unlink(path);
	return 0;
}
