/*
 * pkiroll bundle: one zip per trading partner with only public material:
 * each community's signing and encryption certificate (DER .cer and PEM),
 * the CA chain (.p7b and PEM), the fingerprint sheet (text and HTML) and
 * SHA256SUMS over every other entry. Entries are written in a fixed order
 * with a fixed date (the newest certificate's notBefore, in UTC) and fixed
 * attributes, so the same store gives byte-identical zips in any time zone.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <zip.h>

#include "write/bundle.h"
#include "store/store_cem.h"
#include "store/store.h"

/* ---- building the zip ---- */

/* zlib's default: level 9 took twice the time for zips 1% smaller (the
 * deflate was two thirds of a bundle of 30000 communities) */
#define BUNDLE_DEFLATE_LEVEL 6

/*
 * An entry's bytes go to a spill file as the entry is made (an unlinked
 * temporary beside the zip), and libzip reads them back from there when it
 * writes the zip: the bundle holds the entries' names and digests, not
 * their bytes (a partner of 6000 communities held 40 MB of them).
 */
struct entry {
	char *name;
	off_t off; /* in the spill file */
	size_t len;
	unsigned char sha[32]; /* SHA-256, for SHA256SUMS */
};

struct entries {
	struct entry *e;
	size_t n, cap;
	int fd; /* the spill file */
	off_t end;
};

static void hex32(const unsigned char md[32], char out[65]);

/* len bytes at the spill file's end. 0 or -1. */
static int spill_write(struct entries *es, const void *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = pwrite(es->fd, (const char *)data + done, len - done,
				   es->end + (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	es->end += (off_t)len;
	return 0;
}

/* A new entry named name that starts at the spill file's end, or NULL. */
static struct entry *entry_new(struct entries *es, const char *name)
{
	struct entry *e;

	if (BASE_GROW(es->e, es->cap, es->n + 1) < 0)
		return NULL;
	e = &es->e[es->n];
	if ((e->name = strdup(name)) == NULL)
		return NULL;
	e->off = es->end;
	e->len = 0;
	return e;
}

/* Counts the entry made by entry_new() in, or drops it when !ok. */
static int entry_done(struct entries *es, struct entry *e, int ok)
{
	if (!ok) {
		free(e->name);
		e->name = NULL;
		return -1;
	}
	e->len = (size_t)(es->end - e->off);
	es->n++;
	return 0;
}

/* Takes data (malloc'ed) under name: spilled, digested, freed. */
static int add(struct entries *es, const char *name, void *data, size_t len)
{
	struct entry *e;
	int rc;

	if (data == NULL)
		return -1;
	if ((e = entry_new(es, name)) == NULL) {
		free(data);
		return -1;
	}
	rc = EVP_Digest(data, len, e->sha, NULL, EVP_sha256(), NULL) &&
	     spill_write(es, data, len) == 0;
	free(data);
	return entry_done(es, e, rc);
}

/*
 * An entry written as a stream (the sheets): what the stdio stream of
 * fopencookie() flushes goes to the spill file and into the digest, so a
 * sheet of any size takes a stdio buffer of memory.
 */
struct stream {
	struct entries *es;
	struct entry *e;
	EVP_MD_CTX *md;
	int failed;
};

static ssize_t stream_write(void *cookie, const char *buf, size_t len)
{
	struct stream *st = cookie;

	if (st->failed || !EVP_DigestUpdate(st->md, buf, len) ||
	    spill_write(st->es, buf, len) < 0) {
		st->failed = 1;
		return -1;
	}
	return (ssize_t)len;
}

/* A stream for the new entry name, or NULL. */
static FILE *stream_open(struct entries *es, const char *name, struct stream *st)
{
	static const cookie_io_functions_t io = {.write = stream_write};
	FILE *f;

	*st = (struct stream){.es = es, .md = EVP_MD_CTX_new()};
	if (st->md == NULL || !EVP_DigestInit_ex(st->md, EVP_sha256(), NULL) ||
	    (st->e = entry_new(es, name)) == NULL) {
		EVP_MD_CTX_free(st->md);
		return NULL;
	}
	if ((f = fopencookie(st, "w", io)) == NULL) {
		EVP_MD_CTX_free(st->md);
		entry_done(es, st->e, 0);
	}
	return f;
}

/* Closes f and counts its entry in when ok and every write went. 0 or -1. */
static int stream_close(struct stream *st, FILE *f, int ok)
{
	if (fclose(f) != 0 || st->failed || !EVP_DigestFinal_ex(st->md, st->e->sha, NULL))
		ok = 0;
	EVP_MD_CTX_free(st->md);
	return entry_done(st->es, st->e, ok);
}

/* The entry name written by write(p, f). 0 or -1. */
static int add_stream(struct entries *es, const char *name, const struct bundle_partner *p,
		      int (*write)(const struct bundle_partner *, FILE *))
{
	struct stream st;
	FILE *f = stream_open(es, name, &st);

	return f != NULL ? stream_close(&st, f, write(p, f) == 0) : -1;
}

/* libzip's view of one entry: its bytes in the spill file. */
struct spill_src {
	int fd;
	off_t off;
	zip_uint64_t len, pos;
	zip_error_t error;
};

static zip_int64_t spill_cb(void *arg, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
	struct spill_src *x = arg;
	zip_int64_t at;

	switch (cmd) {
	case ZIP_SOURCE_OPEN:
		x->pos = 0;
		return 0;
	case ZIP_SOURCE_READ: {
		size_t n = (size_t)(len < x->len - x->pos ? len : x->len - x->pos), done = 0;

		while (done < n) {
			ssize_t r = pread(x->fd, (char *)data + done, n - done,
					  x->off + (off_t)(x->pos + done));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				zip_error_set(&x->error, ZIP_ER_READ, r < 0 ? errno : EIO);
				return -1;
			}
			done += (size_t)r;
		}
		x->pos += n;
		return (zip_int64_t)n;
	}
	case ZIP_SOURCE_CLOSE:
		return 0;
	case ZIP_SOURCE_STAT: {
		zip_stat_t *st = data;

		if (len < sizeof(*st)) {
			zip_error_set(&x->error, ZIP_ER_INVAL, 0);
			return -1;
		}
		zip_stat_init(st);
		st->size = x->len;
		st->valid |= ZIP_STAT_SIZE;
		return sizeof(*st);
	}
	case ZIP_SOURCE_SEEK:
		if ((at = zip_source_seek_compute_offset(x->pos, x->len, data, len, &x->error)) < 0)
			return -1;
		x->pos = (zip_uint64_t)at;
		return 0;
	case ZIP_SOURCE_TELL:
		return (zip_int64_t)x->pos;
	case ZIP_SOURCE_ERROR:
		return zip_error_to_data(&x->error, data, len);
	case ZIP_SOURCE_FREE:
		zip_error_fini(&x->error);
		free(x);
		return 0;
	case ZIP_SOURCE_SUPPORTS:
		return zip_source_make_command_bitmap(
			ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
			ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
	default:
		zip_error_set(&x->error, ZIP_ER_OPNOTSUPP, 0);
		return -1;
	}
}

/* A source for entry e, or NULL. */
static zip_source_t *spill_source(zip_t *za, const struct entries *es, const struct entry *e)
{
	struct spill_src *x = calloc(1, sizeof(*x));
	zip_source_t *src;

	if (x == NULL)
		return NULL;
	x->fd = es->fd;
	x->off = e->off;
	x->len = e->len;
	zip_error_init(&x->error);
	if ((src = zip_source_function(za, spill_cb, x)) == NULL) {
		zip_error_fini(&x->error);
		free(x);
	}
	return src;
}

static void *memdup(const void *p, size_t n)
{
	void *d = malloc(n ? n : 1);

	if (d != NULL)
		memcpy(d, p, n);
	return d;
}

static int der_to_pem(const unsigned char *der, size_t len, char **out, size_t *outlen)
{
	/* the DER as it is, base64 in PEM lines: decoding the certificate
	 * first would decode its public key too (OpenSSL 3.0's decoders), the
	 * bulk of a bundle's time, for the same bytes */
	FILE *f = open_memstream(out, outlen);
	int ok = f != NULL && len > 0 && len <= LONG_MAX &&
		 PEM_write(f, PEM_STRING_X509, "", der, (long)len) > 0;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok && f != NULL) {
		free(*out);
		*out = NULL;
	}
	return ok ? 0 : -1;
}

/* ca/chain.pem and ca/chain.p7b (certs-only SignedData, RFC 2315 / 5652). */
static int add_chain(struct entries *es, const struct bundle_partner *p)
{
	PKCS7 *p7 = PKCS7_new();
	FILE *f;
	char *pem = NULL;
	size_t pemlen = 0;
	unsigned char *der = NULL;
	int n, ok;

	if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data) || (f = open_memstream(&pem, &pemlen)) == NULL) {
		PKCS7_free(p7);
		return -1;
	}
	ok = 1;
	for (size_t i = 0; i < p->nca && ok; i++) {
		const unsigned char *q = p->ca[i].der;
		X509 *x = d2i_X509(NULL, &q, (long)p->ca[i].len);

		ok = x != NULL && PEM_write_X509(f, x) && PKCS7_add_certificate(p7, x);
		X509_free(x);
	}
	if (fclose(f) != 0)
		ok = 0;
	if (ok && (n = i2d_PKCS7(p7, &der)) > 0) {
		ok = add(es, "ca/chain.p7b", memdup(der, (size_t)n), (size_t)n) == 0 &&
		     add(es, "ca/chain.pem", pem, pemlen) == 0;
		pem = NULL;
	} else {
		ok = 0;
	}
	OPENSSL_free(der);
	free(pem);
	PKCS7_free(p7);
	return ok ? 0 : -1;
}

/* A SHA-256 digest as sha256sum prints it. */
static void hex32(const unsigned char md[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A certificate as DIR/SUBusage.cer and .pem, its DER read from the store
 * (the partner's list holds only its digests). */
static int add_cert(struct entries *es, struct pkiroll_store *s, const char *dir, const char *sub,
		    const struct bundle_cert *x)
{
	char name[220], *buf = NULL;
	unsigned char *der = NULL;
	size_t len = 0, dlen = 0;

	struct certinfo_digests dg;

	if (store_bundle_cert_der(s, x->id, &der, &dlen) < 0)
		return -1;
	/* the bytes must be those the sheets' fingerprints are of */
	if (certinfo_digests(der, dlen, &dg) < 0 || memcmp(&dg, &x->dg, sizeof(dg)) != 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"certificate %lld (%s/%s%s) changed in the store while the bundle was "
			"written",
			x->id, dir, sub, x->usage);
		free(der);
		return -1;
	}
	if (der_to_pem(der, dlen, &buf, &len) < 0) {
		free(der);
		return -1;
	}
	snprintf(name, sizeof(name), "%s/%s%s.cer", dir, sub, x->usage);
	if (add(es, name, der, dlen) < 0) {
		free(buf);
		return -1;
	}
	snprintf(name, sizeof(name), "%s/%s%s.pem", dir, sub, x->usage);
	return add(es, name, buf, len);
}

/* Does data start as a MIME entity does (what pkiroll cem writes: its
 * headers, signed or not)? */
static int mime_entity(const unsigned char *data, size_t len)
{
	static const char *const first[] = {"Content-Type:", "MIME-Version:"};

	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		if (len >= strlen(first[i]) &&
		    strncasecmp((const char *)data, first[i], strlen(first[i])) == 0)
			return 1;
	return 0;
}

/* The partner's latest CEM requests (pkiroll cem), under cem/. Each goes to
 * the partner, so only what pkiroll wrote there is taken: a path that is no
 * longer a regular file (a FIFO, a device, a directory) is refused, not
 * waited on; a symbolic link or a file that is not a MIME entity (a
 * keystore linked in its place) is refused. */
static int add_cem(struct entries *es, struct pkiroll_store *s, const struct bundle_partner *p)
{
	char **paths = NULL, name[220];
	size_t n = 0;
	int rc = 0;

	if (store_cem_partner_files(s, p->id, &paths, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *base = strrchr(paths[i], '/');
		char why[4200];
		FILE *f = file_fopen_regular_nofollow(paths[i], why, sizeof(why));
		unsigned char *data = NULL;
		long len;

		if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 ||
		    len > (4L << 20) || fseek(f, 0, SEEK_SET) < 0 ||
		    (data = malloc((size_t)len + 1)) == NULL ||
		    fread(data, 1, (size_t)len, f) != (size_t)len) {
			if (f != NULL)
				snprintf(why, sizeof(why), "%s: cannot read it (over 4 MB?)",
					 paths[i]);
			ctx_log(s->ctx, PKIROLL_LOG_ERROR, "partner %s: CEM request %s", p->name,
				why);
			free(data);
			rc = -1;
		} else if (!mime_entity(data, (size_t)len)) {
			ctx_log(s->ctx, PKIROLL_LOG_ERROR,
				"partner %s: CEM request %s: not a MIME entity as pkiroll cem "
				"writes them: not sent",
				p->name, paths[i]);
			free(data);
			rc = -1;
		} else {
			snprintf(name, sizeof(name), "cem/%s", base ? base + 1 : paths[i]);
			rc = add(es, name, data, (size_t)len);
		}
		if (f != NULL)
			fclose(f);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return rc;
}

/* Every entry of the zip, in its order. */
static int entries_build(struct entries *es, const struct bundle_partner *p,
			 struct pkiroll_store *s, int cem)
{
	struct stream st;
	char hex[65];
	size_t n;
	FILE *f;

	for (size_t i = 0; i < p->ncomm; i++) {
		const struct bundle_community *c = &p->comm[i];

		for (int k = 0; k < c->ncert; k++)
			if (add_cert(es, s, c->dir, "", &c->cert[k]) < 0)
				return -1;
		/* the replaced certificates, while they are still valid */
		for (int k = 0; k < c->nprev; k++)
			if (add_cert(es, s, c->dir, "previous/", &c->prev[k]) < 0)
				return -1;
	}
	if (p->nca > 0 && add_chain(es, p) < 0)
		return -1;
	if (add_stream(es, "fingerprints.txt", p, sheet_text) < 0 ||
	    add_stream(es, "fingerprints.html", p, sheet_html) < 0 ||
	    add_stream(es, "fingerprints.csv", p, sheet_csv) < 0 ||
	    add_stream(es, "README.txt", p, sheet_readme) < 0)
		return -1;
	if (cem && add_cem(es, s, p) < 0)
		return -1;
	/* SHA256SUMS last, over all the others: `sha256sum -c SHA256SUMS` */
	n = es->n;
	if ((f = stream_open(es, "SHA256SUMS", &st)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		hex32(es->e[i].sha, hex);
		fprintf(f, "%s  %s\n", hex, es->e[i].name);
	}
	return stream_close(&st, f, !ferror(f));
}

/*
 * An entry date in MS-DOS form, as UTC: zip_file_set_mtime() converts with
 * the local time zone, so the same store would give other bytes in
 * another one. Years before 1980 (the format's first) become 1980, as
 * libzip makes them.
 */
static void dos_time(time_t t, zip_uint16_t *dtime, zip_uint16_t *ddate)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		*dtime = 0;
		*ddate = (1 << 5) | 1; /* 1980-01-01, libzip's own fallback */
		return;
	}
	if (tm.tm_year < 80)
		tm.tm_year = 80;
	*ddate = (zip_uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
	*dtime = (zip_uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec >> 1));
}

/* Writes the zip at path (libzip writes a temporary file and renames it). */
static int zip_write(pkiroll_ctx *ctx, const char *path, struct entries *es, time_t mtime)
{
	int zerr = 0;
	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	zip_uint16_t dtime, ddate;

	if (za == NULL) {
		zip_error_t e;

		zip_error_init_with_code(&e, zerr);
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", path, zip_error_strerror(&e));
		zip_error_fini(&e);
		return -1;
	}
	dos_time(mtime, &dtime, &ddate);
	for (size_t i = 0; i < es->n; i++) {
		zip_source_t *src = spill_source(za, es, &es->e[i]);
		zip_int64_t idx;

		if (src == NULL)
			goto fail;
		if ((idx = zip_file_add(za, es->e[i].name, src, ZIP_FL_ENC_UTF_8)) < 0) {
			zip_source_free(src);
			goto fail;
		}
		if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE,
					     BUNDLE_DEFLATE_LEVEL) < 0 ||
		    zip_file_set_dostime(za, (zip_uint64_t)idx, dtime, ddate, 0) < 0 ||
		    zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
						     (zip_uint32_t)0100644 << 16) < 0)
			goto fail;
	}
	if (zip_close(za) < 0)
		goto fail;
	return 0;
fail:
	ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", path, zip_strerror(za));
	zip_discard(za);
	return -1;
}

/* Reads a file back for its SHA-256 (what the store records). */
static int file_sha256(const char *path, char out[65])
{
	FILE *f = fopen(path, "rb");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], d[32];
	size_t n;
	int ok = f != NULL && md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL);

	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ok = EVP_DigestUpdate(md, buf, n);
	ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, d, NULL);
	if (f != NULL)
		fclose(f);
	EVP_MD_CTX_free(md);
	if (ok)
		hex32(d, out);
	return ok ? 0 : -1;
}

/* Folders by name ignoring case, then by their place in the list. */
static int dir_cmp(const void *a, const void *b)
{
	const struct bundle_community *x = *(const struct bundle_community *const *)a;
	const struct bundle_community *y = *(const struct bundle_community *const *)b;
	int c = strcasecmp(x->dir, y->dir);

	return c != 0 ? c : (x > y) - (x < y);
}

/*
 * Each community's folder in the zip. Folders a case-insensitive system
 * would merge: the later one (by name) gets the hash of its name. Found by
 * sorting, not by comparing every pair (a partner of 6000 communities
 * made 18 million comparisons).
 */
static int comm_dirs(struct bundle_partner *p)
{
	struct bundle_community **by;
	char dir[FILE_SAFE_NAME_MAX];

	for (size_t i = 0; i < p->ncomm; i++) {
		file_safe_name(p->comm[i].name, SAFE_NAME_PORTABLE, dir, sizeof(dir));
		free(p->comm[i].dir);
		if ((p->comm[i].dir = strdup(dir)) == NULL)
			return -1;
	}
	if (p->ncomm < 2)
		return 0;
	if ((by = malloc(p->ncomm * sizeof(*by))) == NULL)
		return -1;
	for (size_t i = 0; i < p->ncomm; i++)
		by[i] = &p->comm[i];
	qsort(by, p->ncomm, sizeof(*by), dir_cmp);
	/* within a run of equal folders, every one but the first in the list */
	for (size_t i = p->ncomm - 1; i > 0; i--)
		if (strcasecmp(by[i]->dir, by[i - 1]->dir) == 0) {
			char *d;

			file_safe_name(by[i]->name, SAFE_NAME_PORTABLE | SAFE_NAME_HASH, dir,
				       sizeof(dir));
			if ((d = strdup(dir)) == NULL) {
				free(by);
				return -1;
			}
			free(by[i]->dir);
			by[i]->dir = d;
		}
	free(by);
	return 0;
}

/* One partner: load, build, write, record. */
static int partner_bundle(struct pkiroll_store *s, struct bundle_partner *p,
			  const struct pkiroll_bundle_opts *o, struct pkiroll_bundle_stats *stats)
{
	struct entries *es = NULL;
	char file[200], path[4096], tmp[4200], sha[65], last[65], cur[65];
	int rc = -1, st;

	if (o->stale && (st = store_bundle_stale(s, p->id)) <= 0) {
		if (st < 0)
			store_sql_error(s, "bundle");
		return st;
	}
	if (store_bundle_partner_load(s, p, time(NULL)) < 0) {
		store_sql_error(s, "bundle");
		return -1;
	}
	if (comm_dirs(p) < 0)
		return -1;

	stats->missing += p->nmissing;
	if (p->ncomm == 0) {
		char prev_sha[65];

		snprintf(path, sizeof(path), "%s/%s.zip", o->out_dir, p->file);
		if (store_bundle_last_sha(s, p->id, path, prev_sha) == 0 && prev_sha[0] != '\0' &&
		    strcmp(prev_sha, "removed") != 0) {
			/* its communities were all revoked or retired: a zip that
			 * still holds them must go, and the store says so */
			if (unlink(path) < 0 && errno != ENOENT) {
				ctx_log(s->ctx, PKIROLL_LOG_ERROR, "partner %s: %s: %s", p->name,
					path, strerror(errno));
				return -1;
			}
			if (store_bundle_record(s, p, path, "removed") < 0)
				return -1;
			ctx_log(s->ctx, PKIROLL_LOG_WARN,
				"partner %s: no current certificate any more: %s removed", p->name,
				path);
			stats->removed++;
			return 0;
		}
		ctx_log(s->ctx, PKIROLL_LOG_WARN,
			"partner %s: no community has a current certificate (%lu linked): no "
			"bundle",
			p->name, p->nmissing);
		stats->empty++;
		return 0;
	}
	if (p->nmissing > 0)
		ctx_log(s->ctx, PKIROLL_LOG_WARN,
			"partner %s: %lu communit%s without a certificate left out of the bundle",
			p->name, p->nmissing, p->nmissing == 1 ? "y" : "ies");
	snprintf(file, sizeof(file), "%s.zip", p->file);
	if (snprintf(path, sizeof(path), "%s/%s", o->out_dir, file) >= (int)sizeof(path)) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "partner %s: bundle path too long", p->name);
		return -1;
	}
	if ((es = calloc(1, sizeof(*es))) == NULL)
		return -1;
	/* the spill file: unlinked at once, so nothing is left after a crash */
	snprintf(tmp, sizeof(tmp), "%s/.%s.spill.XXXXXX", o->out_dir, file);
	if ((es->fd = mkstemp(tmp)) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "partner %s: %s: %s", p->name, tmp,
			strerror(errno));
		goto out;
	}
	(void)unlink(tmp);
	if (entries_build(es, p, s, o->cem) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "partner %s: cannot build the bundle", p->name);
		goto out;
	}
	/* a zip that comes out the same as the last one is not rewritten */
	snprintf(tmp, sizeof(tmp), "%s/.%s.new", o->out_dir, file);
	if (zip_write(s->ctx, tmp, es, p->mtime) < 0 || file_sha256(tmp, sha) < 0) {
		(void)unlink(tmp);
		goto out;
	}
	if (store_bundle_last_sha(s, p->id, path, last) == 0 && strcmp(last, sha) == 0 &&
	    file_sha256(path, cur) == 0 && strcmp(cur, sha) == 0) {
		(void)unlink(tmp);
		stats->unchanged++;
		ctx_log(s->ctx, PKIROLL_LOG_DEBUG, "partner %s: %s unchanged", p->name, path);
		rc = 0;
		goto out;
	}
	if (rename(tmp, path) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "partner %s: %s: %s", p->name, path,
			strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	if (store_bundle_record(s, p, path, sha) < 0)
		goto out;
	for (size_t i = 0; i < p->ncomm; i++)
		stats->certificates += (unsigned long)p->comm[i].ncert;
	stats->communities += p->ncomm;
	stats->written++;
	ctx_log(s->ctx, PKIROLL_LOG_INFO, "partner %s: %s (%zu communities, SHA-256 %s)", p->name,
		path, p->ncomm, sha);
	rc = 0;
out:
	if (es->fd >= 0)
		close(es->fd);
	for (size_t i = 0; i < es->n; i++)
		free(es->e[i].name);
	free(es->e);
	free(es);
	return rc;
}

/* Each partner's zip name: one per partner over all of them, whatever
 * --partner says. The older partner keeps a name that differs only in case,
 * the newer gets its hash; one still shared (a 32-bit hash collision) is
 * refused when written. */
static void zip_names(struct store_partner *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t k;

		file_safe_name(list[i].name, SAFE_NAME_PORTABLE, list[i].file,
			       sizeof(list[i].file));
		for (k = 0; k < i && strcasecmp(list[k].file, list[i].file) != 0; k++)
			;
		if (k < i)
			file_safe_name(list[i].name, SAFE_NAME_PORTABLE | SAFE_NAME_HASH,
				       list[i].file, sizeof(list[i].file));
	}
}

int pkiroll_bundle_write(pkiroll_store *s, const struct pkiroll_bundle_opts *o,
			 struct pkiroll_bundle_stats *stats)
{
	struct store_partner *list = NULL;
	struct bundle_partner p;
	size_t n = 0;
	int err = PKIROLL_OK;
	char why[8400];

	memset(stats, 0, sizeof(*stats));
	if (o == NULL || o->out_dir == NULL || o->out_dir[0] == '\0')
		return PKIROLL_ERR_USAGE;
	if (file_dir_ready(o->out_dir, 0755, why, sizeof(why)) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "%s", why);
		return PKIROLL_ERR_CONFIG;
	}
	/* the partner list first: the loop below writes to the store */
	if (store_bundle_partners(s, &list, &n) < 0)
		return PKIROLL_ERR_STORE;
	zip_names(list, n);
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (o->partner != NULL && strcmp(o->partner, list[i].name) != 0)
			continue;
		stats->partners++;
		for (k = 0; k < i && strcasecmp(list[k].file, list[i].file) != 0; k++)
			;
		if (k < i) {
			ctx_log(s->ctx, PKIROLL_LOG_ERROR,
				"partner %s: no bundle: its file name \"%s.zip\" is that of "
				"partner %s",
				list[i].name, list[i].file, list[k].name);
			stats->failed++;
			err = PKIROLL_ERR_IO;
			continue;
		}
		memset(&p, 0, sizeof(p));
		p.id = list[i].id;
		snprintf(p.name, sizeof(p.name), "%s", list[i].name);
		snprintf(p.file, sizeof(p.file), "%s", list[i].file);
		if (partner_bundle(s, &p, o, stats) < 0) {
			stats->failed++;
			err = PKIROLL_ERR_IO;
		}
		store_bundle_partner_clear(&p);
	}
	free(list);
	if (o->partner != NULL && stats->partners == 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "no partner named \"%s\" in the store",
			o->partner);
		return PKIROLL_ERR_USAGE;
	}
	return err;
}
