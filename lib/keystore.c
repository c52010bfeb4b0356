/*
 * PKCS#12 keystores and certificate copies, written atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "keystore.h"

int atomic_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		 int durable)
{
	char tmp[4096], path[4096];
	const unsigned char *p = data;
	int fd, saved;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	if ((fd = mkstemp(tmp)) < 0)
		return -1;
	if (fchmod(fd, (mode_t)mode) < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if ((durable && fsync(fd) < 0) || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

void keystore_dirname(const char *community, char *out, size_t len)
{
	unsigned char md[32];
	size_t n = 0;
	int changed = 0;

	for (const char *s = community; *s != '\0' && n + 10 < len && n < 96; s++) {
		unsigned char c = (unsigned char)*s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '-' || c == '_' || (c == '.' && n > 0);

		out[n++] = ok ? (char)c : '_';
		changed |= !ok;
	}
	if (strlen(community) > n)
		changed = 1;
	out[n] = '\0';
	/* names that had to change get a hash, so two never share a directory */
	if (changed && EVP_Digest(community, strlen(community), md, NULL, EVP_sha256(), NULL))
		snprintf(out + n, len - n, "-%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

static int pem_of(X509 *x, char **buf, long *len, BIO **b)
{
	char *data;

	if ((*b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(*b, x))
		return -1;
	*len = BIO_get_mem_data(*b, &data);
	*buf = data;
	return 0;
}

/* certificate as NAME.pem and NAME.cer */
static int write_cert(const char *dir, const char *name, X509 *x)
{
	unsigned char *der = NULL;
	char fn[64], *pem;
	long pl;
	BIO *b = NULL;
	int dl, rc = -1;

	if ((dl = i2d_X509(x, &der)) <= 0 || pem_of(x, &pem, &pl, &b) < 0)
		goto out;
	snprintf(fn, sizeof(fn), "%s.cer", name);
	if (atomic_write(dir, fn, der, (size_t)dl, 0600, 0) < 0)
		goto out;
	snprintf(fn, sizeof(fn), "%s.pem", name);
	rc = atomic_write(dir, fn, pem, (size_t)pl, 0600, 0);
out:
	OPENSSL_free(der);
	BIO_free(b);
	return rc;
}

/* A key bag and its certificate bag, paired by localKeyID, named. */
static int add_pair(STACK_OF(PKCS12_SAFEBAG) **keys, STACK_OF(PKCS12_SAFEBAG) **certs,
		    EVP_PKEY *key, X509 *cert, const char *name, const char *pass, int key_nid,
		    int iter)
{
	unsigned char id[EVP_MAX_MD_SIZE];
	unsigned int idlen = 0;
	PKCS12_SAFEBAG *kb, *cb;

	if (!X509_digest(cert, EVP_sha1(), id, &idlen))
		return -1;
	if ((cb = PKCS12_add_cert(certs, cert)) == NULL ||
	    !PKCS12_add_friendlyname_utf8(cb, name, -1) || !PKCS12_add_localkeyid(cb, id, (int)idlen))
		return -1;
	if ((kb = PKCS12_add_key_ex(keys, key, 0, iter, key_nid, pass, NULL, NULL)) == NULL ||
	    !PKCS12_add_friendlyname_utf8(kb, name, -1) || !PKCS12_add_localkeyid(kb, id, (int)idlen))
		return -1;
	return 0;
}

static int write_p12(const char *dir, const struct keystore_in *in)
{
	int key_nid = in->legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
	int cert_nid = in->legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
	int iter = PKCS12_DEFAULT_ITER, rc = -1, n;
	STACK_OF(PKCS12_SAFEBAG) *keys = NULL, *certs = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	unsigned char *der = NULL;
	PKCS12 *p12 = NULL;

	if (add_pair(&keys, &certs, in->sign_key, in->sign_cert, "signing", in->pass, key_nid, iter) < 0)
		goto out;
	if (in->enc_key != NULL &&
	    add_pair(&keys, &certs, in->enc_key, in->enc_cert, "encryption", in->pass, key_nid, iter) < 0)
		goto out;
	for (int i = 0; i < sk_X509_num(in->chain); i++)
		if (PKCS12_add_cert(&certs, sk_X509_value(in->chain, i)) == NULL)
			goto out;
	if (!PKCS12_add_safe_ex(&safes, certs, cert_nid, iter, in->pass, NULL, NULL) ||
	    !PKCS12_add_safe_ex(&safes, keys, -1, 0, NULL, NULL, NULL) ||
	    (p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL)) == NULL ||
	    !PKCS12_set_mac(p12, in->pass, -1, NULL, 0, iter, in->legacy ? EVP_sha1() : EVP_sha256()) ||
	    (n = i2d_PKCS12(p12, &der)) <= 0)
		goto out;
	/* the keys exist nowhere else: on disk before anyone relies on them */
	rc = atomic_write(dir, "keystore.p12", der, (size_t)n, 0600, 1);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	PKCS12_free(p12);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_PKCS12_SAFEBAG_pop_free(keys, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(certs, PKCS12_SAFEBAG_free);
	return rc;
}

int keystore_write(const struct keystore_in *in, char *path, size_t pathlen, char *err,
		   size_t errlen)
{
	char name[128];
	BIO *b = NULL;
	char *data;
	long n;

	/* Phase: the directories, private. */
	if (mkdir(in->base, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", in->base, strerror(errno));
		return -1;
	}
	keystore_dirname(in->community, name, sizeof(name));
	if (snprintf(path, pathlen, "%s/%s", in->base, name) >= (int)pathlen) {
		snprintf(err, errlen, "keystore path too long");
		return -1;
	}
	if ((mkdir(path, 0700) < 0 && errno != EEXIST) || chmod(path, 0700) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}

	/* Phase: the PKCS#12 first (the keys), then the public copies. */
	if (write_p12(path, in) < 0) {
		snprintf(err, errlen, "%s: cannot write keystore.p12: %s", path, strerror(errno));
		return -1;
	}
	if (write_cert(path, "signing", in->sign_cert) < 0 ||
	    (in->enc_cert != NULL && write_cert(path, "encryption", in->enc_cert) < 0)) {
		snprintf(err, errlen, "%s: cannot write the certificates: %s", path, strerror(errno));
		return -1;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	for (int i = 0; i < sk_X509_num(in->chain); i++)
		PEM_write_bio_X509(b, sk_X509_value(in->chain, i));
	n = BIO_get_mem_data(b, &data);
	if (n > 0 && atomic_write(path, "chain.pem", data, (size_t)n, 0600, 0) < 0) {
		snprintf(err, errlen, "%s: cannot write chain.pem: %s", path, strerror(errno));
		BIO_free(b);
		return -1;
	}
	BIO_free(b);
	/* the renames themselves, durable (the certificate copies can be rebuilt) */
	{
		int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	return 0;
}
