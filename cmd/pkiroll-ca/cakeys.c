/*
 * pkiroll-ca's keys and certificates in its state directory: made by
 * `init`, loaded by `serve`.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "castate.h"
#include "ca_internal.h"
#include "mint.h"

/* Writes a certificate or a key as a PEM file, 0600, atomically and synced. */
static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -1;

	if (b != NULL &&
	    (x ? PEM_write_bio_X509(b, x)
	       : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		rc = file_atomic_write(dir, name, data, (size_t)n, 0600, 1);
	BIO_free(b);
	return rc;
}

static X509_NAME *cn(const char *s)
{
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"pkiroll test PKI",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)s, -1, -1, 0);
	return n;
}

int ca_init(const char *dir, int key_type, int intermediate)
{
	EVP_PKEY *rk = NULL, *ik = NULL;
	X509 *root = NULL, *ica = NULL;
	X509_NAME *rn = cn("pkiroll test root CA"), *in = cn("pkiroll test issuing CA");
	int rc = -1;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "pkiroll-ca: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	chmod(dir, 0700);
	if ((rk = keys_generate(key_type)) == NULL ||
	    (root = ca_mint(NULL, rk, rn, rk, NULL, MINT_CA, 10L * 365 * 86400)) == NULL)
		goto fail;
	if (intermediate &&
	    ((ik = keys_generate(key_type)) == NULL ||
	     (ica = ca_mint(root, rk, in, ik, NULL, MINT_CA, 5L * 365 * 86400)) == NULL))
		goto fail;
	if (write_pem(dir, "root.key", NULL, rk) < 0 || write_pem(dir, "root.pem", root, NULL) < 0)
		goto fail;
	if (ica != NULL) {
		if (write_pem(dir, "issuing.key", NULL, ik) < 0 ||
		    write_pem(dir, "issuing.pem", ica, NULL) < 0)
			goto fail;
	} else {
		char p[4096];

		snprintf(p, sizeof(p), "%s/issuing.key", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/issuing.pem", dir);
		unlink(p);
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "pkiroll-ca: %s: cannot create the CA\n", dir);
out:
	ERR_clear_error();
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	X509_free(root);
	X509_free(ica);
	X509_NAME_free(rn);
	X509_NAME_free(in);
	return rc;
}

static EVP_PKEY *read_key(const char *dir, const char *name)
{
	char p[4096];
	FILE *f;
	EVP_PKEY *k = NULL;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "r")) != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	return k;
}

int ca_keys_load(const char *dir, struct ca_keys *k)
{
	X509 *ica = certinfo_read(dir, "issuing.pem", 1);

	memset(k, 0, sizeof(*k));
	k->root = certinfo_read(dir, "root.pem", 1);
	k->chain = sk_X509_new_null();
	k->trust = X509_STORE_new();
	if (k->root == NULL || k->chain == NULL || k->trust == NULL) {
		fprintf(stderr, "pkiroll-ca: %s: no CA here (run pkiroll-ca init --state %s)\n",
			dir, dir);
		X509_free(ica);
		ca_keys_free(k);
		return -1;
	}
	if (ica != NULL) {
		k->cert = ica;
		k->key = read_key(dir, "issuing.key");
		sk_X509_push(k->chain, ica);
		X509_up_ref(ica);
	} else {
		k->cert = k->root;
		X509_up_ref(k->root);
		k->key = read_key(dir, "root.key");
	}
	X509_add_cert(k->chain, k->root, X509_ADD_FLAG_UP_REF);
	X509_STORE_add_cert(k->trust, k->root);
	if (k->key == NULL) {
		fprintf(stderr, "pkiroll-ca: %s: cannot read the CA key\n", dir);
		ca_keys_free(k);
		return -1;
	}
	ERR_clear_error();
	return 0;
}

void ca_keys_free(struct ca_keys *k)
{
	EVP_PKEY_free(k->key);
	X509_free(k->cert);
	X509_free(k->root);
	sk_X509_pop_free(k->chain, X509_free);
	X509_STORE_free(k->trust);
	memset(k, 0, sizeof(*k));
}
