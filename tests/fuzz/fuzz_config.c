/*
 * Fuzz target: the INI configuration file.
 */
#include "fuzz.h"
#include "pkiroll.h"

static void quiet(void *arg, enum pkiroll_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pkiroll_ctx *ctx;
	struct pkiroll_config cfg;
	const char *path = fuzz_file("pkiroll.conf", data, size);

	if (ctx == NULL)
		ctx = pkiroll_ctx_new(quiet, NULL);
	if (path == NULL || ctx == NULL)
		return 0;
	if (pkiroll_config_load(ctx, path, &cfg) == PKIROLL_OK)
		(void)pkiroll_config_profile(&cfg, NULL);
	return 0;
}
