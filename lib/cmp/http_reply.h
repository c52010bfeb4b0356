/*
 * What pkiroll makes of a CMP server's HTTP reply (RFC 6712 / RFC 9811):
 * its header lines as they arrive, its body (bounded), and the verdict.
 * The curl client in transport.c and transport_http_reply() share it.
 */
#ifndef PKIROLL_HTTP_REPLY_H
#define PKIROLL_HTTP_REPLY_H

#include <stddef.h>
#include <time.h>

#define RETRY_AFTER_MAX 86400 /* a Retry-After is bounded to a day */

struct http_reply {
	int status;	      /* of the last status line, 0 before one */
	char ctype[64];	      /* Content-Type's media type, lower case; "" none */
	char ctype_shown[96]; /* its whole value, printable, for messages */
	int retry_after;      /* seconds, -1 none */
	unsigned char *body;  /* OPENSSL_malloc'd, at most CMP_MAX_MSG bytes */
	size_t len, cap;
	int oversized; /* the body went past CMP_MAX_MSG */
};

/* An empty reply: no status, no Content-Type, no Retry-After, no body. */
void http_reply_init(struct http_reply *h);

/*
 * Takes one header line (with or without its CRLF) as received: a status
 * line starts a new response (after 100 Continue or a proxy's CONNECT
 * answer) and forgets the headers before it; Content-Type and Retry-After
 * are kept, the rest ignored. now is the time a Retry-After date counts from.
 */
void http_reply_header(struct http_reply *h, const char *line, size_t n, time_t now);

/* Appends n body bytes. 0, or -1 past CMP_MAX_MSG (oversized set) or ENOMEM. */
int http_reply_body(struct http_reply *h, const void *p, size_t n);

/*
 * Reads the raw bytes of one reply (status line, header lines, empty line,
 * body to the end) into h, as if they had come over a connection; no
 * transfer encoding is undone. 0, or -1 if it does not start with an HTTP
 * status line or has no end of headers (err set).
 */
int http_reply_parse(struct http_reply *h, const unsigned char *raw, size_t n, time_t now,
		     char *err, size_t errlen);

/*
 * A Retry-After value (RFC 9110 10.2.3): delta-seconds or an HTTP-date
 * (IMF-fixdate, RFC 850 or asctime form) counted from now. Seconds bounded
 * to 0..RETRY_AFTER_MAX, or -1 when it is neither.
 */
int http_retry_after_parse(const char *v, time_t now);

/*
 * The verdict on a complete reply from where ("host:port", for messages):
 * a body that is or looks like a PKIMessage goes up in *rsp (the body moves
 * there, the caller's to OPENSSL_free) with TRANSPORT_OK whatever the
 * status; otherwise 429/503 TRANSPORT_RATELIMIT, other 5xx TRANSPORT_TRANSIENT,
 * 4xx TRANSPORT_FATAL, a 2xx without a PKIMessage TRANSPORT_BADREPLY, each
 * with err naming the status and Content-Type.
 */
int http_reply_verdict(struct http_reply *h, const char *where, unsigned char **rsp, size_t *rsplen,
		       char *err, size_t errlen);

/* Frees the body still held. */
void http_reply_free(struct http_reply *h);

#endif
