/*
 * The unit test runner: runs every registered test (or those whose name
 * contains argv[1]) and prints PASS/FAIL/... lines that tests/run.sh counts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	void (*fn)(void);
} tests[MAX_TESTS];
static int ntests, failed_now;
static char *logbuf;
static size_t loglen, logcap;
static pkiroll_ctx *ctx;
static char tmpdir[2048];
static const char *srcdir = ".";

void t_register(const char *name, void (*fn)(void))
{
	if (ntests < MAX_TESTS) {
		tests[ntests].name = name;
		tests[ntests].fn = fn;
		ntests++;
	}
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("  %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed_now = 1;
}

int t_failed(void)
{
	return failed_now;
}

static void capture(void *arg, enum pkiroll_level level, const char *msg)
{
	size_t n = strlen(msg);

	(void)arg;
	(void)level;
	if (loglen + n + 2 > logcap) {
		logcap = (loglen + n + 2) * 2;
		logbuf = realloc(logbuf, logcap);
		if (logbuf == NULL)
			abort();
	}
	memcpy(logbuf + loglen, msg, n);
	loglen += n;
	logbuf[loglen++] = '\n';
	logbuf[loglen] = '\0';
}

pkiroll_ctx *t_ctx(void)
{
	if (ctx == NULL)
		ctx = pkiroll_ctx_new(capture, NULL);
	return ctx;
}

const char *t_log(void)
{
	return logbuf ? logbuf : "";
}

int t_log_has(const char *needle)
{
	return strstr(t_log(), needle) != NULL;
}

void t_log_reset(void)
{
	loglen = 0;
	if (logbuf)
		logbuf[0] = '\0';
}

const char *t_tmpdir(void)
{
	return tmpdir;
}

const char *t_path(const char *name)
{
	static char buf[8][4096];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

const char *t_src(const char *rel)
{
	static char buf[8][4096];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", srcdir, rel);
	return buf[k];
}

const char *t_write(const char *name, const void *data, size_t len)
{
	const char *p = t_path(name);
	FILE *f = fopen(p, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len)
		abort();
	fclose(f);
	return p;
}

const char *t_writes(const char *name, const char *text)
{
	return t_write(name, text, strlen(text));
}

static void fresh_tmpdir(const char *base, const char *name)
{
	char cmd[8300];

	snprintf(tmpdir, sizeof(tmpdir), "%s/%s", base, name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", tmpdir, tmpdir);
	if (system(cmd) != 0)
		abort();
}

int main(int argc, char **argv)
{
	const char *base = getenv("T_TMP") ? getenv("T_TMP") : "/tmp/pkiroll-unit";
	int pass = 0, fail = 0;

	if (getenv("T_SRC") != NULL)
		srcdir = getenv("T_SRC");
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < ntests; i++) {
		if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
			continue;
		fresh_tmpdir(base, tests[i].name);
		t_log_reset();
		failed_now = 0;
		tests[i].fn();
		if (failed_now) {
			printf("FAIL %s\n", tests[i].name);
			if (loglen > 0)
				printf("  log:\n%s", t_log());
			fail++;
		} else {
			printf("PASS %s\n", tests[i].name);
			pass++;
		}
	}
	pkiroll_ctx_free(ctx);
	free(logbuf);
	printf("# unit tests: %d ok, %d not ok\n", pass, fail);
	return fail ? 1 : 0;
}
