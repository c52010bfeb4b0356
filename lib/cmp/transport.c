/*
 * HTTP via OpenSSL's client; the TCP framings are ours.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/httperr.h>
#include <openssl/ssl.h>

#include "cmp/cmp.h"
#include "cmp/transport.h"

#define TCP_MAX_FRAME (CMP_MAX_MSG + 3)

struct transport {
	enum { T_HTTP, T_TCP } kind;
	int use_ssl;
	char *host, *port, *path;
	char *tls_ca_file;
	SSL_CTX *ssl_ctx;
	int framing; /* settled framing for cmp:// */
	int connect_timeout, read_timeout;
};

static int left_ms(long long deadline)
{
	long long l = deadline - now_ms();

	return l < 0 ? 0 : l > 0x7fffffff ? 0x7fffffff : (int)l;
}

int transport_retry_after(const struct transport *t)
{
	(void)t;
	return -1;
}

int transport_framing(const struct transport *t)
{
	return t->framing;
}

void transport_free(struct transport *t)
{
	if (t == NULL)
		return;
	OPENSSL_free(t->host);
	OPENSSL_free(t->port);
	OPENSSL_free(t->path);
	free(t->tls_ca_file);
	SSL_CTX_free(t->ssl_ctx);
	free(t);
}

static int parse_cmp_url(struct transport *t, const char *url, char *err, size_t errlen)
{
	const char *h = url + strlen("cmp://"), *colon, *end;
	size_t hl;

	end = h + strcspn(h, "/");
	if (*h == '[') {
		const char *rb = strchr(h, ']');

		if (rb == NULL || rb > end) {
			snprintf(err, errlen, "%s: bad IPv6 address", url);
			return -1;
		}
		hl = (size_t)(rb - h - 1);
		t->host = OPENSSL_strndup(h + 1, hl);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hl = (size_t)((colon ? colon : end) - h);
		t->host = OPENSSL_strndup(h, hl);
	}
	t->port = colon ? OPENSSL_strndup(colon + 1, (size_t)(end - colon - 1))
			: OPENSSL_strdup("829");
	if (t->host == NULL || t->port == NULL || hl == 0 || t->port[0] == '\0' ||
	    strspn(t->port, "0123456789") != strlen(t->port) || atoi(t->port) > 65535) {
		snprintf(err, errlen, "%s: expected cmp://HOST[:PORT]", url);
		return -1;
	}
	return 0;
}

struct transport *transport_new(const struct transport_cfg *cfg, char *err, size_t errlen)
{
	struct transport *t = calloc(1, sizeof(*t));
	const char *url = cfg->url;

	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->framing = cfg->framing == FRAMING_V10 || cfg->framing == FRAMING_V0 ? cfg->framing
									       : FRAMING_AUTO;
	t->connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 10;
	t->read_timeout = cfg->read_timeout > 0 ? cfg->read_timeout : 60;
	if (url == NULL) {
		snprintf(err, errlen, "no CA URL");
		goto fail;
	}
	if (strncmp(url, "cmp://", 6) == 0) {
		t->kind = T_TCP;
		if (parse_cmp_url(t, url, err, errlen) < 0)
			goto fail;
		return t;
	}
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "%s: the CA URL must start with http://, https:// or cmp://",
			 url);
		goto fail;
	}
	t->kind = T_HTTP;
	if (!OSSL_HTTP_parse_url(url, &t->use_ssl, NULL, &t->host, &t->port, NULL, &t->path, NULL,
				 NULL)) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: not a valid URL", url);
		goto fail;
	}
	if (t->use_ssl) {
		if ((t->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			goto fail;
		SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
		if (cfg->tls_ca_file != NULL) {
			if (!SSL_CTX_load_verify_locations(t->ssl_ctx, cfg->tls_ca_file, NULL)) {
				ERR_clear_error();
				snprintf(err, errlen, "%s: cannot load TLS CA file",
					 cfg->tls_ca_file);
				goto fail;
			}
		} else if (!SSL_CTX_set_default_verify_paths(t->ssl_ctx)) {
			ERR_clear_error();
		}
	}
	return t;
fail:
	transport_free(t);
	return NULL;
}

/* TLS on top of the connected BIO (OSSL_HTTP_bio_cb_t). */
static BIO *tls_cb(BIO *bio, void *arg, int connect, int detail)
{
	struct transport *t = arg;

	if (connect && detail) {
		BIO *sbio = BIO_new(BIO_f_ssl());
		SSL *ssl = sbio ? SSL_new(t->ssl_ctx) : NULL;

		unsigned char ip[16];
		int is_ip = inet_pton(AF_INET, t->host, ip) == 1 ||
			    inet_pton(AF_INET6, t->host, ip) == 1;

		/* RFC 6125: a name is checked against DNS names, an address against IP SANs */
		if (ssl == NULL || (!is_ip && !SSL_set_tlsext_host_name(ssl, t->host)) ||
		    (is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host)
			   : !SSL_set1_host(ssl, t->host))) {
			SSL_free(ssl);
			BIO_free(sbio);
			return NULL;
		}
		SSL_set_connect_state(ssl);
		BIO_set_ssl(sbio, ssl, BIO_CLOSE);
		return BIO_push(sbio, bio);
	}
	if (!connect && t->use_ssl) {
		BIO *cbio;

		(void)ERR_set_mark();
		BIO_ssl_shutdown(bio);
		cbio = BIO_pop(bio);
		BIO_free(bio);
		(void)ERR_pop_to_mark();
		return cbio;
	}
	return bio;
}

/* One POST and its reply: over a connection of its own, or (bio, rbio
 * non-NULL) over the caller's BIOs. */
static int http_exchange(struct transport *t, BIO *bio, BIO *rbio, const unsigned char *req,
			 size_t len, unsigned char **rsp, size_t *rsplen, char *err, size_t errlen)
{
	BIO *rq = BIO_new_mem_buf(req, (int)len), *rs;
	unsigned long e;
	int rc = TRANSPORT_TRANSIENT;

	if (rq == NULL)
		return TRANSPORT_TRANSIENT;
	rs = OSSL_HTTP_transfer(NULL, t->host, t->port, t->path, t->use_ssl, NULL, NULL, bio, rbio,
				t->use_ssl ? tls_cb : NULL, t, 0, NULL, "application/pkixcmp", rq,
				"application/pkixcmp", 1, CMP_MAX_MSG, t->read_timeout, 0);
	BIO_free(rq);
	if (rs == NULL) {
		char first[256] = "transfer failed", status[160] = "";
		const char *edata;
		int eflags, bad_reply = 0;

		/* the queue holds the HTTP status (RECEIVED_ERROR) under later errors */
		while ((e = ERR_get_error_all(NULL, NULL, NULL, &edata, &eflags)) != 0) {
			if (ERR_GET_LIB(e) == ERR_LIB_HTTP &&
			    (ERR_GET_REASON(e) == HTTP_R_MISSING_ASN1_ENCODING ||
			     ERR_GET_REASON(e) == HTTP_R_ERROR_PARSING_ASN1_LENGTH ||
			     ERR_GET_REASON(e) == HTTP_R_UNEXPECTED_CONTENT_TYPE ||
			     ERR_GET_REASON(e) == HTTP_R_MISSING_CONTENT_TYPE ||
			     ERR_GET_REASON(e) == HTTP_R_ASN1_LEN_EXCEEDS_MAX_RESP_LEN))
				bad_reply = 1;
			if (ERR_GET_LIB(e) == ERR_LIB_HTTP &&
			    ERR_GET_REASON(e) == HTTP_R_RECEIVED_ERROR && edata != NULL &&
			    status[0] == '\0')
				snprintf(status, sizeof(status), "%s", edata);
			else if (strcmp(first, "transfer failed") == 0)
				snprintf(first, sizeof(first), "%s%s%s",
					 ERR_reason_error_string(e) ? ERR_reason_error_string(e)
								    : "error",
					 edata && *edata ? ": " : "", edata ? edata : "");
		}
		if (bad_reply) {
			snprintf(err, errlen, "HTTP %s:%s: the reply is not a PKIMessage (%s)",
				 t->host, t->port, first);
			return TRANSPORT_BADREPLY;
		}
		if (strstr(first, "certificate verify failed") != NULL) {
			snprintf(err, errlen,
				 "HTTPS %s:%s: the server's certificate is not trusted "
				 "(check tls_ca_file): %s",
				 t->host, t->port, first);
			return TRANSPORT_FATAL;
		}
		if (strstr(status, "code=4") != NULL) {
			snprintf(err, errlen, "HTTP %s://%s:%s%s: %s (check the CA URL)",
				 t->use_ssl ? "https" : "http", t->host, t->port, t->path, status);
			return TRANSPORT_FATAL;
		}
		snprintf(err, errlen, "HTTP %s:%s: %s", t->host, t->port,
			 status[0] ? status : first);
		return rc;
	}
	/* Phase: the body (a memory BIO: OpenSSL read it, bounded); our decoder judges it. */
	{
		char *data = NULL;
		long n = BIO_get_mem_data(rs, &data);

		if (n <= 0 || n > CMP_MAX_MSG || (*rsp = OPENSSL_malloc((size_t)n)) == NULL) {
			BIO_free_all(rs);
			snprintf(err, errlen, "HTTP %s:%s: %s reply", t->host, t->port,
				 n <= 0 ? "empty" : "oversized");
			return TRANSPORT_TRANSIENT;
		}
		memcpy(*rsp, data, (size_t)n);
		*rsplen = (size_t)n;
		BIO_free_all(rs);
		ERR_clear_error();
		return TRANSPORT_OK;
	}
}

/* Connects within the timeout. Returns the fd or -1 (err set). */
static int tcp_connect(struct transport *t, long long deadline, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	int fd = -1, r;

	if ((r = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cmp://%s:%s: %s", t->host, t->port, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, left_ms(deadline)) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			errno = soerr ? soerr : ETIMEDOUT;
		}
		snprintf(err, errlen, "cmp://%s:%s: connect: %s", t->host, t->port,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int io_wait(int fd, short ev, long long deadline)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int r;

	do {
		r = poll(&pfd, 1, left_ms(deadline));
	} while (r < 0 && errno == EINTR);
	return r;
}

int tcp_frame_write(int fd, int v10, int flags, int type, const unsigned char *p, size_t n,
		    long long deadline_ms)
{
	unsigned char hdr[7];
	size_t hl = v10 ? 7 : 5, len = n + (v10 ? 3 : 1), off = 0;

	if (n > CMP_MAX_MSG)
		return -1;
	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
	if (v10) {
		hdr[4] = TCP_V10;
		hdr[5] = (unsigned char)flags;
		hdr[6] = (unsigned char)type;
	} else {
		hdr[4] = (unsigned char)type;
	}
	while (off < hl + n) {
		const unsigned char *src = off < hl ? hdr + off : p + (off - hl);
		size_t cnt = off < hl ? hl - off : n - (off - hl);
		ssize_t w;

		if (io_wait(fd, POLLOUT, deadline_ms) <= 0)
			return -1;
		w = send(fd, src, cnt, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno == EPIPE || errno == ECONNRESET ? 0 : -1;
		}
		off += (size_t)w;
	}
	return 1;
}

/* Reads exactly n bytes. Returns 1, 0 on EOF at the first byte, -1. */
static int read_full(int fd, unsigned char *buf, size_t n, long long deadline, int *eof)
{
	size_t off = 0;

	*eof = 0;
	while (off < n) {
		ssize_t r;

		if (io_wait(fd, POLLIN, deadline) <= 0)
			return -1;
		r = recv(fd, buf + off, n - off, 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			*eof = errno == ECONNRESET;
			return -1;
		}
		if (r == 0) {
			*eof = 1;
			return off == 0 ? 0 : -1;
		}
		off += (size_t)r;
	}
	return 1;
}

int tcp_frame_read(int fd, int *v10, int *flags, int *type, unsigned char **payload, size_t *n,
		   long long deadline_ms, char *err, size_t errlen)
{
	unsigned char hdr[7];
	unsigned long len;
	size_t hl;
	int r, eof;

	*payload = NULL;
	*n = 0;
	r = read_full(fd, hdr, 5, deadline_ms, &eof);
	if (r <= 0) {
		snprintf(err, errlen, "%s",
			 r == 0 || eof ? "the CA closed the connection without a reply"
				       : "timeout or error reading the reply");
		return r == 0 ? 0 : -1;
	}
	len = (unsigned long)hdr[0] << 24 | (unsigned long)hdr[1] << 16 |
	      (unsigned long)hdr[2] << 8 | hdr[3];
	*v10 = hdr[4] == TCP_V10;
	if (*v10) {
		if (read_full(fd, hdr + 5, 2, deadline_ms, &eof) <= 0) {
			snprintf(err, errlen, "truncated frame header");
			return -1;
		}
		*flags = hdr[5];
		*type = hdr[6];
		hl = 3;
	} else {
		*flags = 0;
		*type = hdr[4];
		hl = 1;
	}
	if (len < hl || len > TCP_MAX_FRAME) {
		snprintf(err, errlen, "frame length %lu out of bounds (at most %d)", len,
			 TCP_MAX_FRAME);
		return -1;
	}
	*n = len - hl;
	if ((*payload = OPENSSL_malloc(*n ? *n : 1)) == NULL)
		return -1;
	if (*n > 0 && read_full(fd, *payload, *n, deadline_ms, &eof) <= 0) {
		snprintf(err, errlen, "frame truncated: %s",
			 eof ? "the CA closed the connection" : "timeout");
		OPENSSL_free(*payload);
		*payload = NULL;
		return -1;
	}
	return 1;
}

static long be32(const unsigned char *p)
{
	return (long)((unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
		      (unsigned long)p[2] << 8 | p[3]);
}

/*
 * One request/reply on a fresh connection, with transport-level polling
 * (pollRep -> wait -> pollReq). Returns a transport_result; *fallback is
 * set when the peer answered a version 10 frame with a version 0 error.
 */
static int tcp_once(struct transport *t, int v10, const unsigned char *req, size_t len,
		    unsigned char **rsp, size_t *rsplen, int *fallback, char *err, size_t errlen)
{
	long long deadline = now_ms() + (long long)t->read_timeout * 1000;
	int type = TCP_PKIREQ, fd, r, rv10, flags, rtype;
	unsigned char pollref[4], *payload = NULL;
	const unsigned char *body = req;
	size_t n, blen = len;

	*fallback = 0;
	for (int polls = 0; polls < 100; polls++) {
		if ((fd = tcp_connect(t, now_ms() + (long long)t->connect_timeout * 1000, err,
				      errlen)) < 0)
			return TRANSPORT_TRANSIENT;
		r = tcp_frame_write(fd, v10, 1, type, body, blen, deadline);
		if (r <= 0) {
			snprintf(err, errlen, "cmp://%s:%s: sending failed: %s", t->host, t->port,
				 r == 0 ? "the CA closed the connection" : "timeout");
			close(fd);
			return TRANSPORT_TRANSIENT;
		}
		r = tcp_frame_read(fd, &rv10, &flags, &rtype, &payload, &n, deadline, err, errlen);
		close(fd);
		if (r <= 0)
			return TRANSPORT_TRANSIENT;
		if (rtype == TCP_PKIREP) {
			*rsp = payload;
			*rsplen = n;
			return TRANSPORT_OK;
		}
		if (rtype == TCP_ERRORREP) {
			*fallback = v10 && !rv10;
			snprintf(err, errlen, "cmp://%s:%s: errorMsgRep from the CA (%s framing)",
				 t->host, t->port, rv10 ? "version 10" : "version 0");
			OPENSSL_free(payload);
			return TRANSPORT_TRANSIENT;
		}
		if (rtype == TCP_POLLREP && n >= 8) {
			/* pollRep: polling reference, seconds to wait */
			long wait = be32(payload + 4);

			memcpy(pollref, payload, 4);
			OPENSSL_free(payload);
			payload = NULL;
			if (wait < 0 || now_ms() + wait * 1000 > deadline) {
				snprintf(err, errlen,
					 "cmp://%s:%s: transport polling past the deadline",
					 t->host, t->port);
				return TRANSPORT_TRANSIENT;
			}
			if (wait > 0)
				nanosleep(&(struct timespec){.tv_sec = wait}, NULL);
			type = TCP_POLLREQ;
			body = pollref;
			blen = 4;
			continue;
		}
		snprintf(err, errlen, "cmp://%s:%s: unexpected TCP message type %d", t->host,
			 t->port, rtype);
		OPENSSL_free(payload);
		return TRANSPORT_TRANSIENT;
	}
	snprintf(err, errlen, "cmp://%s:%s: too many transport polls", t->host, t->port);
	return TRANSPORT_TRANSIENT;
}

static int tcp_exchange(struct transport *t, const unsigned char *req, size_t len,
			unsigned char **rsp, size_t *rsplen, char *err, size_t errlen)
{
	int fallback, r;

	r = tcp_once(t, t->framing != FRAMING_V0, req, len, rsp, rsplen, &fallback, err, errlen);
	if (r == TRANSPORT_OK) {
		if (t->framing == FRAMING_AUTO)
			t->framing = FRAMING_V10;
		return r;
	}
	if (fallback && t->framing == FRAMING_AUTO) {
		r = tcp_once(t, 0, req, len, rsp, rsplen, &fallback, err, errlen);
		if (r == TRANSPORT_OK)
			t->framing = FRAMING_V0;
	}
	return r;
}

int transport_exchange(struct transport *t, const unsigned char *req, size_t len,
		       unsigned char **rsp, size_t *rsplen, char *err, size_t errlen)
{
	*rsp = NULL;
	*rsplen = 0;
	err[0] = '\0';
	if (t->kind == T_HTTP)
		return http_exchange(t, NULL, NULL, req, len, rsp, rsplen, err, errlen);
	return tcp_exchange(t, req, len, rsp, rsplen, err, errlen);
}

int transport_http_reply(const unsigned char *reply, size_t n, unsigned char **rsp, size_t *rsplen,
			 char *err, size_t errlen)
{
	struct transport t = {.kind = T_HTTP,
			      .host = "ca.test",
			      .port = "80",
			      .path = "/pkix/",
			      .read_timeout = 5};
	static const unsigned char req[] = {0x30, 0x00};
	BIO *sink = BIO_new(BIO_s_mem()), *src = BIO_new_mem_buf(reply, (int)n);
	int rc = TRANSPORT_FATAL;

	*rsp = NULL;
	*rsplen = 0;
	if (sink != NULL && src != NULL && n <= INT_MAX)
		rc = http_exchange(&t, sink, src, req, sizeof(req), rsp, rsplen, err, errlen);
	BIO_free(sink);
	BIO_free(src);
	ERR_clear_error();
	return rc;
}
