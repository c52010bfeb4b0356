/*
 * Certificate exchange messages (draft-meadors-certificate-exchange-14):
 * one request per partner and community whose current certificates the
 * partner has not been asked about, as the multipart/related entity a
 * gateway sends over AS2 (optionally S/MIME-signed with the community's
 * previous signing key) and its bare XML; and the partners' responses
 * read back into the store.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/base.h"
#include "base/fileio.h"
#include "input/cem_xml.h"
#include "write/keystore.h"
#include "store/store_cem.h"

/*
 * Requests are written to hidden temporaries, then put in place and
 * recorded in batches: one sync of the file system for the batch's data
 * (a sync per file made cem take about 1 ms per request), the renames,
 * one sync of the partner's directory, one transaction. A request is
 * visible under its name only once its bytes are on disk, and recorded only
 * once its name is.
 */
#define CEM_BATCH 256

struct cem_pending {
	struct cem_written w; /* w.path: the .mime file */
	char community[256];
	char xml[2600];	   /* the .xml file */
	char tmp[2][2600]; /* their temporaries */
	int placed;	   /* how many of the two are renamed into place */
};

struct cem_run {
	pkiroll_store *s;
	const struct pkiroll_cem_opts *o;
	struct pkiroll_cem_stats *st;
	time_t now;
	struct cem_pending *batch; /* CEM_BATCH of them */
	size_t n;
	char dir[2200];	  /* the partner directory of the batch */
	char swept[2200]; /* the last partner directory swept */
	int dirfd;	  /* r->dir, opened before the batch's first file */
	unsigned long staged;
	int store_failed; /* a batch the store refused to record */
};

/* A growing buffer of the entity. */
struct buf {
	char *p;
	size_t n;
	FILE *f;
};

static void serial_dec(const char *hex, char *out, size_t len)
{
	BIGNUM *bn = NULL;
	char *d = NULL;

	if (BN_hex2bn(&bn, hex) > 0)
		d = BN_bn2dec(bn);
	snprintf(out, len, "%s", d ? d : "0");
	OPENSSL_free(d);
	BN_free(bn);
}

/* base64 in lines of 76, CRLF */
static void put_base64(FILE *f, const unsigned char *der, size_t len)
{
	for (size_t i = 0; i < len; i += 57) {
		unsigned char out[80];
		size_t n = len - i < 57 ? len - i : 57;
		int w = EVP_EncodeBlock(out, der + i, (int)n);

		fprintf(f, "%.*s\r\n", w, out);
	}
}

/* A certs-only PKCS#7 of one certificate (RFC 8551 3.2.2). */
static int certs_only(const struct cem_cert *c, unsigned char **out, int *len)
{
	const unsigned char *p = c->der;
	X509 *x = d2i_X509(NULL, &p, (long)c->len);
	PKCS7 *p7 = PKCS7_new();
	int rc = -1;

	*out = NULL;
	if (x != NULL && p7 != NULL && PKCS7_set_type(p7, NID_pkcs7_signed) &&
	    PKCS7_content_new(p7, NID_pkcs7_data) && PKCS7_add_certificate(p7, x) &&
	    (*len = i2d_PKCS7(p7, out)) > 0)
		rc = 0;
	X509_free(x);
	PKCS7_free(p7);
	return rc;
}

/* The multipart/related entity: the XML (CRLF lines), then each certificate. */
static int entity(const struct cem_due *d, const char *rid, const unsigned char *xml, size_t xlen,
		  char **out, size_t *outlen)
{
	FILE *f = open_memstream(out, outlen);

	if (f == NULL)
		return -1;
	fprintf(f,
		"Content-Type: multipart/related; type=\"application/ediint-cert-exchange+xml\";"
		" boundary=\"%s\"\r\n\r\n",
		rid);
	fprintf(f,
		"--%s\r\nContent-Type: application/ediint-cert-exchange+xml\r\n"
		"Content-ID: <request-%s@pkiroll>\r\n\r\n",
		rid, rid);
	for (size_t i = 0; i < xlen; i++) {
		if (xml[i] == '\n' && (i == 0 || xml[i - 1] != '\r'))
			fputc('\r', f);
		fputc(xml[i], f);
	}
	for (int i = 0; i < d->ncert; i++) {
		unsigned char *p7 = NULL;
		int n = 0;

		if (certs_only(&d->cert[i], &p7, &n) < 0) {
			fclose(f);
			free(*out);
			return -1;
		}
		fprintf(f,
			"\r\n--%s\r\nContent-Type: application/pkcs7-mime; "
			"smime-type=certs-only\r\n"
			"Content-Transfer-Encoding: base64\r\nContent-ID: <%s-%s@pkiroll>\r\n\r\n",
			rid, d->cert[i].usage, rid);
		put_base64(f, p7, (size_t)n);
		OPENSSL_free(p7);
	}
	fprintf(f, "--%s--\r\n", rid);
	return fclose(f) == 0 ? 0 : -1;
}

/*
 * S/MIME-signs the entity (multipart/signed, SHA-256) with the community's
 * previous signing key, from the keystore the renewal kept. 1 signed, 0
 * no previous key (unsigned), -1 error.
 */
static int sign_entity(struct cem_run *r, const struct cem_due *d, char **ent, size_t *len)
{
	struct keystore_content k;
	char dir[2048], file[160], err[600];
	BIO *in = NULL, *out = NULL;
	CMS_ContentInfo *cms = NULL;
	char *data;
	long n;
	int rc = -1, flags = CMS_DETACHED | CMS_BINARY | CMS_STREAM;

	if (d->replaced_serial[0] == '\0')
		return 0;
	snprintf(dir, sizeof(dir), "%s/%s", r->o->keystore_dir, d->ksdir);
	snprintf(file, sizeof(file), "keystore-%s.p12", d->replaced_serial);
	if (keystore_load(dir, file, r->o->pass, &k, err, sizeof(err)) != 1 || k.sign_key == NULL ||
	    k.sign_cert == NULL) {
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s: the previous signing key: %s",
			d->community, err[0] ? err : "not in its keystore");
		keystore_content_free(&k);
		return -1;
	}
	/* streaming: the signature is made as the entity is written (a detached
	 * signature made first and written after fails 3.0's attribute check) */
	if ((in = BIO_new_mem_buf(*ent, (int)*len)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL ||
	    (cms = CMS_sign(k.sign_cert, k.sign_key, NULL, in, flags)) == NULL ||
	    !SMIME_write_CMS(out, cms, in, flags | CMS_CRLFEOL)) {
		ctx_ossl_error(r->s->ctx, "S/MIME signing of the CEM request");
		goto out;
	}
	if ((n = BIO_get_mem_data(out, &data)) > 0) {
		char *p = malloc((size_t)n);

		if (p != NULL) {
			memcpy(p, data, (size_t)n);
			free(*ent);
			*ent = p;
			*len = (size_t)n;
			rc = 1;
		}
	}
out:
	ERR_clear_error();
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	keystore_content_free(&k);
	return rc;
}

/* Takes back the requests of the batch from k on that are not recorded:
 * their files, in place or not, are removed and each counts as failed. */
static void batch_drop(struct cem_run *r, size_t k)
{
	for (; k < r->n; k++) {
		struct cem_pending *p = &r->batch[k];

		unlink(p->placed > 0 ? p->xml : p->tmp[0]);
		unlink(p->placed > 1 ? p->w.path : p->tmp[1]);
		r->st->failed++;
	}
	r->n = 0;
}

/* Puts the batch's requests in place and records them (see CEM_BATCH);
 * each one that cannot be is removed, logged and counted as failed. fd:
 * the directory, opened before the first file was written (syncfs reports
 * only the write-back errors since its descriptor was opened). */
static void batch_put(struct cem_run *r, int fd)
{
	size_t good = 0;

	if (r->n == 0)
		return;
	if (syncfs(fd) < 0) {
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s: cannot sync: %s", r->dir,
			strerror(errno));
		batch_drop(r, 0);
		return;
	}
	for (size_t k = 0; k < r->n; k++) {
		struct cem_pending *p = &r->batch[k];

		if (rename(p->tmp[0], p->xml) == 0 && (p->placed = 1) &&
		    rename(p->tmp[1], p->w.path) == 0) {
			p->placed = 2;
			if (k != good)
				r->batch[good] = *p;
			good++;
			continue;
		}
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s: %s", p->placed ? p->w.path : p->xml,
			strerror(errno));
		unlink(p->placed ? p->xml : p->tmp[0]);
		unlink(p->tmp[1]);
		r->st->failed++;
	}
	r->n = good;
	if (good == 0)
		return;
	if (fsync(fd) < 0) {
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s: cannot sync: %s", r->dir,
			strerror(errno));
		batch_drop(r, 0);
		return;
	}
	/* one array of the records for the store */
	struct cem_written *w = malloc(good * sizeof(*w));

	if (w == NULL) {
		batch_drop(r, 0);
		return;
	}
	for (size_t k = 0; k < good; k++)
		w[k] = r->batch[k].w;
	if (store_cem_requests_add(r->s, w, good) < 0) {
		free(w);
		r->store_failed = 1;
		batch_drop(r, 0);
		return;
	}
	free(w);
	for (size_t k = 0; k < good; k++) {
		const struct cem_pending *p = &r->batch[k];

		r->st->written++;
		if (p->w.is_signed)
			r->st->signed_++;
		ctx_log(r->s->ctx, PKIROLL_LOG_INFO, "%s -> %s: %s (%d certificate%s%s)",
			p->community, p->w.partner, p->w.path, p->w.ncert,
			p->w.ncert == 1 ? "" : "s", p->w.is_signed ? ", signed" : "");
	}
	r->n = 0;
}

static void batch_flush(struct cem_run *r)
{
	if (r->dirfd >= 0) {
		batch_put(r, r->dirfd);
		close(r->dirfd);
		r->dirfd = -1;
	}
}

/* Is name a temporary of a request ours, left by a run that stopped before
 * putting it in place: ".COMMUNITY-pkiroll-ID.xml.XXXXXX" or .mime, ID 16
 * hex digits, XXXXXX mkstemp's letters and digits? Nothing else is taken
 * for one (an operator's file that merely looks alike is left alone). */
static int stale_temporary(const char *name)
{
	size_t n = strlen(name), ext;
	const char *id;

	if (n < 2 + 9 + 16 + 4 + 7 || name[0] != '.' || name[n - 7] != '.')
		return 0;
	for (size_t i = n - 6; i < n; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	if (strncmp(name + n - 11, ".xml", 4) == 0)
		ext = 4;
	else if (n >= 2 + 9 + 16 + 5 + 7 && strncmp(name + n - 12, ".mime", 5) == 0)
		ext = 5;
	else
		return 0;
	id = name + n - 7 - ext - 16;
	if (strncmp(id - 9, "-pkiroll-", 9) != 0)
		return 0;
	for (int i = 0; i < 16; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return 0;
	return 1;
}

/* Removes the temporaries an interrupted run left in a partner directory
 * (never recorded, never visible under a request's name: the requests they
 * held are due again and written anew). */
static void sweep_dir(struct cem_run *r, const char *pdir)
{
	DIR *d;
	struct dirent *e;
	char path[2600];

	if (strcmp(r->swept, pdir) == 0 || (d = opendir(pdir)) == NULL)
		return;
	snprintf(r->swept, sizeof(r->swept), "%s", pdir);
	while ((e = readdir(d)) != NULL) {
		struct stat sb;

		if (!stale_temporary(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pdir, e->d_name);
		/* mkstemp makes regular files: a link or anything else is not ours */
		if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(path) == 0)
			ctx_log(r->s->ctx, PKIROLL_LOG_INFO,
				"%s: removed, left by an interrupted run", path);
	}
	closedir(d);
}

static int write_one(void *arg, struct cem_due *d)
{
	struct cem_run *r = arg;
	struct cem_cert_ref refs[2];
	struct cem_pending *p;
	char rid[40], dec[2][128], cid[2][96], pdir[2200], pname[FILE_SAFE_NAME_MAX],
		cname[FILE_SAFE_NAME_MAX], fn[300];
	unsigned char rnd[8], *xml = NULL;
	char *ent = NULL;
	size_t xlen = 0, elen = 0;
	int sig = 0, rc = -1;
	const char *url = d->response_url[0] ? d->response_url : r->o->response_url;

	if (d->ncert == 0)
		return 0;
	if (url == NULL || url[0] == '\0') {
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR,
			"%s: no CEM response URL (cem_response_url in the manifest or the "
			"configuration): no request to %s",
			d->community, d->partner);
		r->st->failed++;
		return 0;
	}
	/* Phase: the request's id and XML. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	snprintf(rid, sizeof(rid), "pkiroll-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	for (int i = 0; i < d->ncert; i++) {
		serial_dec(d->cert[i].serial, dec[i], sizeof(dec[i]));
		snprintf(cid[i], sizeof(cid[i]), "%s-%s@pkiroll", d->cert[i].usage, rid);
		refs[i] = (struct cem_cert_ref){strcmp(d->cert[i].usage, "signing") == 0
							? "digitalSignature"
							: "keyEncipherment",
						d->cert[i].issuer, dec[i], cid[i]};
	}
	if (cem_request_xml(rid, d->as2_id, r->now, r->now + r->o->respond_within, url, refs,
			    d->ncert, &xml, &xlen) < 0 ||
	    entity(d, rid, xml, xlen, &ent, &elen) < 0) {
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s: cannot build the CEM request to %s",
			d->community, d->partner);
		goto out;
	}
	if (r->o->sign && (sig = sign_entity(r, d, &ent, &elen)) < 0)
		goto out;
	if (r->o->sign && sig == 0) {
		ctx_log(r->s->ctx, PKIROLL_LOG_WARN,
			"%s: first enrollment, no previous signing key: the request to %s goes "
			"unsigned",
			d->community, d->partner);
		r->st->unsigned_first++;
	}

	/* Phase: the files, then the record. */
	file_safe_name(d->partner, SAFE_NAME_PORTABLE, pname, sizeof(pname));
	file_safe_name(d->community, SAFE_NAME_PORTABLE, cname, sizeof(cname));
	if (snprintf(pdir, sizeof(pdir), "%s/%s", r->o->out_dir, pname) >= (int)sizeof(pdir)) {
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s/%s: path too long", r->o->out_dir, pname);
		goto out;
	}
	/* out_dir itself was made by out_dir_abs() */
	if (mkdir(pdir, 0755) < 0 && errno != EEXIST) {
		ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s: %s", pdir, strerror(errno));
		goto out;
	}
	if (r->n > 0 && strcmp(r->dir, pdir) != 0)
		batch_flush(r); /* counts its own failures */
	sweep_dir(r, pdir);
	p = &r->batch[r->n];
	memset(p, 0, sizeof(*p));
	snprintf(fn, sizeof(fn), "%s-%s.xml", cname, rid);
	if (r->n == 0) {
		if (r->dirfd >= 0)
			close(r->dirfd);
		if ((r->dirfd = open(pdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			goto io;
	}
	snprintf(p->xml, sizeof(p->xml), "%s/%s", pdir, fn);
	if (file_stage_write(pdir, fn, xml, xlen, 0644, 0, p->tmp[0], sizeof(p->tmp[0])) < 0)
		goto io;
	snprintf(fn, sizeof(fn), "%s-%s.mime", cname, rid);
	if (file_stage_write(pdir, fn, ent, elen, 0644, 0, p->tmp[1], sizeof(p->tmp[1])) < 0) {
		unlink(p->tmp[0]);
		goto io;
	}
	snprintf(p->w.path, sizeof(p->w.path), "%s/%s", pdir, fn);
	snprintf(p->w.request_id, sizeof(p->w.request_id), "%s", rid);
	snprintf(p->w.partner, sizeof(p->w.partner), "%s", d->partner);
	snprintf(p->community, sizeof(p->community), "%s", d->community);
	p->w.partner_id = d->partner_id;
	p->w.community_id = d->community_id;
	p->w.ncert = d->ncert;
	for (int i = 0; i < d->ncert; i++)
		p->w.cert_id[i] = d->cert[i].id;
	p->w.is_signed = sig == 1;
	snprintf(r->dir, sizeof(r->dir), "%s", pdir);
	r->n++;
	if (r->o->kill_after > 0 && ++r->staged >= r->o->kill_after)
		raise(SIGKILL);
	rc = 0;
	if (r->n == CEM_BATCH)
		batch_flush(r);
	goto out;
io:
	ctx_log(r->s->ctx, PKIROLL_LOG_ERROR, "%s/%s: %s", pdir, fn, strerror(errno));
out:
	if (rc < 0)
		r->st->failed++;
	free(xml);
	free(ent);
	return 0;
}

/* The longest output directory: its partner folders, the requests' names
 * and their temporaries must fit the paths of a batch (pdir, xml, tmp). */
#define CEM_OUT_MAX 1800

/*
 * The output directory as the absolute path it physically is, into *abs
 * (the caller frees it), made when missing: the paths recorded must lead
 * to the requests from wherever `bundle --cem` runs (cron's directory is
 * not the operator's) and whatever happens later to the directory they
 * were written from (a `..` through it, a symlink re-pointed). PKIROLL_OK,
 * or an error (logged).
 */
static int out_dir_abs(struct pkiroll_store *s, const char *out, char **abs)
{
	size_t len = strlen(out);
	char *cwd;

	*abs = NULL;
	if (out[0] == '\0') {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"cem: the output directory (--out or cem_dir) is empty");
		return PKIROLL_ERR_CONFIG;
	}
	if (out[0] != '/') {
		if ((cwd = getcwd(NULL, 0)) == NULL) {
			ctx_log(s->ctx, PKIROLL_LOG_ERROR, "cem: %s: the working directory: %s",
				out, strerror(errno));
			return PKIROLL_ERR_IO;
		}
		len += strlen(cwd) + 1;
		free(cwd);
	}
	/* too long as written: refused before anything is made; resolved
	 * (a symlink may lengthen it): refused after */
	if (len <= CEM_OUT_MAX) {
		if ((mkdir(out, 0755) < 0 && errno != EEXIST) ||
		    (*abs = realpath(out, NULL)) == NULL) {
			ctx_log(s->ctx, PKIROLL_LOG_ERROR, "cem: %s: %s", out, strerror(errno));
			return PKIROLL_ERR_CONFIG;
		}
		if (strlen(*abs) <= CEM_OUT_MAX)
			return PKIROLL_OK;
	}
	ctx_log(s->ctx, PKIROLL_LOG_ERROR,
		"cem: %s: the output directory's path is too long (over %d bytes)",
		*abs != NULL ? *abs : out, CEM_OUT_MAX);
	free(*abs);
	*abs = NULL;
	return PKIROLL_ERR_CONFIG;
}

int pkiroll_cem_write(pkiroll_store *s, const struct pkiroll_cem_opts *o,
		      struct pkiroll_cem_stats *st)
{
	struct pkiroll_cem_opts abs = *o;
	struct cem_run r = {.s = s, .o = &abs, .st = st, .now = time(NULL), .dirfd = -1};
	char *dir = NULL;
	int err;

	memset(st, 0, sizeof(*st));
	if (o->out_dir == NULL || (o->sign && (o->pass == NULL || o->keystore_dir == NULL)))
		return PKIROLL_ERR_USAGE;
	if ((err = out_dir_abs(s, o->out_dir, &dir)) != PKIROLL_OK)
		return err;
	abs.out_dir = dir;
	/* signing opens keystores: with the store's passphrase, or not at all */
	if (o->sign && (err = keystore_pass_guard(s, o->keystore_dir, o->pass)) != PKIROLL_OK) {
		free(dir);
		return err;
	}
	if ((r.batch = calloc(CEM_BATCH, sizeof(*r.batch))) == NULL) {
		free(dir);
		return PKIROLL_ERR_NOMEM;
	}
	err = store_cem_due(s, o->partners, o->npartners, o->communities, o->ncommunities,
			    o->reissue, write_one, &r);
	batch_flush(&r);
	free(r.batch);
	free(dir);
	if (err < 0 || r.store_failed)
		return PKIROLL_ERR_STORE;
	return st->failed ? PKIROLL_ERR_IO : PKIROLL_OK;
}

int pkiroll_cem_response(pkiroll_store *s, const char *file)
{
	struct cem_response resp;
	struct cem_answer *a = NULL;
	char err[700], why[800], (*hex)[80] = NULL;
	unsigned char *data = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int rc = 1;

	/* Phase: the file, bounded, then its XML. */
	if ((f = file_fopen_regular(file, NULL, why, sizeof(why))) == NULL) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "%s; nothing recorded", why);
		return 1;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			if (cap > CEM_MAX_INPUT) {
				fclose(f);
				free(data);
				ctx_log(s->ctx, PKIROLL_LOG_ERROR,
					"%s: larger than %d MiB: not a CEM response; nothing "
					"recorded",
					file, CEM_MAX_INPUT >> 20);
				return 1;
			}
			/* read in 64 KiB at least, the buffer doubling */
			if (BASE_GROW(data, cap, len + 65536) < 0) {
				fclose(f);
				free(data);
				return PKIROLL_ERR_NOMEM;
			}
		}
		if ((got = fread(data + len, 1, cap - len, f)) == 0)
			break;
		len += got;
	}
	fclose(f);
	if (cem_response_parse(data, len, &resp, err, sizeof(err)) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "%s: %s; nothing recorded", file, err);
		free(data);
		return 1;
	}
	free(data);

	/* Phase: its answers, all or none. */
	if ((a = calloc((size_t)resp.ntrust, sizeof(*a))) == NULL ||
	    (hex = calloc((size_t)resp.ntrust, sizeof(*hex))) == NULL) {
		rc = PKIROLL_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < resp.ntrust; i++) {
		BIGNUM *bn = NULL;
		char *h = NULL;

		if (BN_dec2bn(&bn, resp.trust[i].serial_dec) > 0)
			h = BN_bn2hex(bn);
		snprintf(hex[i], sizeof(hex[i]), "%s", h ? h : "");
		OPENSSL_free(h);
		BN_free(bn);
		a[i] = (struct cem_answer){resp.trust[i].status, resp.trust[i].reason, hex[i],
					   resp.trust[i].issuer};
	}
	/* Phase: one answer per certificate: contradicting ones refuse the file. */
	for (int i = 0; i < resp.ntrust; i++)
		for (int k = i + 1; k < resp.ntrust; k++)
			if (strcmp(hex[i], hex[k]) == 0 &&
			    (strcmp(a[i].status, a[k].status) != 0 ||
			     strcmp(a[i].reason, a[k].reason) != 0)) {
				ctx_log(s->ctx, PKIROLL_LOG_ERROR,
					"%s: TrustResponse[%d] and TrustResponse[%d] answer "
					"certificate serial %s differently (%s, %s); nothing "
					"recorded",
					file, i + 1, k + 1, hex[i], a[i].status, a[k].status);
				rc = 1;
				goto out;
			}
	switch (store_cem_answer(s, resp.request_id, resp.as2_id, resp.originated, a, resp.ntrust,
				 err, sizeof(err))) {
	case 0:
		ctx_log(s->ctx, PKIROLL_LOG_INFO, "%s: request %s: %d answer%s recorded", file,
			resp.request_id, resp.ntrust, resp.ntrust == 1 ? "" : "s");
		rc = 0;
		break;
	case 1:
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "%s: %s; nothing recorded", file, err);
		rc = 1;
		break;
	default:
		rc = PKIROLL_ERR_STORE;
	}
out:
	free(a);
	free(hex);
	cem_response_free(&resp);
	return rc;
}
