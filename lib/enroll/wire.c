/*
 * Frames between the parent and its workers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "enroll/wire.h"

static int grow(struct wbuf *b, size_t more)
{
	size_t cap;
	unsigned char *p;

	if (b->cap == (size_t)-1)
		return -1;
	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > WIRE_MAX || (p = malloc(cap)) == NULL) {
		wbuf_free(b);
		b->cap = (size_t)-1; /* failed: see wbuf_ok() */
		return -1;
	}
	if (b->p != NULL) {
		memcpy(p, b->p, b->len);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void wbuf_blob(struct wbuf *b, int tag, const void *v, size_t n)
{
	unsigned char *w;

	if (n > WIRE_MAX || grow(b, 6 + n) < 0)
		return;
	w = b->p + b->len;
	w[0] = (unsigned char)(tag >> 8);
	w[1] = (unsigned char)tag;
	w[2] = (unsigned char)(n >> 24);
	w[3] = (unsigned char)(n >> 16);
	w[4] = (unsigned char)(n >> 8);
	w[5] = (unsigned char)n;
	if (n > 0)
		memcpy(w + 6, v, n);
	b->len += 6 + n;
}

void wbuf_int(struct wbuf *b, int tag, long long v)
{
	unsigned char be[8];

	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)((unsigned long long)v >> (56 - 8 * i));
	wbuf_blob(b, tag, be, 8);
}

void wbuf_str(struct wbuf *b, int tag, const char *s)
{
	if (s != NULL)
		wbuf_blob(b, tag, s, strlen(s));
}

int wbuf_ok(const struct wbuf *b)
{
	return b->cap != (size_t)-1;
}

void wbuf_free(struct wbuf *b)
{
	if (b->p != NULL && b->cap != (size_t)-1) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = b->pos = 0;
}

int wbuf_next(struct wbuf *b, int *tag, const unsigned char **v, size_t *n)
{
	const unsigned char *r;

	if (b->pos == b->len)
		return 0;
	if (b->len - b->pos < 6)
		return -1;
	r = b->p + b->pos;
	*tag = r[0] << 8 | r[1];
	*n = (size_t)r[2] << 24 | (size_t)r[3] << 16 | (size_t)r[4] << 8 | r[5];
	if (*n > b->len - b->pos - 6)
		return -1;
	*v = r + 6;
	b->pos += 6 + *n;
	return 1;
}

long long wire_int(const unsigned char *v, size_t n)
{
	unsigned long long x = 0;

	if (n != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		x = x << 8 | v[i];
	return (long long)x;
}

void wire_str(const unsigned char *v, size_t n, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE || errno == ECONNRESET ? 0 : -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 1;
}

int wire_write(int fd, int type, const struct wbuf *b)
{
	unsigned char hdr[5];
	size_t len = b ? b->len : 0;
	int r;

	if (type <= WIRE_STOP - 1 || type >= WIRE__MAX || len > WIRE_MAX || (b && !wbuf_ok(b)))
		return -1;
	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
	hdr[4] = (unsigned char)type;
	if ((r = write_all(fd, hdr, 5)) <= 0)
		return r;
	return len ? write_all(fd, b->p, len) : 1;
}

static int read_all(int fd, unsigned char *p, size_t n, int *eof)
{
	size_t off = 0;

	*eof = 0;
	while (off < n) {
		ssize_t r = read(fd, p + off, n - off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			*eof = off == 0;
			return -1;
		}
		off += (size_t)r;
	}
	return 1;
}

int wire_read(int fd, int *type, struct wbuf *b)
{
	unsigned char hdr[5];
	size_t len;
	int eof;

	wbuf_free(b);
	*type = WIRE_STOP;
	if (read_all(fd, hdr, 5, &eof) < 0)
		return eof ? 0 : -1;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (hdr[4] >= WIRE__MAX || len > WIRE_MAX)
		return -1;
	*type = hdr[4];
	if (len == 0)
		return 1;
	if (grow(b, len) < 0 || read_all(fd, b->p, len, &eof) < 0)
		return -1;
	b->len = len;
	return 1;
}
