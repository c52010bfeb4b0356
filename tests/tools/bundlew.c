/*
 * bundlew DB OUT_DIR: writes every partner's bundle from the store DB
 * through the library alone (pkiroll_bundle_write()), in whatever time
 * zone the caller set: `pkiroll bundle` sets TZ=UTC itself, so this is
 * how a test sees that the library's zips do not depend on TZ. Prints
 * "written N"; exit 0 when the library returned PKIROLL_OK, else 1.
 */
#include <stdio.h>

#include "pkiroll.h"

static void log_line(void *arg, enum pkiroll_level level, const char *msg)
{
	(void)arg;
	if (level <= PKIROLL_LOG_WARN)
		fprintf(stderr, "%s\n", msg);
}

int main(int argc, char **argv)
{
	pkiroll_ctx *ctx;
	pkiroll_store *s = NULL;
	struct pkiroll_bundle_opts o = {0};
	struct pkiroll_bundle_stats st = {0};
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: bundlew DB OUT_DIR\n");
		return 2;
	}
	if ((ctx = pkiroll_ctx_new(log_line, NULL)) == NULL ||
	    pkiroll_store_open(ctx, argv[1], 0, &s) != PKIROLL_OK) {
		fprintf(stderr, "bundlew: %s: cannot open the store\n", argv[1]);
		pkiroll_ctx_free(ctx);
		return 2;
	}
	o.out_dir = argv[2];
	err = pkiroll_bundle_write(s, &o, &st);
	printf("written %lu\n", st.written);
	pkiroll_store_close(s);
	pkiroll_ctx_free(ctx);
	return err == PKIROLL_OK ? 0 : 1;
}
