/*
 * Declarations shared by the library's modules; never included by cmd/.
 */
#ifndef PKIROLL_INTERNAL_H
#define PKIROLL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "pkiroll.h"

struct pkiroll_ctx {
	pkiroll_log_fn *log;
	void *log_arg;
};

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Sends one formatted line to the context's log callback. */
void ctx_log(pkiroll_ctx *ctx, enum pkiroll_level level, const char *fmt, ...) PRINTF_LIKE(3, 4);
void ctx_vlog(pkiroll_ctx *ctx, enum pkiroll_level level, const char *fmt, va_list ap);

/*
 * Logs "what: <first OpenSSL error>" at error level and drains OpenSSL's
 * error queue. The one place OpenSSL errors are turned into text.
 */
void ctx_ossl_error(pkiroll_ctx *ctx, const char *what);

/* Duplicates a string; NULL in, NULL out. Aborts nothing: NULL on ENOMEM. */
char *xstrdup(const char *s);

/* Case-insensitive ASCII comparison. */
int ascii_casecmp(const char *a, const char *b);

/* 1 if buf[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int utf8_valid(const unsigned char *buf, size_t len);

#endif
