/*
 * The unit test runner's interface: TEST() registers a test, CHECK() fails
 * it with a message that says what was checked.
 */
#ifndef PKIROLL_T_H
#define PKIROLL_T_H

#include <stdio.h>

#include "pkiroll.h"

void t_register(const char *name, void (*fn)(void));
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int t_failed(void);

#define TEST(n)                                                                                    \
	static void n(void);                                                                       \
	__attribute__((constructor)) static void reg_##n(void)                                     \
	{                                                                                          \
		t_register(#n, n);                                                                 \
	}                                                                                          \
	static void n(void)

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			t_fail(__FILE__, __LINE__, __VA_ARGS__);                                   \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* A context whose log lines are kept; t_log() is everything logged. */
pkiroll_ctx *t_ctx(void);
const char *t_log(void);
int t_log_has(const char *needle);
void t_log_reset(void);

/* A fresh scratch directory for this test; the path is static storage. */
const char *t_tmpdir(void);
/* Path of a file in the scratch directory (static, rotating buffers). */
const char *t_path(const char *name);
/* Path of a file under the source tree (static, rotating buffers). */
const char *t_src(const char *rel);
/* Writes len bytes to a scratch file; returns its path. */
const char *t_write(const char *name, const void *data, size_t len);
/* Same for a NUL-terminated string. */
const char *t_writes(const char *name, const char *text);

#endif
