/*
 * pkiroll bundle: one zip per trading partner with only public material:
 * each community's signing and encryption certificate (DER .cer and PEM),
 * the CA chain (.p7b and PEM), the fingerprint sheet (text and HTML) and
 * SHA256SUMS over every other entry. Entries are written in a fixed order
 * with a fixed date (the newest certificate's notBefore) and fixed
 * attributes, so the same store gives byte-identical zips.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <zip.h>

#include "bundle.h"
#include "keystore.h"
#include "store.h"

/* ---- reading the store ---- */

static void cert_clear(struct bundle_cert *c)
{
	free(c->der);
	free(c->subject);
	free(c->issuer);
	free(c->serial);
	memset(c, 0, sizeof(*c));
}

static void partner_clear(struct bundle_partner *p)
{
	for (size_t i = 0; i < p->ncomm; i++)
		for (int k = 0; k < p->comm[i].ncert; k++)
			cert_clear(&p->comm[i].cert[k]);
	for (size_t i = 0; i < p->nca; i++) {
		free(p->ca[i].der);
		free(p->ca[i].subject);
	}
	free(p->comm);
	free(p->ca);
	memset(p, 0, sizeof(*p));
}

static unsigned char *blob_dup(sqlite3_stmt *st, int col, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);
	unsigned char *b;

	*len = 0;
	if (n <= 0 || (b = malloc((size_t)n)) == NULL)
		return NULL;
	memcpy(b, sqlite3_column_blob(st, col), (size_t)n);
	*len = (size_t)n;
	return b;
}

static char *col_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return xstrdup(t != NULL ? (const char *)t : "");
}

static void col_copy(sqlite3_stmt *st, int col, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, n, "%s", t != NULL ? (const char *)t : "");
}

/* Adds the CA certificates above one certificate, skipping known ones. */
static int chain_add(struct pkiroll_store *s, struct bundle_partner *p, long long cert_id)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT ca.der, ca.subject, ca.sha256"
					    " FROM certificate_chain cc JOIN ca_certificates ca"
					    " ON ca.id = cc.ca_certificate_id"
					    " WHERE cc.certificate_id = ? ORDER BY cc.position");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cert_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(st, 2);
		struct bundle_ca *ca;
		size_t i;

		for (i = 0; i < p->nca; i++)
			if (sha != NULL && strcmp(p->ca[i].fp.sha256, sha) == 0)
				break;
		if (i < p->nca)
			continue;
		if (p->nca == p->capca) {
			size_t cap = p->capca ? 2 * p->capca : 4;
			void *n = realloc(p->ca, cap * sizeof(*p->ca));

			if (n == NULL)
				break;
			p->ca = n;
			p->capca = cap;
		}
		ca = &p->ca[p->nca];
		memset(ca, 0, sizeof(*ca));
		if ((ca->der = blob_dup(st, 0, &ca->len)) == NULL ||
		    (ca->subject = col_dup(st, 1)) == NULL ||
		    pkiroll_fingerprints(ca->der, ca->len, &ca->fp) != PKIROLL_OK) {
			free(ca->der);
			free(ca->subject);
			break;
		}
		p->nca++;
	}
	store_done(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The partner's communities and their current, unexpired certificates. */
static int partner_load(struct pkiroll_store *s, struct bundle_partner *p, time_t now)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT c.name, x.id, x.usage, x.der, x.serial, x.issuer, x.subject,"
		   " x.not_before, x.not_after, coalesce(x.key_type, ''), x.md5, x.sha1, x.sha256"
		   " FROM partner_communities pc JOIN communities c ON c.id = pc.community_id"
		   " LEFT JOIN certificates x ON x.community_id = c.id AND x.superseded_by IS NULL"
		   " AND x.not_after > ?2"
		   " WHERE pc.partner_id = ?1 AND c.state != 'retired'"
		   " ORDER BY c.name, x.usage DESC, x.id");
	struct bundle_community *c = NULL;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		struct bundle_cert *x;

		if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
			p->nmissing++;
			continue;
		}
		if (c == NULL || strcmp(c->name, name) != 0) {
			if (p->ncomm == p->capcomm) {
				size_t cap = p->capcomm ? 2 * p->capcomm : 16;
				void *n = realloc(p->comm, cap * sizeof(*p->comm));

				if (n == NULL)
					break;
				p->comm = n;
				p->capcomm = cap;
			}
			c = &p->comm[p->ncomm++];
			memset(c, 0, sizeof(*c));
			snprintf(c->name, sizeof(c->name), "%s", name);
			file_safe_name(name, SAFE_NAME_PORTABLE, c->dir, sizeof(c->dir));
		}
		if (c->ncert == 2)
			continue; /* one current certificate per usage */
		x = &c->cert[c->ncert];
		x->id = sqlite3_column_int64(st, 1);
		col_copy(st, 2, x->usage, sizeof(x->usage));
		x->not_before = (time_t)sqlite3_column_int64(st, 7);
		x->not_after = (time_t)sqlite3_column_int64(st, 8);
		col_copy(st, 9, x->key_type, sizeof(x->key_type));
		col_copy(st, 10, x->fp.md5, sizeof(x->fp.md5));
		col_copy(st, 11, x->fp.sha1, sizeof(x->fp.sha1));
		col_copy(st, 12, x->fp.sha256, sizeof(x->fp.sha256));
		if ((x->der = blob_dup(st, 3, &x->len)) == NULL || (x->serial = col_dup(st, 4)) == NULL ||
		    (x->issuer = col_dup(st, 5)) == NULL || (x->subject = col_dup(st, 6)) == NULL) {
			cert_clear(x);
			break;
		}
		c->ncert++;
		if (x->not_before > p->mtime)
			p->mtime = x->not_before;
	}
	store_done(s, st);
	if (rc != SQLITE_DONE)
		return -1;
	/* folders a case-insensitive system would merge: the later one (by
	 * name) gets the hash of its name */
	for (size_t i = 1; i < p->ncomm; i++)
		for (size_t k = 0; k < i; k++)
			if (strcasecmp(p->comm[i].dir, p->comm[k].dir) == 0) {
				file_safe_name(p->comm[i].name, SAFE_NAME_PORTABLE | SAFE_NAME_HASH,
					       p->comm[i].dir, sizeof(p->comm[i].dir));
				break;
			}
	for (size_t i = 0; i < p->ncomm; i++)
		for (int k = 0; k < p->comm[i].ncert; k++)
			if (chain_add(s, p, p->comm[i].cert[k].id) < 0)
				return -1;
	return 0;
}

/* ---- building the zip ---- */

struct entry {
	char name[200];
	unsigned char *data; /* malloc'ed; handed to libzip */
	size_t len;
};

struct entries {
	struct entry *e;
	size_t n, cap;
};

/* Takes data (malloc'ed) under name; on failure data is freed. */
static int add(struct entries *es, const char *name, void *data, size_t len)
{
	if (data == NULL)
		return -1;
	if (es->n == es->cap) {
		size_t cap = es->cap ? 2 * es->cap : 64;
		void *n = realloc(es->e, cap * sizeof(*es->e));

		if (n == NULL) {
			free(data);
			return -1;
		}
		es->e = n;
		es->cap = cap;
	}
	snprintf(es->e[es->n].name, sizeof(es->e[0].name), "%s", name);
	es->e[es->n].data = data;
	es->e[es->n].len = len;
	es->n++;
	return 0;
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
	FILE *f = open_memstream(out, outlen);
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int ok = f != NULL && x != NULL && PEM_write_X509(f, x);

	X509_free(x);
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

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];

	if (!EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL)) {
		out[0] = '\0';
		return;
	}
	hex32(md, out);
}

/* Every entry of the zip, in its order. */
static int entries_build(struct entries *es, const struct bundle_partner *p)
{
	char name[200], *buf = NULL, hex[65];
	size_t len = 0;
	FILE *f;

	for (size_t i = 0; i < p->ncomm; i++) {
		const struct bundle_community *c = &p->comm[i];

		for (int k = 0; k < c->ncert; k++) {
			const struct bundle_cert *x = &c->cert[k];

			snprintf(name, sizeof(name), "%s/%s.cer", c->dir, x->usage);
			if (add(es, name, memdup(x->der, x->len), x->len) < 0)
				return -1;
			snprintf(name, sizeof(name), "%s/%s.pem", c->dir, x->usage);
			if (der_to_pem(x->der, x->len, &buf, &len) < 0 || add(es, name, buf, len) < 0)
				return -1;
		}
	}
	if (p->nca > 0 && add_chain(es, p) < 0)
		return -1;
	if (sheet_text(p, &buf, &len) < 0 || add(es, "fingerprints.txt", buf, len) < 0)
		return -1;
	if (sheet_html(p, &buf, &len) < 0 || add(es, "fingerprints.html", buf, len) < 0)
		return -1;
	/* SHA256SUMS last, over all the others: `sha256sum -c SHA256SUMS` */
	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	for (size_t i = 0; i < es->n; i++) {
		sha256_hex(es->e[i].data, es->e[i].len, hex);
		fprintf(f, "%s  %s\n", hex, es->e[i].name);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -1;
	}
	return add(es, "SHA256SUMS", buf, len);
}

/* Writes the zip at path (libzip writes a temporary file and renames it). */
static int zip_write(pkiroll_ctx *ctx, const char *path, struct entries *es, time_t mtime)
{
	int zerr = 0;
	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);

	if (za == NULL) {
		zip_error_t e;

		zip_error_init_with_code(&e, zerr);
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", path, zip_error_strerror(&e));
		zip_error_fini(&e);
		return -1;
	}
	for (size_t i = 0; i < es->n; i++) {
		zip_source_t *src = zip_source_buffer(za, es->e[i].data, es->e[i].len, 1);
		zip_int64_t idx;

		if (src == NULL)
			goto fail;
		es->e[i].data = NULL; /* libzip's now */
		if ((idx = zip_file_add(za, es->e[i].name, src, ZIP_FL_ENC_UTF_8)) < 0) {
			zip_source_free(src);
			goto fail;
		}
		if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 9) < 0 ||
		    zip_file_set_mtime(za, (zip_uint64_t)idx, mtime, 0) < 0 ||
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

/* Records a written bundle and the certificates in it. */
static int record(struct pkiroll_store *s, const struct bundle_partner *p, const char *path,
		  const char *sha)
{
	sqlite3_stmt *st;
	sqlite3_int64 bid;
	int ok = 0;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((st = store_prepare(s, "INSERT INTO bundles (partner_id, path, sha256, created_at)"
				   " VALUES (?, ?, ?, ?)")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	ok = sqlite3_step(st) == SQLITE_DONE;
	store_done(s, st);
	bid = sqlite3_last_insert_rowid(s->db);
	for (size_t i = 0; ok && i < p->ncomm; i++)
		for (int k = 0; ok && k < p->comm[i].ncert; k++) {
			if ((st = store_prepare(s, "INSERT INTO bundle_certificates"
						   " (bundle_id, certificate_id) VALUES (?, ?)"
						   " ON CONFLICT DO NOTHING")) == NULL) {
				ok = 0;
				break;
			}
			sqlite3_bind_int64(st, 1, bid);
			sqlite3_bind_int64(st, 2, p->comm[i].cert[k].id);
			ok = sqlite3_step(st) == SQLITE_DONE;
			store_done(s, st);
		}
out:
	return store_end(s, ok, "bundle");
}

/* One partner: load, build, write, record. */
static int partner_bundle(struct pkiroll_store *s, struct bundle_partner *p,
			  const struct pkiroll_bundle_opts *o, struct pkiroll_bundle_stats *stats)
{
	struct entries *es = NULL;
	char file[200], path[4096], sha[65];
	int rc = -1;

	if (partner_load(s, p, time(NULL)) < 0) {
		store_sql_error(s, "bundle");
		return -1;
	}
	stats->missing += p->nmissing;
	if (p->ncomm == 0) {
		ctx_log(s->ctx, PKIROLL_LOG_WARN,
			"partner %s: no community has a certificate yet (%lu linked): no bundle",
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
	if (entries_build(es, p) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "partner %s: cannot build the bundle", p->name);
		goto out;
	}
	if (zip_write(s->ctx, path, es, p->mtime) < 0 || file_sha256(path, sha) < 0 ||
	    record(s, p, path, sha) < 0)
		goto out;
	for (size_t i = 0; i < p->ncomm; i++)
		stats->certificates += (unsigned long)p->comm[i].ncert;
	stats->communities += p->ncomm;
	stats->written++;
	ctx_log(s->ctx, PKIROLL_LOG_INFO, "partner %s: %s (%zu communities, SHA-256 %s)", p->name,
		path, p->ncomm, sha);
	rc = 0;
out:
	for (size_t i = 0; i < es->n; i++)
		free(es->e[i].data);
	free(es->e);
	free(es);
	return rc;
}

int pkiroll_bundle_write(pkiroll_store *s, const struct pkiroll_bundle_opts *o,
			 struct pkiroll_bundle_stats *stats)
{
	sqlite3_stmt *st;
	struct bundle_partner p;
	int rc, err = PKIROLL_OK;

	memset(stats, 0, sizeof(*stats));
	if (o == NULL || o->out_dir == NULL || o->out_dir[0] == '\0')
		return PKIROLL_ERR_USAGE;
	if (mkdir(o->out_dir, 0755) < 0 && errno != EEXIST) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "%s: %s", o->out_dir, strerror(errno));
		return PKIROLL_ERR_IO;
	}
	/* the partner list first: the loop below writes to the store */
	if ((st = store_prepare(s, "SELECT id, name FROM partners ORDER BY id")) == NULL)
		return PKIROLL_ERR_STORE;
	{
		struct {
			long long id;
			char name[256], file[FILE_SAFE_NAME_MAX];
		} *list = NULL;
		size_t n = 0, cap = 0;

		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				void *m = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof(*list));

				if (m == NULL) {
					rc = SQLITE_NOMEM;
					break;
				}
				list = m;
			}
			list[n].id = sqlite3_column_int64(st, 0);
			col_copy(st, 1, list[n].name, sizeof(list[n].name));
			file_safe_name(list[n].name, SAFE_NAME_PORTABLE, list[n].file,
				       sizeof(list[n].file));
			n++;
		}
		store_done(s, st);
		if (rc != SQLITE_DONE) {
			free(list);
			store_sql_error(s, "partners");
			return PKIROLL_ERR_STORE;
		}
		/* one zip per partner, over all of them whatever --partner says: the
		 * older partner keeps a name that differs only in case, the newer
		 * gets its hash; one still shared (a 32-bit hash collision) is
		 * refused below */
		for (size_t i = 0; i < n; i++) {
			size_t k;

			for (k = 0; k < i && strcasecmp(list[k].file, list[i].file) != 0; k++)
				;
			if (k < i)
				file_safe_name(list[i].name, SAFE_NAME_PORTABLE | SAFE_NAME_HASH,
					       list[i].file, sizeof(list[i].file));
		}
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
			partner_clear(&p);
		}
		free(list);
	}
	if (o->partner != NULL && stats->partners == 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "no partner named \"%s\" in the store", o->partner);
		return PKIROLL_ERR_USAGE;
	}
	return err;
}
