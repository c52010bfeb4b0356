/*
 * Certificate facts and fingerprints. Fingerprints are computed here and
 * nowhere else: store, sheets and tests all use pkiroll_fingerprints().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "x509/certinfo.h"
#include "x509/dn.h"

static void hex_colon(const unsigned char *md, unsigned n, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (unsigned i = 0; i < n; i++) {
		out[i * 3] = hex[md[i] >> 4];
		out[i * 3 + 1] = hex[md[i] & 15];
		out[i * 3 + 2] = i + 1 < n ? ':' : '\0';
	}
	if (n == 0)
		out[0] = '\0';
}

int certinfo_digests(const unsigned char *der, size_t len, struct certinfo_digests *d)
{
	return EVP_Digest(der, len, d->md5, NULL, EVP_md5(), NULL) &&
			       EVP_Digest(der, len, d->sha1, NULL, EVP_sha1(), NULL) &&
			       EVP_Digest(der, len, d->sha256, NULL, EVP_sha256(), NULL)
		       ? 0
		       : -1;
}

void certinfo_fingerprints(const struct certinfo_digests *d, struct pkiroll_fingerprints *fp)
{
	hex_colon(d->md5, sizeof(d->md5), fp->md5);
	hex_colon(d->sha1, sizeof(d->sha1), fp->sha1);
	hex_colon(d->sha256, sizeof(d->sha256), fp->sha256);
}

int pkiroll_fingerprints(const unsigned char *der, size_t len, struct pkiroll_fingerprints *fp)
{
	struct certinfo_digests d;

	if (certinfo_digests(der, len, &d) < 0)
		return PKIROLL_ERR_CRYPTO;
	certinfo_fingerprints(&d, fp);
	return PKIROLL_OK;
}

void certinfo_key_type(EVP_PKEY *pkey, char *buf, size_t len)
{
	char group[64];
	size_t glen = 0;

	if (pkey == NULL) {
		snprintf(buf, len, "unknown");
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		snprintf(buf, len, "rsa%d", EVP_PKEY_get_bits(pkey));
	} else if (EVP_PKEY_is_a(pkey, "EC") &&
		   EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &glen)) {
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			snprintf(buf, len, "p256");
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			snprintf(buf, len, "p384");
		else
			snprintf(buf, len, "ec-%s", group);
	} else {
		snprintf(buf, len, "%s", EVP_PKEY_get0_type_name(pkey));
	}
}

static time_t asn1_time_to_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

int certinfo_from_x509(X509 *x, struct pkiroll_cert_info *info)
{
	unsigned char *der = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int len, err = PKIROLL_ERR_NOMEM;

	memset(info, 0, sizeof(*info));
	if ((len = i2d_X509(x, &der)) <= 0)
		return PKIROLL_ERR_CRYPTO;
	if ((err = pkiroll_fingerprints(der, (size_t)len, &info->fp)) != PKIROLL_OK)
		goto out;
	err = PKIROLL_ERR_NOMEM;
	info->subject = dn_format(X509_get_subject_name(x));
	info->issuer = dn_format(X509_get_issuer_name(x));
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL || info->subject == NULL || info->issuer == NULL ||
	    (info->serial = strdup(hex)) == NULL)
		goto out;
	info->not_before = asn1_time_to_time_t(X509_get0_notBefore(x));
	info->not_after = asn1_time_to_time_t(X509_get0_notAfter(x));
	certinfo_key_type(X509_get0_pubkey(x), info->key_type, sizeof(info->key_type));
	err = PKIROLL_OK;
out:
	if (err != PKIROLL_OK)
		certinfo_clear(info);
	OPENSSL_free(der);
	OPENSSL_free(hex);
	BN_free(bn);
	return err;
}

void certinfo_clear(struct pkiroll_cert_info *info)
{
	free(info->subject);
	free(info->issuer);
	free(info->serial);
	info->subject = info->issuer = info->serial = NULL;
}

void pkiroll_cert_info_free(struct pkiroll_cert_info *info, size_t n)
{
	if (info == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		certinfo_clear(&info[i]);
	free(info);
}

int pkiroll_cert_file_info(pkiroll_ctx *ctx, const char *path, struct pkiroll_cert_info **out,
			   size_t *n)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	struct pkiroll_cert_info *info = NULL;
	BIO *b = NULL;
	X509 *x;
	int err = PKIROLL_ERR_NOMEM;

	*out = NULL;
	*n = 0;
	if (certs == NULL)
		goto out;
	if ((b = BIO_new_file(path, "rb")) == NULL) {
		ctx_ossl_error(ctx, path);
		err = PKIROLL_ERR_NOENT;
		goto out;
	}
	/* Phase: PEM (any number of certificates), else one DER. */
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			goto out;
		}
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		(void)BIO_reset(b);
		if ((x = d2i_X509_bio(b, NULL)) == NULL || !sk_X509_push(certs, x)) {
			X509_free(x);
			ctx_log(ctx, PKIROLL_LOG_ERROR,
				"%s: no certificate (neither PEM nor DER X.509)", path);
			ERR_clear_error();
			err = PKIROLL_ERR_CRYPTO;
			goto out;
		}
	}
	if ((info = calloc((size_t)sk_X509_num(certs), sizeof(*info))) == NULL)
		goto out;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		if ((err = certinfo_from_x509(sk_X509_value(certs, i), &info[i])) != PKIROLL_OK) {
			pkiroll_cert_info_free(info, (size_t)i);
			info = NULL;
			goto out;
		}
	}
	*out = info;
	*n = (size_t)sk_X509_num(certs);
	err = PKIROLL_OK;
out:
	BIO_free(b);
	sk_X509_pop_free(certs, X509_free);
	return err;
}

X509 *certinfo_read(const char *dir, const char *name, int pem)
{
	char p[4200];
	FILE *f;
	X509 *x = NULL;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "rb")) != NULL) {
		x = pem ? PEM_read_X509(f, NULL, NULL, NULL) : d2i_X509_fp(f, NULL);
		fclose(f);
	}
	ERR_clear_error();
	return x;
}

int certinfo_serial(const X509 *x, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	int rc = hex != NULL && strlen(hex) < len ? 0 : -1;

	snprintf(buf, len, "%s", rc == 0 ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}
