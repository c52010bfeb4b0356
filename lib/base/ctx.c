/*
 * The library context: the log callback, error texts, the versions of the
 * libraries underneath, small string helpers, the grow helper.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <csv.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sqlite3.h>
#include <zip.h>

#include "base/base.h"

static const char *const err_names[PKIROLL_ERR__MAX] = {
	[PKIROLL_OK] = "success",
	[PKIROLL_ERR_USAGE] = "usage error",
	[PKIROLL_ERR_CONFIG] = "configuration error",
	[PKIROLL_ERR_IO] = "I/O error",
	[PKIROLL_ERR_STORE] = "store error",
	[PKIROLL_ERR_MANIFEST] = "manifest cannot be read",
	[PKIROLL_ERR_STRICT] = "stopped at the first bad row (--strict)",
	[PKIROLL_ERR_NOMEM] = "out of memory",
	[PKIROLL_ERR_CRYPTO] = "cryptographic operation failed",
	[PKIROLL_ERR_NOENT] = "no such file",
	[PKIROLL_ERR_LOCKED] = "store is locked by another run",
	[PKIROLL_ERR_SCHEMA] = "store was written by a newer pkiroll",
	[PKIROLL_ERR_NOCERT] = "no such certificate",
	[PKIROLL_ERR_HOOK] = "a hook failed",
};

const char *pkiroll_strerror(int err)
{
	if (err < 0 || err >= PKIROLL_ERR__MAX || err_names[err] == NULL)
		return "unknown error";
	return err_names[err];
}

static const char *const state_names[PKIROLL_STATE__MAX] = {
	[PKIROLL_STATE_PENDING] = "pending",	     [PKIROLL_STATE_ENROLLING] = "enrolling",
	[PKIROLL_STATE_ENROLLED] = "enrolled",	     [PKIROLL_STATE_FAILED] = "failed",
	[PKIROLL_STATE_NEEDS_CODES] = "needs_codes", [PKIROLL_STATE_RENEWING] = "renewing",
	[PKIROLL_STATE_RETIRED] = "retired",
};

const char *pkiroll_state_name(int state)
{
	if (state < 0 || state >= PKIROLL_STATE__MAX)
		return NULL;
	return state_names[state];
}

int base_state_from_name(const char *name)
{
	for (int i = 0; i < PKIROLL_STATE__MAX; i++)
		if (name != NULL && strcmp(state_names[i], name) == 0)
			return i;
	return -1;
}

size_t pkiroll_library_versions(struct pkiroll_libversion out[PKIROLL_MAX_LIBS])
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	int xml = atoi(xmlParserVersion); /* 20914: 2.9.14 */
	size_t n = 0;

	memset(out, 0, PKIROLL_MAX_LIBS * sizeof(*out));
	out[n].name = "OpenSSL";
	snprintf(out[n++].version, sizeof(out[0].version), "%s", OpenSSL_version(OPENSSL_VERSION));
	out[n].name = "SQLite";
	snprintf(out[n++].version, sizeof(out[0].version), "%s", sqlite3_libversion());
	out[n].name = "libzip";
	snprintf(out[n++].version, sizeof(out[0].version), "%s", zip_libzip_version());
	out[n].name = "jansson";
	snprintf(out[n++].version, sizeof(out[0].version), "%s", jansson_version_str());
	out[n].name = "libxml2";
	snprintf(out[n++].version, sizeof(out[0].version), "%d.%d.%d", xml / 10000, xml / 100 % 100,
		 xml % 100);
	out[n].name = "libcurl";
	snprintf(out[n++].version, sizeof(out[0].version), "%s (%s)", cv->version,
		 cv->ssl_version ? cv->ssl_version : "no TLS");
	/* libcsv and inih have no version call: what the headers say */
	out[n].name = "libcsv";
	out[n].built = 1;
	snprintf(out[n++].version, sizeof(out[0].version), "%d.%d.%d", CSV_MAJOR, CSV_MINOR,
		 CSV_RELEASE);
	out[n].name = "inih";
	snprintf(out[n++].version, sizeof(out[0].version), "(it reports no version)");
	return n;
}

pkiroll_ctx *pkiroll_ctx_new(pkiroll_log_fn *log, void *arg)
{
	pkiroll_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL)
		return NULL;
	ctx->log = log;
	ctx->log_arg = arg;
	return ctx;
}

void pkiroll_ctx_free(pkiroll_ctx *ctx)
{
	free(ctx);
}

void ctx_vlog(pkiroll_ctx *ctx, enum pkiroll_level level, const char *fmt, va_list ap)
{
	char buf[2048];

	if (ctx == NULL || ctx->log == NULL)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	ctx->log(ctx->log_arg, level, buf);
}

void ctx_log(pkiroll_ctx *ctx, enum pkiroll_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctx_vlog(ctx, level, fmt, ap);
	va_end(ap);
}

void ctx_ossl_error(pkiroll_ctx *ctx, const char *what)
{
	unsigned long e = ERR_peek_error();
	char buf[256];

	if (e == 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: failed", what);
	} else {
		ERR_error_string_n(e, buf, sizeof(buf));
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", what, buf);
	}
	ERR_clear_error();
}

char *base_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

int base_ascii_casecmp(const char *a, const char *b)
{
	unsigned char ca, cb;

	do {
		ca = (unsigned char)*a++;
		cb = (unsigned char)*b++;
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
	} while (ca != '\0' && ca == cb);
	return ca - cb;
}

int base_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static const char *const key_type_names[KEY__MAX] = {
	"rsa2048", "rsa3072", "rsa4096", "p256", "p384",
};

const char *base_key_type_name(int type)
{
	return type >= 0 && type < KEY__MAX ? key_type_names[type] : NULL;
}

int base_key_type_from_name(const char *name)
{
	for (int i = 0; i < KEY__MAX; i++)
		if (base_ascii_casecmp(name, key_type_names[i]) == 0)
			return i;
	return -1;
}

long long base_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int base_grow(void *ptr, size_t *cap, size_t need, size_t elem)
{
	void *p, *n;
	size_t ncap;

	if (need <= *cap)
		return 0;
	ncap = *cap == 0 ? 16 : *cap <= SIZE_MAX / 2 ? *cap * 2 : SIZE_MAX;
	if (ncap < need)
		ncap = need;
	/* no object is larger than PTRDIFF_MAX bytes: refused before realloc */
	if (elem == 0 || ncap > (size_t)PTRDIFF_MAX / elem) {
		errno = ENOMEM;
		return -1;
	}
	/* the caller's pointer is read and written as bytes: any object type */
	memcpy(&p, ptr, sizeof(p));
	if ((n = realloc(p, ncap * elem)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(ptr, &n, sizeof(n));
	*cap = ncap;
	return 0;
}

int base_lineset_add(struct lineset *s, unsigned long line)
{
	size_t byte = line / 8, had = s->cap;

	if (byte >= s->cap) {
		if (byte == SIZE_MAX || BASE_GROW(s->bits, s->cap, byte + 1) < 0)
			return -1;
		memset(s->bits + had, 0, s->cap - had);
	}
	s->bits[byte] |= (unsigned char)(1u << (line % 8));
	return 0;
}

int base_lineset_has(const struct lineset *s, unsigned long line)
{
	return line / 8 < s->cap && (s->bits[line / 8] & (1u << (line % 8))) != 0;
}

void base_lineset_free(struct lineset *s)
{
	free(s->bits);
	s->bits = NULL;
	s->cap = 0;
}

/* RFC 5280 5.3.1; 7 is unused, 8 (removeFromCRL) is no reason to revoke */
static const char *const crl_reasons[] = {
	"unspecified", "keyCompromise",	       "cACompromise",	  "affiliationChanged",
	"superseded",  "cessationOfOperation", "certificateHold", NULL,
	NULL,	       "privilegeWithdrawn",   "aACompromise",
};

int pkiroll_revocation_reason(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++)
		if (crl_reasons[i] != NULL && base_ascii_casecmp(crl_reasons[i], name) == 0)
			return (int)i;
	return -1;
}

const char *pkiroll_revocation_reason_name(int code)
{
	return code >= 0 && code < (int)(sizeof(crl_reasons) / sizeof(crl_reasons[0]))
		       ? crl_reasons[code]
		       : NULL;
}

/* The code point at s (len bytes left) into *cp: its length in bytes, or 0
 * when s does not start with valid UTF-8. */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned long *cp)
{
	size_t n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	n = (s[0] & 0xe0) == 0xc0 ? 1 : (s[0] & 0xf0) == 0xe0 ? 2 : (s[0] & 0xf8) == 0xf0 ? 3 : 0;
	if (n == 0 || len <= n)
		return 0;
	*cp = s[0] & (0x3f >> n);
	for (size_t k = 1; k <= n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[k] & 0x3f);
	}
	if ((n == 1 && *cp < 0x80) || (n == 2 && *cp < 0x800) || (n == 3 && *cp < 0x10000) ||
	    *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n + 1;
}

/* A character a terminal or a viewer acts on instead of showing: C0, DEL,
 * C1, and the bidirectional marks, embeddings, overrides and isolates. */
static int display_unsafe(unsigned long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

const char *text_escape_display(const char *in, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)(in != NULL ? in : "");
	size_t len = strlen((const char *)s), o = 0;

	if (outlen == 0)
		return out;
	while (*s != '\0') {
		unsigned long cp = 0;
		size_t n = utf8_next(s, len, &cp);
		char esc[16];
		const char *piece = esc;
		size_t plen;

		if (n == 0) /* not UTF-8: the byte, in hex */
			plen = (size_t)snprintf(esc, sizeof(esc), "\\x%02X", s[0]), n = 1;
		else if (cp == '\n' || cp == '\r' || cp == '\t')
			plen = (size_t)snprintf(esc, sizeof(esc), "\\%c",
						cp == '\n'   ? 'n'
						: cp == '\r' ? 'r'
							     : 't');
		else if (cp < 0x20 || cp == 0x7f)
			plen = (size_t)snprintf(esc, sizeof(esc), "\\x%02lX", cp);
		else if (display_unsafe(cp))
			plen = (size_t)snprintf(esc, sizeof(esc), "\\u%04lX", cp);
		else
			piece = (const char *)s, plen = n;
		if (o + plen >= outlen) /* cut at a character, never inside one */
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		s += n;
		len -= n;
	}
	out[o] = '\0';
	return out;
}

const char *pkiroll_text_display(const char *in, char *out, size_t outlen)
{
	return text_escape_display(in, out, outlen);
}
