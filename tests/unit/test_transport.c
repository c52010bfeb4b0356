/*
 * The HTTP client's reading of replies (http_reply.c), over raw bytes, and
 * the curl path against a canned server on loopback: Content-Type with
 * parameters, a PKIMessage whatever the status, 429/503 with Retry-After
 * in both forms, the causes of failures.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/base.h"
#include "cmp/cmp.h"
#include "cmp/http_reply.h"
#include "cmp/transport.h"
#include "t.h"

/* A reply's verdict: rc, err, retry_after and the body passed up. */
struct got {
	int rc;
	int retry_after;
	size_t len;
	char err[512];
};

static struct got verdict(const char *raw, size_t n)
{
	struct http_reply h;
	struct got g = {0};
	unsigned char *rsp = NULL;

	http_reply_init(&h);
	if (http_reply_parse(&h, (const unsigned char *)raw, n, time(NULL), g.err, sizeof(g.err)) <
	    0)
		g.rc = 99;
	else
		g.rc = http_reply_verdict(&h, "ca.test:80", &rsp, &g.len, g.err, sizeof(g.err));
	g.retry_after = h.retry_after;
	OPENSSL_free(rsp);
	http_reply_free(&h);
	return g;
}

#define V(s) verdict(s, sizeof(s) - 1)
#define DER "0\x03\x02\x01"

TEST(http_content_type_parameters_and_case)
{
	struct got g = V("HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp; charset=binary\r\n"
			 "\r\n" DER);

	CHECK(g.rc == TRANSPORT_OK && g.len == 4, "params: rc %d: %s", g.rc, g.err);
	g = V("HTTP/1.1 200 OK\r\ncontent-type:Application/PKIXCMP ;x-vendor=1\r\n\r\nnot der");
	CHECK(g.rc == TRANSPORT_OK && g.len == 7, "case: rc %d: %s", g.rc, g.err);
	/* a DER body under a wrong header goes up too: the CMP layer judges */
	g = V("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" DER);
	CHECK(g.rc == TRANSPORT_OK, "DER under text/plain: rc %d: %s", g.rc, g.err);
	g = V("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html>");
	CHECK(g.rc == TRANSPORT_BADREPLY, "html: rc %d", g.rc);
	CHECK(strstr(g.err, "status 200") && strstr(g.err, "Content-Type text/html; charset=utf-8"),
	      "html: %s", g.err);
	g = V("HTTP/1.1 200 OK\r\n\r\n");
	CHECK(g.rc == TRANSPORT_BADREPLY && strstr(g.err, "no Content-Type"), "empty: %s", g.err);
}

TEST(http_status_classes)
{
	struct got g = V("HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\nerror");

	CHECK(g.rc == TRANSPORT_TRANSIENT && strstr(g.err, "status 500"), "500: %d %s", g.rc,
	      g.err);
	g = V("HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\n<html></html>");
	CHECK(g.rc == TRANSPORT_FATAL && strstr(g.err, "404") && strstr(g.err, "check the CA URL"),
	      "404: %d %s", g.rc, g.err);
	/* a signed CMP error may come with 4xx/5xx */
	g = V("HTTP/1.1 400 Bad Request\r\nContent-Type: application/pkixcmp\r\n\r\n" DER);
	CHECK(g.rc == TRANSPORT_OK, "400 with a PKIMessage: %d %s", g.rc, g.err);
	g = V("HTTP/1.1 503 Busy\r\n\r\n" DER);
	CHECK(g.rc == TRANSPORT_OK, "503 with DER: %d %s", g.rc, g.err);
	g = V("HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n");
	CHECK(g.rc == TRANSPORT_FATAL, "301: %d %s", g.rc, g.err);
	g = V("garbage\r\n\r\n");
	CHECK(g.rc == 99 && strstr(g.err, "status line"), "garbage: %d %s", g.rc, g.err);
	g = V("HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n");
	CHECK(g.rc == 99 && strstr(g.err, "inside its headers"), "no end: %d %s", g.rc, g.err);
}

TEST(http_rate_limit_and_retry_after)
{
	char raw[300], date[64];
	time_t t = time(NULL) + 300;
	struct tm tm;
	struct got g = V("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\n"
			 "Retry-After: 120\r\n\r\n<html><body>busy</body></html>");

	CHECK(g.rc == TRANSPORT_RATELIMIT && g.retry_after == 120, "503: %d %d %s", g.rc,
	      g.retry_after, g.err);
	CHECK(strstr(g.err, "503") && strstr(g.err, "Retry-After: 120 s"), "503: %s", g.err);
	g = V("HTTP/1.1 429 Too Many Requests\r\n\r\n");
	CHECK(g.rc == TRANSPORT_RATELIMIT && g.retry_after == -1 && strstr(g.err, "no Retry-After"),
	      "429 without: %d %d %s", g.rc, g.retry_after, g.err);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(raw, sizeof(raw), "HTTP/1.1 429 Slow down\r\nRetry-After: %s\r\n\r\n", date);
	g = verdict(raw, strlen(raw));
	CHECK(g.rc == TRANSPORT_RATELIMIT && g.retry_after > 250 && g.retry_after <= 300,
	      "429 HTTP-date %s: %d %d %s", date, g.rc, g.retry_after, g.err);
}

TEST(http_retry_after_forms)
{
	time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

	CHECK(http_retry_after_parse("0", now) == 0, "0");
	CHECK(http_retry_after_parse(" 42 ", now) == 42, "42");
	CHECK(http_retry_after_parse("99999999999999999999", now) == RETRY_AFTER_MAX, "huge");
	CHECK(http_retry_after_parse("Sun, 06 Nov 1994 08:50:37 GMT", now) == 60, "IMF-fixdate");
	CHECK(http_retry_after_parse("Sunday, 06-Nov-94 08:51:37 GMT", now) == 120, "RFC 850");
	CHECK(http_retry_after_parse("Sun Nov  6 08:52:37 1994", now) == 180, "asctime");
	CHECK(http_retry_after_parse("Sun, 06 Nov 1994 08:00:00 GMT", now) == 0, "past");
	CHECK(http_retry_after_parse("Mon, 06 Nov 1995 08:49:37 GMT", now) == RETRY_AFTER_MAX,
	      "a year ahead");
	CHECK(http_retry_after_parse("-5", now) == -1, "negative");
	CHECK(http_retry_after_parse("5s", now) == -1, "5s");
	CHECK(http_retry_after_parse("Sun, 06 Foo 1994 08:50:37 GMT", now) == -1, "month");
	CHECK(http_retry_after_parse("Sun, 06 Nov 1994 25:50:37 GMT", now) == -1, "hour");
	CHECK(http_retry_after_parse("Sun, 06 Nov 1994 08:50:37 GMT x", now) == -1, "trailer");
	CHECK(http_retry_after_parse("", now) == -1, "empty");
}

TEST(http_interim_response_and_oversized_body)
{
	struct http_reply h;
	unsigned char *rsp = NULL, *big = calloc(1, CMP_MAX_MSG + 1);
	size_t n;
	char err[256];
	int rc;

	/* a proxy's CONNECT answer, then the server's: only the last counts */
	http_reply_init(&h);
	http_reply_header(&h, "HTTP/1.1 200 Connection established\r\n", 37, 0);
	http_reply_header(&h, "Retry-After: 5\r\n", 16, 0);
	http_reply_header(&h, "Content-Type: application/pkixcmp\r\n", 35, 0);
	http_reply_header(&h, "HTTP/1.1 503 Busy\r\n", 19, 0);
	CHECK(h.status == 503 && h.retry_after == -1 && h.ctype[0] == '\0', "interim kept");
	CHECK(big != NULL, "memory");
	CHECK(http_reply_body(&h, big, CMP_MAX_MSG) == 0, "1 MiB refused");
	CHECK(http_reply_body(&h, big, 1) < 0 && h.oversized, "past 1 MiB taken");
	rc = http_reply_verdict(&h, "ca.test:80", &rsp, &n, err, sizeof(err));
	CHECK(rc == TRANSPORT_BADREPLY && strstr(err, "oversized") && rsp == NULL, "%d %s", rc,
	      err);
	http_reply_free(&h);
	free(big);
}

/* ---- the curl path, against a canned server ---- */

struct canned {
	int lfd;
	const char *replies[4]; /* one per connection */
};

static void *serve_canned(void *arg)
{
	struct canned *c = arg;

	for (int i = 0; i < 4 && c->replies[i] != NULL; i++) {
		int fd = accept(c->lfd, NULL, NULL);
		char buf[4096];
		size_t got = 0;

		if (fd < 0)
			break;
		/* the request: headers and a body of Content-Length bytes (ours: small) */
		while (got < sizeof(buf) - 1) {
			ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
			char *e;

			if (r <= 0)
				break;
			got += (size_t)r;
			buf[got] = '\0';
			if ((e = strstr(buf, "\r\n\r\n")) != NULL &&
			    (size_t)(e + 4 - buf) + 2 <= got) /* body: our 2-byte request */
				break;
		}
		send(fd, c->replies[i], strlen(c->replies[i]), MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static int listen_any(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

TEST(http_curl_rate_limit_then_reply)
{
	static const unsigned char req[] = {0x30, 0x00};
	struct canned c = {
		.replies = {"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/html\r\n"
			    "Retry-After: 7\r\nContent-Length: 6\r\n"
			    "Connection: close\r\n\r\n<html>",
			    "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp; "
			    "charset=binary\r\nTransfer-Encoding: chunked\r\n"
			    "Connection: close\r\n\r\n2\r\n0\x03\r\n2\r\n\x02\x01\r\n0\r\n\r\n"}};
	char url[64], err[512];
	unsigned char *rsp = NULL;
	size_t n = 0;
	pthread_t th;
	struct transport *t;
	int port, rc;

	CHECK((c.lfd = listen_any(&port)) >= 0, "listen");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pkix/", port);
	t = transport_new(&(struct transport_cfg){.url = url, .proxy = "", .read_timeout = 10}, err,
			  sizeof(err));
	CHECK(t != NULL, "transport: %s", err);
	CHECK(pthread_create(&th, NULL, serve_canned, &c) == 0, "thread");
	rc = transport_exchange(t, req, sizeof(req), &rsp, &n, err, sizeof(err));
	CHECK(rc == TRANSPORT_RATELIMIT && transport_retry_after(t) == 7, "429: %d %d %s", rc,
	      transport_retry_after(t), err);
	CHECK(strstr(err, "429") && strstr(err, "Retry-After: 7"), "429: %s", err);
	rc = transport_exchange(t, req, sizeof(req), &rsp, &n, err, sizeof(err));
	pthread_join(th, NULL);
	close(c.lfd);
	CHECK(rc == TRANSPORT_OK && n == 4 && memcmp(rsp, "0\x03\x02\x01", 4) == 0,
	      "chunked 200: %d %zu %s", rc, n, err);
	CHECK(transport_retry_after(t) == -1, "Retry-After not reset");
	OPENSSL_free(rsp);
	transport_free(t);
}

TEST(http_curl_refused_and_config_errors)
{
	char url[64], err[512];
	unsigned char *rsp = NULL;
	size_t n;
	struct transport *t;
	int port, fd, rc;
	long long t0;

	/* a port nobody listens on: bound, then closed */
	CHECK((fd = listen_any(&port)) >= 0, "listen");
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pkix/", port);
	t = transport_new(&(struct transport_cfg){.url = url, .proxy = "", .connect_timeout = 20},
			  err, sizeof(err));
	CHECK(t != NULL, "transport: %s", err);
	t0 = base_now_ms();
	rc = transport_exchange(t, (const unsigned char *)"0", 1, &rsp, &n, err, sizeof(err));
	CHECK(rc == TRANSPORT_TRANSIENT && strstr(err, "connection refused"), "refused: %d %s", rc,
	      err);
	CHECK(base_now_ms() - t0 < 15000, "refused only after the connect timeout");
	transport_free(t);

	CHECK(transport_new(&(struct transport_cfg){.url = "https://127.0.0.1/",
						    .tls_cert = "/nonexistent/client.pem"},
			    err, sizeof(err)) == NULL,
	      "missing tls_cert accepted");
	CHECK(strstr(err, "tls_cert /nonexistent/client.pem: cannot read"), "tls_cert: %s", err);
	CHECK(transport_new(&(struct transport_cfg){.url = "https://127.0.0.1/",
						    .tls_key = t_src("README.md")},
			    err, sizeof(err)) == NULL,
	      "tls_key without tls_cert accepted");
	CHECK(transport_new(&(struct transport_cfg){.url = "http://[::1/"}, err, sizeof(err)) ==
		      NULL,
	      "bad URL accepted");
}
