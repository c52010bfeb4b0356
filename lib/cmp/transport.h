/*
 * Carrying one CMP request to the CA and its reply back: HTTP(S) (RFC 6712 /
 * RFC 9811) and Entrust's TCP transport in its two framings, behind one
 * exchange call.
 */
#ifndef PKIROLL_TRANSPORT_H
#define PKIROLL_TRANSPORT_H

#include <stddef.h>

enum transport_framing {
	FRAMING_AUTO = 0, /* version 10, fall back to version 0 on errorMsgRep */
	FRAMING_V10,	  /* draft-ietf-pkix-cmp-transport-protocols */
	FRAMING_V0,	  /* RFC 2510 5.2 */
};

struct transport_cfg {
	const char *url;	 /* http://, https://, cmp://host[:829] */
	const char *tls_ca_file; /* https: trust anchors for the server */
	const char *tls_cert;	 /* https: client certificate (PEM), NULL none */
	const char *tls_key;	 /* https: its key (PEM), NULL none */
	const char *proxy;	 /* http(s): proxy URL, NULL the environment's */
	const char *no_proxy;	 /* hosts not to proxy, NULL the environment's */
	int framing;		 /* enum transport_framing, cmp:// only */
	int connect_timeout;	 /* seconds, 0: 10 */
	int read_timeout;	 /* seconds, 0: 60 */
};

enum transport_result {
	TRANSPORT_OK = 0,
	TRANSPORT_TRANSIENT = -1, /* refused, timeout, 5xx, dropped: may be retried */
	TRANSPORT_FATAL = -2,	  /* configuration (bad URL, 4xx, TLS trust) */
	TRANSPORT_BADREPLY = -3,  /* an answer that is not a PKIMessage at all */
	TRANSPORT_RATELIMIT = -4, /* HTTP 429 or 503 without a PKIMessage: slow down */
};

struct transport;

/* Parses the URL. NULL with err set on a bad URL. */
struct transport *transport_new(const struct transport_cfg *cfg, char *err, size_t errlen);

/*
 * Sends req and receives one reply (at most 1 MiB) into *rsp
 * (OPENSSL_malloc'd, the caller's). Returns an enum transport_result.
 */
int transport_exchange(struct transport *t, const unsigned char *req, size_t len,
		       unsigned char **rsp, size_t *rsplen, char *err, size_t errlen);

/*
 * The HTTP client's handling of a reply, over the bytes of one (status
 * line, headers, body) instead of a connection: for the fuzz target and
 * tests. Returns and fills as transport_exchange().
 */
int transport_http_reply(const unsigned char *reply, size_t n, unsigned char **rsp, size_t *rsplen,
			 char *err, size_t errlen);

/*
 * The seconds the last exchange's Retry-After asked to wait (delta-seconds
 * or an HTTP-date, bounded to a day), or -1 when it had none.
 */
int transport_retry_after(const struct transport *t);

/*
 * Whether the last exchange's request may have reached the server (it was
 * written, in part or whole, to a connection), however it ended: 0 for a
 * refused connection, an unknown host, a connect timeout.
 */
int transport_delivered(const struct transport *t);

/* The framing the TCP transport settled on (FRAMING_AUTO before any). */
int transport_framing(const struct transport *t);

void transport_free(struct transport *t);

/* ---- TCP framing, shared with pkiroll-ca ---- */

enum tcp_msg_type {
	TCP_PKIREQ = 0, /* v10 pkiReq, v0 pkiMsg */
	TCP_POLLREP = 1,
	TCP_POLLREQ = 2,
	TCP_FINREP = 3,	  /* v10 finRep, v0 negPollRep */
	TCP_PARTIAL = 4,  /* v0 partialMsgRep */
	TCP_PKIREP = 5,	  /* v10 pkiRep, v0 finalMsgRep */
	TCP_ERRORREP = 6, /* errorMsgRep */
};

#define TCP_V10 10

/*
 * Writes one frame on fd within the deadline (CLOCK_MONOTONIC ms): version
 * 10 when v10 is set, else version 0. Returns 1, 0 if the peer went away,
 * -1 on error or timeout.
 */
int tcp_frame_write(int fd, int v10, int flags, int type, const unsigned char *p, size_t n,
		    long long deadline_ms);

/*
 * Reads one frame: *v10 tells the framing the peer used. *payload is
 * OPENSSL_malloc'd. Returns 1, 0 on a clean close before any byte, -1 on
 * error, timeout or a frame over the bound (err says which).
 */
int tcp_frame_read(int fd, int *v10, int *flags, int *type, unsigned char **payload, size_t *n,
		   long long deadline_ms, char *err, size_t errlen);

#endif
