/*
 * pkiroll export: a community's certificates as DER, PEM or a certs-only
 * PKCS#7 with the chain, from the store; or its keystore re-wrapped under
 * a new passphrase, for a gateway to import.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "base/base.h"
#include "write/keystore.h"
#include "x509/certinfo.h"
#include "store/store_lifecycle.h"

static X509 *parse(const struct export_cert *c)
{
	const unsigned char *p = c->der;

	return d2i_X509(NULL, &p, (long)c->len);
}

/* Bytes of a memory BIO, into a new buffer. */
static int take_bio(BIO *b, unsigned char **out, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || (*out = OPENSSL_malloc((size_t)n)) == NULL)
		return -1;
	memcpy(*out, data, (size_t)n);
	*len = (size_t)n;
	return 0;
}

/* A certs-only SignedData (RFC 2315 9.1, as .p7b files are). */
static int certs_only(const struct export_set *e, unsigned char **out, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	int n, rc = -1;
	unsigned char *der = NULL;

	if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data))
		goto out;
	for (int i = 0; i < e->ncert + e->nchain; i++) {
		X509 *x = parse(i < e->ncert ? &e->cert[i] : &e->chain[i - e->ncert]);
		int ok = x != NULL && PKCS7_add_certificate(p7, x);

		X509_free(x);
		if (!ok)
			goto out;
	}
	if ((n = i2d_PKCS7(p7, &der)) <= 0)
		goto out;
	*out = der;
	*len = (size_t)n;
	rc = 0;
out:
	PKCS7_free(p7);
	return rc;
}

/* The store's certificate of one usage in e, or NULL. */
static const struct export_cert *of_usage(const struct export_set *e, const char *usage)
{
	for (int i = 0; i < e->ncert; i++)
		if (strcmp(e->cert[i].usage, usage) == 0)
			return &e->cert[i];
	return NULL;
}

/*
 * Does the keystore's certificate of this usage belong to the community:
 * the same certificate (so the same serial) as the store's current one, or
 * neither has one? As revoke checks before it signs. 0, or -1 with why.
 */
static int belongs(const struct export_set *e, const char *usage, X509 *have, char *why,
		   size_t whylen)
{
	const struct export_cert *want = of_usage(e, usage);
	char hs[80] = "none", ws[80] = "none";
	X509 *w = NULL;
	int same;

	if (want == NULL && have == NULL)
		return 0;
	if (want != NULL)
		w = parse(want);
	if (have != NULL)
		certinfo_serial(have, hs, sizeof(hs));
	if (w != NULL)
		certinfo_serial(w, ws, sizeof(ws));
	same = w != NULL && have != NULL && X509_cmp(w, have) == 0;
	X509_free(w);
	if (same)
		return 0;
	snprintf(why, whylen,
		 "its keystore.p12 is not its own: the keystore's %s certificate is serial %s, "
		 "the store's current one serial %s (another community's or an old keystore?); "
		 "nothing exported",
		 usage, hs, ws);
	return -1;
}

/* The keystore of the usages in mask, under out_pass, once its certificates
 * are the ones the store has for the community (e). */
static int rewrap(pkiroll_ctx *ctx, const struct pkiroll_export_opts *o, const struct export_set *e,
		  int mask, unsigned char **out, size_t *len)
{
	struct keystore_content k;
	char dir[2048], err[600];
	int g, rc = -1;

	snprintf(dir, sizeof(dir), "%s/%s", o->keystore_dir, e->ksdir);
	if ((g = keystore_load(dir, "keystore.p12", o->pass, &k, err, sizeof(err))) <= 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", o->community,
			g == 0 ? "no keystore.p12 in its keystore directory" : err);
		return PKIROLL_ERR_IO;
	}
	/* Phase: the keystore is the community's, for every usage it exports. */
	if (((mask & USAGE_SIGNING) && belongs(e, "signing", k.sign_cert, err, sizeof(err)) < 0) ||
	    ((mask & USAGE_ENCRYPTION) &&
	     belongs(e, "encryption", k.enc_cert, err, sizeof(err)) < 0)) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", o->community, err);
		keystore_content_free(&k);
		return PKIROLL_ERR_IO;
	}
	{
		struct keystore_in in = {
			.pass = o->out_pass,
			.sign_key = mask & USAGE_SIGNING ? k.sign_key : NULL,
			.sign_cert = k.sign_cert,
			.enc_key = mask & USAGE_ENCRYPTION ? k.enc_key : NULL,
			.enc_cert = k.enc_cert,
			.chain = k.chain,
			.legacy = o->legacy,
			/* the earlier decryption keys go with the encryption key */
			.history = k.history,
			.nhistory = mask & USAGE_ENCRYPTION ? k.nhistory : 0,
		};

		if (in.sign_key == NULL && in.enc_key == NULL)
			rc = PKIROLL_ERR_NOCERT;
		else
			rc = keystore_p12(&in, out, len) == 0 ? PKIROLL_OK : PKIROLL_ERR_CRYPTO;
	}
	keystore_content_free(&k);
	return rc;
}

int pkiroll_export(pkiroll_store *s, const struct pkiroll_export_opts *o, unsigned char **out,
		   size_t *len)
{
	struct export_set e;
	int one = o->format == PKIROLL_EXPORT_DER || o->format == PKIROLL_EXPORT_PEM;
	int mask = o->usage ? o->usage : one ? USAGE_SIGNING : USAGE_SIGNING | USAGE_ENCRYPTION;
	int g, rc = PKIROLL_ERR_CRYPTO;

	*out = NULL;
	*len = 0;
	/* Phase: what was asked makes sense. */
	if (one && mask == (USAGE_SIGNING | USAGE_ENCRYPTION) && o->serial == NULL) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"%s: der and pem hold one certificate: --usage signing or encryption, or "
			"--format p7b for both",
			o->community);
		return PKIROLL_ERR_USAGE;
	}
	if (o->format == PKIROLL_EXPORT_P12 && (o->serial != NULL || o->pass == NULL ||
						o->out_pass == NULL || o->keystore_dir == NULL)) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"%s: p12 needs the keystore passphrase and a new one, and exports the "
			"current keys only (no --serial)",
			o->community);
		return PKIROLL_ERR_USAGE;
	}
	/* the keystore's passphrase is the store's, or nothing is read */
	if (o->format == PKIROLL_EXPORT_P12 &&
	    (rc = keystore_pass_guard(s, o->keystore_dir, o->pass)) != PKIROLL_OK)
		return rc;
	rc = PKIROLL_ERR_CRYPTO;
	if ((g = store_export_certs(s, o->community, o->serial ? 3 : mask, o->serial, &e)) < 0)
		return PKIROLL_ERR_STORE;
	if (g == 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "no community \"%s\" in the store",
			o->community);
		return PKIROLL_ERR_USAGE;
	}
	if (e.ncert == 0) {
		if (o->serial != NULL)
			ctx_log(s->ctx, PKIROLL_LOG_ERROR, "%s: no certificate with serial %s",
				o->community, o->serial);
		else
			ctx_log(s->ctx, PKIROLL_LOG_ERROR, "%s: no current%s certificate",
				o->community,
				mask == USAGE_SIGNING	   ? " signing"
				: mask == USAGE_ENCRYPTION ? " encryption"
							   : "");
		store_export_clear(&e);
		return PKIROLL_ERR_NOCERT;
	}

	/* Phase: the bytes. */
	switch (o->format) {
	case PKIROLL_EXPORT_DER:
		if ((*out = OPENSSL_malloc(e.cert[0].len)) != NULL) {
			memcpy(*out, e.cert[0].der, e.cert[0].len);
			*len = e.cert[0].len;
			rc = PKIROLL_OK;
		}
		break;
	case PKIROLL_EXPORT_PEM: {
		BIO *b = BIO_new(BIO_s_mem());
		X509 *x = parse(&e.cert[0]);

		if (b != NULL && x != NULL && PEM_write_bio_X509(b, x) &&
		    take_bio(b, out, len) == 0)
			rc = PKIROLL_OK;
		X509_free(x);
		BIO_free(b);
		break;
	}
	case PKIROLL_EXPORT_P7B:
		rc = certs_only(&e, out, len) == 0 ? PKIROLL_OK : PKIROLL_ERR_CRYPTO;
		break;
	case PKIROLL_EXPORT_P12:
		rc = rewrap(s->ctx, o, &e, mask, out, len);
		break;
	default:
		rc = PKIROLL_ERR_USAGE;
	}
	store_export_clear(&e);
	ERR_clear_error();
	return rc;
}
