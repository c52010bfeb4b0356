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
char *base_strdup(const char *s);

/* Case-insensitive ASCII comparison. */
int base_ascii_casecmp(const char *a, const char *b);

/* 1 if buf[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int base_utf8_valid(const unsigned char *buf, size_t len);

/*
 * Text from outside (a partner's reason, a CA's text, a name or subject
 * from a manifest or a certificate) made safe to print: C0 and C1 control
 * characters, DEL and the bidirectional controls (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069) become \n, \r, \t, \xHH or \uHHHH,
 * bytes that are not UTF-8 become \xHH; everything else (a backslash too)
 * stays. The one function for it: status, events, sheets, README. Writes
 * into out (always terminated, cut at a character when full) and returns
 * out. The store keeps the raw text.
 */
const char *text_escape_display(const char *in, char *out, size_t outlen);

/* The enum pkiroll_state of a state's name (pkiroll_state_name()), or -1. */
int base_state_from_name(const char *name);

/* A set of line numbers (a bitmap that grows): which manifest rows the
 * import refused, for the second pass. 125 KB per million lines. */
struct lineset {
	unsigned char *bits;
	size_t cap; /* bytes */
};

/* Adds line; 0, or -1 when out of memory. */
int base_lineset_add(struct lineset *s, unsigned long line);
/* 1 if line is in the set. */
int base_lineset_has(const struct lineset *s, unsigned long line);
void base_lineset_free(struct lineset *s);

/*
 * The one grow helper (git's ALLOC_GROW): makes the array at *ptr (a
 * pointer of any type, passed by address) hold at least need elements of
 * elem bytes, doubling *cap (16 from none) or going straight to need when
 * that is more. Every multiplication is checked: a size that does not fit
 * in size_t is refused like a failed realloc. 0 (*ptr and *cap updated),
 * or -1 with errno ENOMEM and *ptr and *cap as they were (the caller still
 * owns and frees *ptr).
 */
int base_grow(void *ptr, size_t *cap, size_t need, size_t elem);
/* base_grow() for an array p with capacity cap (size_t), by name. */
#define BASE_GROW(p, cap, need) base_grow(&(p), &(cap), (need), sizeof(*(p)))

/* Monotonic milliseconds. */
long long base_now_ms(void);

/* Key types, as the manifest, the configuration and the store name them. */
enum key_type { KEY_RSA2048 = 0, KEY_RSA3072, KEY_RSA4096, KEY_P256, KEY_P384, KEY__MAX };

/* "rsa2048" ... for a key type, or NULL. */
const char *base_key_type_name(int type);
/* Key type from its name (case-insensitive), or -1. */
int base_key_type_from_name(const char *name);

#endif
