/*
 * An HTTP reply from a CMP server, read defensively: the header lines we
 * use, the body bounded, and what the reply means for the exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cmp/cmp.h"
#include "cmp/http_reply.h"
#include "cmp/transport.h"

void http_reply_init(struct http_reply *h)
{
	memset(h, 0, sizeof(*h));
	h->retry_after = -1;
}

void http_reply_free(struct http_reply *h)
{
	OPENSSL_free(h->body);
	h->body = NULL;
	h->len = h->cap = 0;
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* "HTTP/1.1 200 OK", "HTTP/2 429": the status code, or 0. */
static int status_of(const char *line, size_t n)
{
	size_t i = 5;
	int code = 0;

	while (i < n && line[i] != ' ')
		i++;
	while (i < n && line[i] == ' ')
		i++;
	for (int k = 0; k < 3; k++, i++) {
		if (i >= n || line[i] < '0' || line[i] > '9')
			return 0;
		code = code * 10 + (line[i] - '0');
	}
	if (i < n && line[i] != ' ')
		return 0;
	return code >= 100 && code <= 599 ? code : 0;
}

/* Copies a header value for a message: printable ASCII, bounded. */
static void shown_copy(char *dst, size_t cap, const char *v, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++)
		dst[o++] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
	dst[o] = '\0';
	if (n >= cap && cap > 4)
		memcpy(dst + cap - 4, "...", 4);
}

/* Content-Type: the media type alone (RFC 9110 8.3.1: parameters follow
 * ';', and type and subtype are case-insensitive). */
static void set_ctype(struct http_reply *h, const char *v, size_t n)
{
	size_t m = 0;

	shown_copy(h->ctype_shown, sizeof(h->ctype_shown), v, n);
	while (m < n && v[m] != ';')
		m++;
	while (m > 0 && is_ows(v[m - 1]))
		m--;
	if (m >= sizeof(h->ctype)) {
		snprintf(h->ctype, sizeof(h->ctype), "?"); /* too long to be one we know */
		return;
	}
	for (size_t i = 0; i < m; i++)
		h->ctype[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] - 'A' + 'a' : v[i]);
	h->ctype[m] = '\0';
}

void http_reply_header(struct http_reply *h, const char *line, size_t n, time_t now)
{
	const char *colon, *v;
	size_t nl, vl;

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* a new response: what an interim one said does not count */
		h->status = status_of(line, n);
		h->ctype[0] = h->ctype_shown[0] = '\0';
		h->retry_after = -1;
		return;
	}
	if ((colon = memchr(line, ':', n)) == NULL)
		return;
	nl = (size_t)(colon - line);
	v = colon + 1;
	vl = n - nl - 1;
	while (vl > 0 && is_ows(*v)) {
		v++;
		vl--;
	}
	while (vl > 0 && is_ows(v[vl - 1]))
		vl--;
	if (nl == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		set_ctype(h, v, vl);
	} else if (nl == 11 && strncasecmp(line, "Retry-After", 11) == 0) {
		char buf[64];

		if (vl >= sizeof(buf))
			return;
		memcpy(buf, v, vl);
		buf[vl] = '\0';
		h->retry_after = http_retry_after_parse(buf, now);
	}
}

int http_reply_body(struct http_reply *h, const void *p, size_t n)
{
	if (n > CMP_MAX_MSG - h->len) {
		h->oversized = 1;
		return -1;
	}
	if (h->len + n > h->cap) {
		size_t cap = h->cap ? h->cap : 4096;
		unsigned char *b;

		while (cap < h->len + n)
			cap *= 2; /* at most 2 * CMP_MAX_MSG: no overflow */
		if ((b = OPENSSL_realloc(h->body, cap)) == NULL)
			return -1;
		h->body = b;
		h->cap = cap;
	}
	memcpy(h->body + h->len, p, n);
	h->len += n;
	return 0;
}

int http_reply_parse(struct http_reply *h, const unsigned char *raw, size_t n, time_t now,
		     char *err, size_t errlen)
{
	const char *p = (const char *)raw, *end = p + n;
	int first = 1;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (first && (ll < 5 || memcmp(p, "HTTP/", 5) != 0)) {
			snprintf(err, errlen, "not an HTTP reply (no status line)");
			return -1;
		}
		if (eol == NULL)
			break;
		if (ll == 0 && !first) {
			p = eol + 1;
			if (p < end && http_reply_body(h, p, (size_t)(end - p)) < 0) {
				snprintf(err, errlen, "oversized reply (more than %d bytes)",
					 CMP_MAX_MSG);
				return -1;
			}
			return 0;
		}
		http_reply_header(h, p, ll, now);
		first = 0;
		p = eol + 1;
	}
	snprintf(err, errlen, "the reply ends inside its headers");
	return -1;
}

static int month_of(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int i = 0; i < 12; i++)
		if (strlen(m) == 3 && strncmp(m, names + 3 * i, 3) == 0)
			return i;
	return -1;
}

/* An HTTP-date (RFC 9110 5.6.7) as seconds since the epoch, or -1. */
static long long http_date(const char *v)
{
	char wd[16], mon[4];
	int d, y, H, M, S, used = -1;
	struct tm tm = {0};
	time_t t;

	if (sscanf(v, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &H, &M, &S, &used) !=
		    7 ||
	    used < 0) {
		/* not an IMF-fixdate (Sun, 06 Nov 1994 08:49:37 GMT): RFC 850? */
		used = -1;
		if (sscanf(v, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &H, &M,
			   &S, &used) == 7 &&
		    used >= 0) {
			y += y < 70 ? 2000 : 1900; /* Sunday, 06-Nov-94 08:49:37 GMT */
		} else {
			/* asctime: Sun Nov  6 08:49:37 1994 */
			used = -1;
			if (sscanf(v, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &H, &M, &S, &y,
				   &used) != 7 ||
			    used < 0)
				return -1;
		}
	}
	while (is_ows(v[used]))
		used++;
	if (v[used] != '\0' || (tm.tm_mon = month_of(mon)) < 0 || d < 1 || d > 31 || y < 1970 ||
	    y > 9999 || H > 23 || M > 59 || S > 60 || H < 0 || M < 0 || S < 0)
		return -1;
	tm.tm_mday = d;
	tm.tm_year = y - 1900;
	tm.tm_hour = H;
	tm.tm_min = M;
	tm.tm_sec = S;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	return (long long)t;
}

int http_retry_after_parse(const char *v, time_t now)
{
	long long when;
	size_t i = 0;
	long secs = 0;

	while (is_ows(v[i]))
		i++;
	if (v[i] >= '0' && v[i] <= '9') {
		/* delta-seconds: 1*DIGIT, however many */
		for (; v[i] >= '0' && v[i] <= '9'; i++)
			if (secs <= RETRY_AFTER_MAX)
				secs = secs * 10 + (v[i] - '0');
		while (is_ows(v[i]))
			i++;
		if (v[i] != '\0')
			return -1;
		return secs > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (int)secs;
	}
	if ((when = http_date(v + i)) < 0)
		return -1;
	when -= (long long)now;
	return when < 0 ? 0 : when > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (int)when;
}

int http_reply_verdict(struct http_reply *h, const char *where, unsigned char **rsp, size_t *rsplen,
		       char *err, size_t errlen)
{
	int pkix = strcmp(h->ctype, "application/pkixcmp") == 0;
	int der = h->len > 0 && h->body[0] == 0x30; /* a DER SEQUENCE, as a PKIMessage is */
	char ct[128];

	*rsp = NULL;
	*rsplen = 0;
	if (h->oversized) {
		snprintf(err, errlen, "HTTP %s: oversized reply (more than %d bytes)", where,
			 CMP_MAX_MSG);
		return TRANSPORT_BADREPLY;
	}
	snprintf(ct, sizeof(ct), "%s%s", h->ctype_shown[0] ? "Content-Type " : "no Content-Type",
		 h->ctype_shown);

	/* Phase: a PKIMessage goes up whatever the status and the header say;
	 * the CMP layer verifies its protection (signed errors come with 4xx/5xx) */
	if (h->len > 0 && (der || pkix)) {
		*rsp = h->body;
		*rsplen = h->len;
		h->body = NULL;
		h->len = h->cap = 0;
		return TRANSPORT_OK;
	}

	/* Phase: no PKIMessage; the status says why */
	if (h->status >= 200 && h->status <= 299) {
		snprintf(err, errlen, "HTTP %s: status %d with %s: %s", where, h->status, ct,
			 h->len == 0 ? "empty reply" : "the reply is not a PKIMessage");
		return TRANSPORT_BADREPLY;
	}
	if (h->status == 429 || h->status == 503) {
		char ra[48] = "no Retry-After";

		if (h->retry_after >= 0)
			snprintf(ra, sizeof(ra), "Retry-After: %d s", h->retry_after);
		snprintf(err, errlen, "HTTP %s: status %d: rate limited by the CA (%s)", where,
			 h->status, ra);
		return TRANSPORT_RATELIMIT;
	}
	if (h->status >= 500 && h->status <= 599) {
		snprintf(err, errlen, "HTTP %s: status %d with %s", where, h->status, ct);
		return TRANSPORT_TRANSIENT;
	}
	if (h->status >= 400 && h->status <= 499) {
		snprintf(err, errlen, "HTTP %s: status %d with %s (check the CA URL)", where,
			 h->status, ct);
		return TRANSPORT_FATAL;
	}
	snprintf(err, errlen, "HTTP %s: unexpected status %d with %s (check the CA URL)", where,
		 h->status, ct);
	return TRANSPORT_FATAL;
}

int transport_http_reply(const unsigned char *reply, size_t n, unsigned char **rsp, size_t *rsplen,
			 char *err, size_t errlen)
{
	struct http_reply h;
	char why[128];
	int rc;

	*rsp = NULL;
	*rsplen = 0;
	http_reply_init(&h);
	if (http_reply_parse(&h, reply, n, time(NULL), why, sizeof(why)) < 0) {
		snprintf(err, errlen, "HTTP ca.test:80: %s", why);
		rc = TRANSPORT_BADREPLY;
	} else {
		rc = http_reply_verdict(&h, "ca.test:80", rsp, rsplen, err, errlen);
	}
	http_reply_free(&h);
	return rc;
}
