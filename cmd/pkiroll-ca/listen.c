/*
 * Sockets, threads and signals of `pkiroll-ca serve`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ca_internal.h"
#include "mint.h"
#include "listen.h"

#define MAX_TCP_THREADS 256

static const struct ca_cfg *g_cfg;
static const struct listen_cfg *g_lc;
static pthread_mutex_t tcp_lock = PTHREAD_MUTEX_INITIALIZER;
static int tcp_threads;

/* Binds ADDR:PORT ([v6]:PORT for IPv6). Returns the fd, with the bound port in *port. */
static int bind_addr(const char *spec, int *port, int *v6, char *shown, size_t shownlen)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1;
	size_t hl;

	if (colon == NULL || colon == spec) {
		fprintf(stderr, "pkiroll-ca: %s: expected ADDRESS:PORT\n", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && colon[-1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
		fprintf(stderr, "pkiroll-ca: %s: not a numeric address and port\n", spec);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* an IPv6 socket also takes IPv4 (dual stack, as the usual servers do):
	 * [::]:PORT serves 127.0.0.1 and ::1 on one port */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (res->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){0}, sizeof(int)) < 0) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		fprintf(stderr, "pkiroll-ca: %s: %s\n", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	*v6 = res->ai_family == AF_INET6;
	*port = ntohs(*v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			  : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(shown, shownlen, *v6 ? "[%s]:%d" : "%s:%d", host, *port);
	freeaddrinfo(res);
	return fd;
}

/* ---- HTTP ---- */

struct upload {
	unsigned char *buf;
	size_t len;
	int too_big;
};

/* A chunked reply's bytes, handed to libmicrohttpd a block at a time. */
struct chunks {
	unsigned char *p;
	size_t len;
};

static ssize_t chunk_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct chunks *ch = cls;
	size_t n;

	if (pos >= ch->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = ch->len - (size_t)pos < max ? ch->len - (size_t)pos : max;
	memcpy(buf, ch->p + pos, n);
	return (ssize_t)n;
}

static void chunk_free(void *cls)
{
	struct chunks *ch = cls;

	free(ch->p);
	free(ch);
}

/*
 * Queues one reply: from a copy of data, or (chunked) from a callback of
 * unknown size, which libmicrohttpd sends with chunked transfer encoding
 * under HTTP/1.1. retry_after, if not NULL, becomes a Retry-After header.
 */
static enum MHD_Result respond_with(struct MHD_Connection *c, int code, const void *data, size_t n,
				    const char *ctype, int chunked, const char *retry_after)
{
	struct MHD_Response *rsp = NULL;
	enum MHD_Result r;

	if (chunked) {
		struct chunks *ch = calloc(1, sizeof(*ch));

		if (ch == NULL || (ch->p = malloc(n ? n : 1)) == NULL) {
			free(ch);
			return MHD_NO;
		}
		memcpy(ch->p, data, n);
		ch->len = n;
		/* small blocks: a PKIMessage arrives in several chunks */
		rsp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, chunk_read, ch,
							chunk_free);
		if (rsp == NULL)
			chunk_free(ch);
	} else {
		rsp = MHD_create_response_from_buffer(n, (void *)data, MHD_RESPMEM_MUST_COPY);
	}
	if (rsp == NULL)
		return MHD_NO;
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (retry_after != NULL)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	r = MHD_queue_response(c, (unsigned)code, rsp);
	MHD_destroy_response(rsp);
	return r;
}

static enum MHD_Result respond(struct MHD_Connection *c, int code, const void *data, size_t n,
			       const char *ctype)
{
	return respond_with(c, code, data, n, ctype, 0, NULL);
}

/* ---- the rate limiter in front of the CA (fault ratelimit=N/SECS) ---- */

static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static long long rl_start; /* the window's first request, CLOCK_MONOTONIC ms */
static int rl_count;	   /* requests let through in the window */

/*
 * 1 if this request may reach the CA. The first request opens a window of
 * rl_secs seconds; the first rl_n requests in it pass, every other one is
 * refused; the first request after the window opens the next. Every HTTP
 * request counts (certConf and pollReq too); refused ones do not.
 */
static int ratelimit_pass(const struct faults *f)
{
	long long now = base_now_ms();
	int pass;

	pthread_mutex_lock(&rl_lock);
	if (rl_count == 0 || now - rl_start >= (long long)f->rl_secs * 1000) {
		rl_start = now;
		rl_count = 0;
	}
	pass = rl_count < f->rl_n;
	if (pass)
		rl_count++;
	pthread_mutex_unlock(&rl_lock);
	return pass;
}

/* An IMF-fixdate (RFC 9110 5.6.7) secs from now, in the C locale's names. */
static void http_date_in(int secs, char *buf, size_t len)
{
	static const char wd[] = "SunMonTueWedThuFriSat",
			  mon[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t t = time(NULL) + secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", wd + 3 * tm.tm_wday,
		 tm.tm_mday, mon + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

/* A refused request: 503 or 429, an HTML page, no CMP processing at all. */
static enum MHD_Result refuse(struct MHD_Connection *c, const char *method, const char *url)
{
	const struct faults *f = &g_cfg->faults;
	char page[200], ra[64] = "", line[400];
	int n;

	n = snprintf(page, sizeof(page),
		     "<html><head><title>%d</title></head><body><h1>%s</h1></body></html>\n",
		     f->rl_status,
		     f->rl_status == 429 ? "Too Many Requests" : "Service Unavailable");
	if (f->retry_after >= 0 && f->retry_date)
		http_date_in(f->retry_after, ra, sizeof(ra));
	else if (f->retry_after >= 0)
		snprintf(ra, sizeof(ra), "%d", f->retry_after);
	snprintf(line, sizeof(line),
		 "pkiroll-ca: http %s %.200s -> %d rate limit (%d per %d s)%s%s", method, url,
		 f->rl_status, f->rl_n, f->rl_secs, ra[0] ? " Retry-After: " : "", ra);
	ca_log(g_cfg, line);
	return respond_with(c, f->rl_status, page, (size_t)n, "text/html", 0, ra[0] ? ra : NULL);
}

/* Two HTTP paths, the same but for runs of '/' (/pkix//// is /pkix/). */
static int same_path(const char *a, const char *b)
{
	while (*a != '\0' && *b != '\0') {
		if (*a != *b)
			return 0;
		if (*a == '/') {
			while (a[1] == '/')
				a++;
			while (b[1] == '/')
				b++;
		}
		a++;
		b++;
	}
	return *a == *b;
}

/*
 * With --https-client-ca: 1 if the client showed a certificate that chains
 * to that file (libmicrohttpd asks for one, GnuTLS checks it here). Else a
 * fatal TLS alert goes out before the connection closes, so the client
 * sees a TLS error, and 0.
 */
static int client_cert_ok(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	unsigned status = 0;
	int r;

	if (s == NULL)
		return 0;
	r = gnutls_certificate_verify_peers2(s, &status);
	if (r == 0 && status == 0)
		return 1;
	gnutls_alert_send(s, GNUTLS_AL_FATAL,
			  r == GNUTLS_E_NO_CERTIFICATE_FOUND ? GNUTLS_A_CERTIFICATE_REQUIRED
							     : GNUTLS_A_BAD_CERTIFICATE);
	fprintf(stderr, "pkiroll-ca: https %s -> TLS alert\n",
		r == GNUTLS_E_NO_CERTIFICATE_FOUND ? "no client certificate"
						   : "client certificate not trusted");
	return 0;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *size, void **con_cls)
{
	struct upload *up = *con_cls;
	struct ca_reply rep;
	const char *ctype;
	enum MHD_Result r;

	(void)version;
	if (up == NULL) {
		if (cls != NULL && !client_cert_ok(c))
			return MHD_NO;
		if ((up = calloc(1, sizeof(*up))) == NULL)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*size > 0) {
		/* RFC 6712 3.4: the body is one DER PKIMessage; bounded */
		if (up->len + *size > CMP_MAX_MSG) {
			up->too_big = 1;
		} else {
			unsigned char *p = realloc(up->buf, up->len + *size);

			if (p == NULL)
				return MHD_NO;
			up->buf = p;
			memcpy(up->buf + up->len, data, *size);
			up->len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	if (g_cfg->faults.rl_n >= 0 && !ratelimit_pass(&g_cfg->faults))
		return refuse(c, method, url);
	if (!same_path(url, g_lc->path))
		return respond(c, MHD_HTTP_NOT_FOUND, "not found\n", 10, "text/plain");
	if (strcmp(method, "POST") != 0)
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST application/pkixcmp\n", 25,
			       "text/plain");
	if (up->too_big)
		return respond(c, MHD_HTTP_CONTENT_TOO_LARGE, "too large\n", 10, "text/plain");
	ca_handle(g_cfg, "http", up->buf, up->len, &rep);
	ctype = rep.ctype[0] ? rep.ctype : "application/pkixcmp";
	if (rep.slow_ms > 0)
		nanosleep(&(struct timespec){rep.slow_ms / 1000, (rep.slow_ms % 1000) * 1000000L},
			  NULL);
	switch (rep.action) {
	case CA_REPLY:
		r = respond_with(c, MHD_HTTP_OK, rep.der, rep.len, ctype, rep.chunked, NULL);
		break;
	case CA_GARBAGE: {
		unsigned char junk[200];

		RAND_bytes(junk, sizeof(junk));
		if (junk[0] == 0x30)
			junk[0] = 0; /* never what starts a DER SEQUENCE */
		r = respond_with(c, MHD_HTTP_OK, junk, sizeof(junk), ctype, rep.chunked, NULL);
		break;
	}
	case CA_HTTP500:
		r = respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", 15,
			    "text/plain");
		break;
	default:
		r = MHD_NO; /* drop or close: no reply */
	}
	OPENSSL_free(rep.der);
	return r;
}

static void on_http_done(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (up != NULL) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

/* ---- TCP ---- */

static void *tcp_conn(void *arg)
{
	int fd = (int)(intptr_t)arg, v10, flags, type;
	long long deadline = base_now_ms() + 30000;
	unsigned char *payload = NULL;
	struct ca_reply rep = {0};
	char err[256];
	size_t n;

	if (tcp_frame_read(fd, &v10, &flags, &type, &payload, &n, deadline, err, sizeof(err)) <= 0)
		goto out;
	if ((v10 && g_lc->tcp_v0_only) || type != TCP_PKIREQ) {
		/* a version this CA does not speak, or not a request */
		tcp_frame_write(fd, v10 && !g_lc->tcp_v0_only, 0, TCP_ERRORREP,
				(const unsigned char *)"\0\1", 2, deadline);
		snprintf(err, sizeof(err), "pkiroll-ca: tcp %s frame type %d -> errorMsgRep",
			 v10 ? "version 10" : "version 0", type);
		ca_log(g_cfg, err);
		goto out;
	}
	ca_handle(g_cfg, v10 ? "tcp/v10" : "tcp/v0", payload, n, &rep);
	if (rep.slow_ms > 0)
		nanosleep(&(struct timespec){rep.slow_ms / 1000, (rep.slow_ms % 1000) * 1000000L},
			  NULL);
	switch (rep.action) {
	case CA_REPLY:
		tcp_frame_write(fd, v10, 0, TCP_PKIREP, rep.der, rep.len, deadline);
		break;
	case CA_GARBAGE: {
		unsigned char junk[200];

		RAND_bytes(junk, sizeof(junk));
		tcp_frame_write(fd, v10, 0, TCP_PKIREP, junk, sizeof(junk), deadline);
		break;
	}
	case CA_HTTP500:
		tcp_frame_write(fd, v10, 0, TCP_ERRORREP, (const unsigned char *)"\0\2", 2,
				deadline);
		break;
	case CA_DROP: {
		struct linger lg = {1, 0}; /* reset, not a clean close */

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		break;
	}
	default:
		shutdown(fd, SHUT_RDWR);
	}
out:
	OPENSSL_free(rep.der);
	OPENSSL_free(payload);
	close(fd);
	pthread_mutex_lock(&tcp_lock);
	tcp_threads--;
	pthread_mutex_unlock(&tcp_lock);
	return NULL;
}

static void *tcp_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_attr_t at;
		pthread_t th;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			return NULL;
		}
		pthread_mutex_lock(&tcp_lock);
		if (tcp_threads >= MAX_TCP_THREADS) {
			pthread_mutex_unlock(&tcp_lock);
			close(fd);
			continue;
		}
		tcp_threads++;
		pthread_mutex_unlock(&tcp_lock);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, tcp_conn, (void *)(intptr_t)fd) != 0) {
			close(fd);
			pthread_mutex_lock(&tcp_lock);
			tcp_threads--;
			pthread_mutex_unlock(&tcp_lock);
		}
		pthread_attr_destroy(&at);
	}
}

/*
 * A TLS server key and certificate (localhost, 127.0.0.1, ::1) issued by
 * this CA for the HTTPS listener, as PEM strings (the caller frees).
 */
static int tls_identity(const struct ca_cfg *cfg, char **key_pem, char **cert_pem)
{
	EVP_PKEY *k = keys_generate(KEY_P256);
	X509_NAME *n = X509_NAME_new();
	X509 *x = NULL;
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	char *p;
	long l;
	int rc = -1;

	if (k == NULL || n == NULL || kb == NULL || cb == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
					-1, -1, 0) ||
	    (x = ca_mint(cfg->keys.cert, cfg->keys.key, n, k, NULL, MINT_TLS_SERVER, 7L * 86400)) ==
		    NULL ||
	    !PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, x))
		goto out;
	/* the chain up to (not including) the root */
	for (int i = 0; i + 1 < sk_X509_num(cfg->keys.chain); i++)
		PEM_write_bio_X509(cb, sk_X509_value(cfg->keys.chain, i));
	l = BIO_get_mem_data(kb, &p);
	*key_pem = OPENSSL_strndup(p, (size_t)l);
	l = BIO_get_mem_data(cb, &p);
	*cert_pem = OPENSSL_strndup(p, (size_t)l);
	rc = *key_pem && *cert_pem ? 0 : -1;
out:
	EVP_PKEY_free(k);
	X509_NAME_free(n);
	X509_free(x);
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

/* A PEM file's text (at most 1 MiB), the caller's to free; NULL said on stderr. */
static char *read_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = f ? malloc(1024 * 1024 + 1) : NULL;
	size_t n = buf ? fread(buf, 1, 1024 * 1024, f) : 0;

	if (f != NULL)
		fclose(f);
	if (buf == NULL || n == 0 || strstr((buf[n] = '\0', buf), "-----BEGIN") == NULL) {
		fprintf(stderr, "pkiroll-ca: %s: cannot read a PEM file\n", path);
		free(buf);
		return NULL;
	}
	return buf;
}

static volatile int sweeping = 1;

/* Once a second, rolls back what was issued and never confirmed in time:
 * kept out of request handling, so no request waits for it. */
static void *sweeper(void *arg)
{
	const struct ca_cfg *cfg = arg;

	while (__atomic_load_n(&sweeping, __ATOMIC_RELAXED)) {
		sqlite3 *db = ca_db_get(cfg->dir);

		if (db != NULL) {
			ca_expire_unconfirmed(db, cfg->confirm_timeout);
			ca_db_put(db);
		}
		sleep(1);
	}
	return NULL;
}

int ca_serve(const struct ca_cfg *cfg, const struct listen_cfg *lc)
{
	struct MHD_Daemon *tls = NULL;
	char *tls_key = NULL, *tls_cert = NULL, *client_ca = NULL;
	struct MHD_Daemon *mhd = NULL;
	char shown[300];
	sigset_t set;
	int hfd = -1, tfd = -1, port, v6, sig;
	pthread_t tth, sth;
	int have_sweeper, rc = -1;

	g_cfg = cfg;
	g_lc = lc;
	/* signals go to sigwait below, not to the worker threads */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	have_sweeper = pthread_create(&sth, NULL, sweeper, (void *)cfg) == 0;

	if (lc->http != NULL) {
		if ((hfd = bind_addr(lc->http, &port, &v6, shown, sizeof(shown))) < 0)
			goto fail;
		mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
					       MHD_USE_INTERNAL_POLLING_THREAD |
					       (v6 ? MHD_USE_IPv6 : 0),
				       0, NULL, NULL, on_http, NULL, MHD_OPTION_LISTEN_SOCKET, hfd,
				       MHD_OPTION_NOTIFY_COMPLETED, on_http_done, NULL,
				       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
		if (mhd == NULL) {
			fprintf(stderr, "pkiroll-ca: cannot start the HTTP listener\n");
			goto fail;
		}
		printf("listening http %s\n", shown);
	}
	if (lc->https != NULL) {
		int sfd = bind_addr(lc->https, &port, &v6, shown, sizeof(shown));

		if (sfd < 0 || tls_identity(cfg, &tls_key, &tls_cert) < 0)
			goto fail;
		if (lc->https_client_ca != NULL &&
		    (client_ca = read_pem(lc->https_client_ca)) == NULL)
			goto fail;
		/* with a trust list, libmicrohttpd asks the client for a certificate */
		tls = MHD_start_daemon(
			MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION |
				MHD_USE_INTERNAL_POLLING_THREAD | (v6 ? MHD_USE_IPv6 : 0),
			0, NULL, NULL, on_http, client_ca, MHD_OPTION_LISTEN_SOCKET, sfd,
			MHD_OPTION_HTTPS_MEM_KEY, tls_key, MHD_OPTION_HTTPS_MEM_CERT, tls_cert,
			MHD_OPTION_NOTIFY_COMPLETED, on_http_done, NULL,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
			client_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, client_ca,
			MHD_OPTION_END);
		if (tls == NULL) {
			fprintf(stderr, "pkiroll-ca: cannot start the HTTPS listener\n");
			goto fail;
		}
		printf("listening https %s\n", shown);
	}
	if (lc->tcp != NULL) {
		if ((tfd = bind_addr(lc->tcp, &port, &v6, shown, sizeof(shown))) < 0)
			goto fail;
		if (pthread_create(&tth, NULL, tcp_accept, (void *)(intptr_t)tfd) != 0)
			goto fail;
		printf("listening tcp %s\n", shown);
	}
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "pkiroll-ca: %s, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	if (tfd >= 0)
		shutdown(tfd, SHUT_RDWR);
	rc = 0;
fail:
	__atomic_store_n(&sweeping, 0, __ATOMIC_RELAXED);
	if (have_sweeper)
		pthread_join(sth, NULL);
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
	if (tls != NULL)
		MHD_stop_daemon(tls);
	OPENSSL_free(tls_key);
	OPENSSL_free(tls_cert);
	free(client_ca);
	return rc;
}
