/*
 * HTTP(S) with libcurl (what a reply means is http_reply.c's); the TCP
 * framings are ours.
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
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cmp/cmp.h"
#include "cmp/http_reply.h"
#include "cmp/transport.h"

#define TCP_MAX_FRAME (CMP_MAX_MSG + 3)

struct transport {
	enum { T_HTTP, T_TCP } kind;
	char *host, *port, *path;
	int use_tls; /* https:// */
	CURL *curl;  /* http(s): one handle, its connections reused */
	struct curl_slist *headers;
	char *proxy; /* the proxy in use as messages show it, no credentials; NULL none */
	int framing; /* settled framing for cmp:// */
	int connect_timeout, read_timeout;
	int retry_after; /* of the last exchange, -1 none */
	int delivered;	 /* the last request may have reached the server */
};

static int left_ms(long long deadline)
{
	long long l = deadline - base_now_ms();

	return l < 0 ? 0 : l > 0x7fffffff ? 0x7fffffff : (int)l;
}

int transport_delivered(const struct transport *t)
{
	return t->delivered;
}

int transport_retry_after(const struct transport *t)
{
	return t->retry_after;
}

int transport_framing(const struct transport *t)
{
	return t->framing;
}

void transport_free(struct transport *t)
{
	if (t == NULL)
		return;
	if (t->curl != NULL)
		curl_easy_cleanup(t->curl);
	curl_slist_free_all(t->headers);
	OPENSSL_free(t->host);
	OPENSSL_free(t->port);
	OPENSSL_free(t->path);
	free(t->proxy);
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

/* ---- HTTP(S) ---- */

/*
 * curl_global_init is not thread-safe: the first transport of a process
 * calls it (pkiroll's processes are single-threaded; workers are forked).
 */
static int curl_ready(void)
{
	static int done;

	if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
		done = 1;
	return done;
}

/* A proxy URL as messages show it: scheme://host[:port], no credentials. */
static char *proxy_shown(const char *proxy)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, buf[512];

	snprintf(buf, sizeof(buf), "(a proxy URL that does not parse)");
	if (u != NULL &&
	    curl_url_set(u, CURLUPART_URL, proxy, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ==
		    CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_PORT, &port, 0);
		snprintf(buf, sizeof(buf), "%s://%s%s%s", scheme, host, port ? ":" : "",
			 port ? port : "");
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return strdup(buf);
}

/* host (brackets off) is in a no_proxy list as curl reads one: names or
 * suffixes separated by commas or spaces, "*" for every host. */
static int no_proxy_has(const char *list, const char *host)
{
	size_t hl = strlen(host);

	if (host[0] == '[') {
		host++;
		hl = hl >= 2 ? hl - 2 : 0;
	}
	while (*list != '\0') {
		size_t el;

		list += strspn(list, ", \t");
		el = strcspn(list, ", \t");
		if (el == 1 && list[0] == '*')
			return 1;
		if (el > 0) {
			const char *e = list[0] == '.' ? list + 1 : list;
			size_t l = list[0] == '.' ? el - 1 : el;

			if (l > 0 && l <= hl && strncasecmp(host + hl - l, e, l) == 0 &&
			    (l == hl || host[hl - l - 1] == '.'))
				return 1;
		}
		list += el;
	}
	return 0;
}

/* The proxy libcurl will use for this URL, for messages only (NULL: none):
 * the configured one, else the environment's, unless no_proxy says not. */
static char *proxy_in_use(const struct transport_cfg *cfg, const char *host, int https)
{
	static const char *const env_http[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};
	static const char *const env_https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy",
						"ALL_PROXY", NULL};
	const char *p = cfg->proxy, *np = cfg->no_proxy;

	for (const char *const *e = https ? env_https : env_http; p == NULL && *e != NULL; e++)
		if ((p = getenv(*e)) != NULL && *p == '\0')
			p = NULL;
	if (np == NULL && (np = getenv("no_proxy")) == NULL)
		np = getenv("NO_PROXY");
	if (p == NULL || *p == '\0' || (np != NULL && no_proxy_has(np, host)))
		return NULL;
	return proxy_shown(p);
}

/* Matched by http_reply_header(): libcurl hands each header line over. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	http_reply_header(arg, p, size * n, time(NULL));
	return size * n;
}

/* The body, bounded: past CMP_MAX_MSG the transfer stops. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	return http_reply_body(arg, p, size * n) < 0 ? 0 : size * n;
}

/* PEM_read's passphrase callback: none, and no prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* A PEM file the TLS client needs: readable, and what it should hold. */
static int pem_check(const char *key, const char *path, int is_key, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	void *obj;

	if (f == NULL) {
		snprintf(err, errlen, "%s %s: cannot read: %s", key, path, strerror(errno));
		return -1;
	}
	/* a key must be unencrypted: nobody is there to type a passphrase */
	obj = is_key ? (void *)PEM_read_PrivateKey(f, NULL, no_passphrase, NULL)
		     : (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (obj == NULL) {
		snprintf(err, errlen, "%s %s: %s", key, path,
			 is_key ? "no unencrypted PEM private key" : "no PEM certificate");
		return -1;
	}
	if (is_key)
		EVP_PKEY_free(obj);
	else
		X509_free(obj);
	return 0;
}

/* Host, port and path of an http(s):// URL, and what it takes to reach it. */
static int http_new(struct transport *t, const struct transport_cfg *cfg, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *path = NULL;
	int https = strncmp(cfg->url, "https://", 8) == 0, rc = -1;
	CURL *c;

	/* Phase: the URL */
	if (u == NULL || curl_url_set(u, CURLUPART_URL, cfg->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		snprintf(err, errlen, "%s: not a valid URL", cfg->url);
		goto out;
	}
	t->host = OPENSSL_strdup(host);
	t->port = OPENSSL_strdup(port);
	t->path = OPENSSL_strdup(path);
	t->proxy = proxy_in_use(cfg, host, https);
	if (t->host == NULL || t->port == NULL || t->path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}

	/* Phase: the files TLS needs, checked now rather than at the first exchange */
	if (cfg->tls_ca_file != NULL) {
		X509_STORE *st = X509_STORE_new();
		int ok = st != NULL && X509_STORE_load_file(st, cfg->tls_ca_file);

		X509_STORE_free(st);
		ERR_clear_error();
		if (!ok) {
			snprintf(err, errlen, "%s: cannot load TLS CA file", cfg->tls_ca_file);
			goto out;
		}
	}
	if (cfg->tls_key != NULL && cfg->tls_cert == NULL) {
		snprintf(err, errlen, "tls_key %s without tls_cert", cfg->tls_key);
		goto out;
	}
	if (cfg->tls_cert != NULL &&
	    (pem_check("tls_cert", cfg->tls_cert, 0, err, errlen) < 0 ||
	     pem_check(cfg->tls_key ? "tls_key" : "tls_cert",
		       cfg->tls_key ? cfg->tls_key : cfg->tls_cert, 1, err, errlen) < 0))
		goto out;

	/* Phase: the handle, set up once for every exchange */
	if (!curl_ready() || (t->curl = c = curl_easy_init()) == NULL ||
	    (t->headers = curl_slist_append(NULL, "Content-Type: application/pkixcmp")) == NULL ||
	    curl_slist_append(t->headers, "Expect:") == NULL ||
	    curl_slist_append(t->headers, "Connection: close") == NULL) {
		snprintf(err, errlen, "cannot set up libcurl");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, cfg->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "pkiroll/" PKIROLL_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	/* a connection per message: libcurl sends a request again by itself when
	 * a reused connection dies before the answer, and a CMP message must go
	 * out once per exchange (a certConf resent unasked is answered as a
	 * duplicate, which would read as the CA's refusal of the first) */
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)t->connect_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)t->read_timeout);
	/* RFC 6125 via libcurl: a name against DNS SANs, an IP literal against IP SANs */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cfg->tls_ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->tls_ca_file);
	if (cfg->tls_cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->tls_cert);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->tls_key ? cfg->tls_key : cfg->tls_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
	/* unset, libcurl reads http_proxy, https_proxy, all_proxy and no_proxy itself */
	if (cfg->proxy != NULL)
		curl_easy_setopt(c, CURLOPT_PROXY, cfg->proxy);
	if (cfg->no_proxy != NULL)
		curl_easy_setopt(c, CURLOPT_NOPROXY, cfg->no_proxy);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	rc = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

/* A transfer that did not end in a complete reply: what went wrong, said
 * as the operator needs it. Returns a transport_result. */
static int curl_failure(struct transport *t, CURLcode cc, const char *detail, char *err,
			size_t errlen)
{
	char where[300];
	long oserr = 0;
	curl_off_t connected = 0;

	snprintf(where, sizeof(where), "%s %s:%s", t->use_tls ? "HTTPS" : "HTTP", t->host, t->port);
	if (detail[0] == '\0')
		detail = curl_easy_strerror(cc);
	curl_easy_getinfo(t->curl, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(t->curl, CURLINFO_CONNECT_TIME_T, &connected);
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(err, errlen, "%s: cannot resolve host %s (DNS failure: unknown host?)",
			 where, t->host);
		return TRANSPORT_TRANSIENT;
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(err, errlen, "%s: cannot resolve the proxy %s (DNS failure)", where,
			 t->proxy ? t->proxy : "");
		return TRANSPORT_TRANSIENT;
	case CURLE_COULDNT_CONNECT:
		snprintf(err, errlen, "%s: cannot connect%s%s: %s", where,
			 t->proxy ? " to the proxy " : "", t->proxy ? t->proxy : "",
			 oserr == ECONNREFUSED ? "connection refused"
			 : oserr	       ? strerror((int)oserr)
					       : detail);
		return TRANSPORT_TRANSIENT;
	case CURLE_OPERATION_TIMEDOUT:
		if (strstr(detail, "Resolving timed out") != NULL)
			snprintf(err, errlen, "%s: name resolution timed out (DNS)", where);
		else if (connected == 0 && strstr(detail, "Operation timed out") == NULL)
			snprintf(err, errlen, "%s: connect timeout: no connection within %d s%s%s",
				 where, t->connect_timeout, t->proxy ? " to the proxy " : "",
				 t->proxy ? t->proxy : "");
		else
			snprintf(err, errlen, "%s: read timeout: no complete reply within %d s",
				 where, t->read_timeout);
		return TRANSPORT_TRANSIENT;
	case CURLE_PEER_FAILED_VERIFICATION:
		snprintf(err, errlen,
			 "%s: the server's certificate is not trusted or not for this host "
			 "(check tls_ca_file): %s",
			 where, detail);
		return TRANSPORT_FATAL;
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		snprintf(err, errlen, "%s: TLS files (tls_ca_file, tls_cert, tls_key): %s", where,
			 detail);
		return TRANSPORT_FATAL;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (strstr(detail, "CONNECT tunnel failed") != NULL) {
			snprintf(err, errlen, "%s: the proxy %s refused the tunnel: %s", where,
				 t->proxy ? t->proxy : "", detail);
			return TRANSPORT_FATAL;
		}
		if (strstr(detail, "alert") != NULL) {
			/* the server ended the handshake: it wants what we do not have */
			snprintf(err, errlen, "%s: TLS refused by the server%s: %s", where,
				 strstr(detail, "certificate") != NULL
					 ? " (a client certificate? check tls_cert, tls_key)"
					 : "",
				 detail);
			return TRANSPORT_FATAL;
		}
		snprintf(err, errlen, "%s: %s failed: %s", where,
			 cc == CURLE_SSL_CONNECT_ERROR ? "TLS handshake"
			 : cc == CURLE_SEND_ERROR      ? "sending"
						       : "receiving",
			 detail);
		return TRANSPORT_TRANSIENT;
	case CURLE_GOT_NOTHING:
		snprintf(err, errlen, "%s: the CA closed the connection without a reply", where);
		return TRANSPORT_TRANSIENT;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		snprintf(err, errlen, "%s: %s (check the CA URL)", where, detail);
		return TRANSPORT_FATAL;
	default:
		snprintf(err, errlen, "%s: %s", where, detail);
		return TRANSPORT_TRANSIENT;
	}
}

/* One POST and its reply over the transport's handle (its connection
 * reused when the server keeps it). Returns a transport_result. */
static int http_exchange(struct transport *t, const unsigned char *req, size_t len,
			 unsigned char **rsp, size_t *rsplen, char *err, size_t errlen)
{
	char detail[CURL_ERROR_SIZE] = "", where[300];
	struct http_reply h;
	CURLcode cc;
	long code = 0;
	int rc;

	http_reply_init(&h);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(t->curl, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &h);
	curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, detail);
	cc = curl_easy_perform(t->curl);
	curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, NULL);
	{
		/* bytes of the request written to a connection: it may have arrived */
		long sent = 0;

		t->delivered =
			curl_easy_getinfo(t->curl, CURLINFO_REQUEST_SIZE, &sent) != CURLE_OK ||
			sent > 0;
	}
	snprintf(where, sizeof(where), "%s:%s", t->host, t->port);
	if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && h.oversized)) {
		if (curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
			h.status = (int)code;
		rc = http_reply_verdict(&h, where, rsp, rsplen, err, errlen);
		t->retry_after = h.retry_after;
	} else {
		rc = curl_failure(t, cc, detail, err, errlen);
	}
	http_reply_free(&h);
	return rc;
}

struct transport *transport_new(const struct transport_cfg *cfg, char *err, size_t errlen)
{
	struct transport *t = calloc(1, sizeof(*t));
	const char *url = cfg->url;

	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->retry_after = -1;
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
	t->use_tls = strncmp(url, "https://", 8) == 0;
	if (http_new(t, cfg, err, errlen) < 0)
		goto fail;
	return t;
fail:
	transport_free(t);
	return NULL;
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
	long long deadline = base_now_ms() + (long long)t->read_timeout * 1000;
	int type = TCP_PKIREQ, fd, r, rv10, flags, rtype;
	unsigned char pollref[4], *payload = NULL;
	const unsigned char *body = req;
	size_t n, blen = len;

	*fallback = 0;
	for (int polls = 0; polls < 100; polls++) {
		if ((fd = tcp_connect(t, base_now_ms() + (long long)t->connect_timeout * 1000, err,
				      errlen)) < 0)
			return TRANSPORT_TRANSIENT;
		t->delivered = 1; /* connected: what follows may reach the CA */
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
			if (wait < 0 || base_now_ms() + wait * 1000 > deadline) {
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
	t->retry_after = -1;
	t->delivered = 0;
	if (t->kind == T_HTTP)
		return http_exchange(t, req, len, rsp, rsplen, err, errlen);
	return tcp_exchange(t, req, len, rsp, rsplen, err, errlen);
}
