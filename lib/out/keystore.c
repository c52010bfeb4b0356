/*
 * PKCS#12 keystores and certificate copies, written atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "base/fileio.h"
#include "out/keystore.h"

#define STAGED "keystore.p12.staged"

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

/*
 * PBES2 (RFC 8018 6.2) with one PBKDF2-HMAC-SHA256 derivation per keystore:
 * the key bags and the certificate safe share the salt and so the derived
 * key, each with its own random IV. Someone guessing the passphrase pays one
 * derivation per guess either way; we pay one instead of three or four.
 * The legacy profile (3DES, SHA-1 PBE) is OpenSSL's own code.
 */
struct pbes2 {
	unsigned char salt[16], key[32];
	int iter;
	const char *pass;
};

static int pbes2_init(struct pbes2 *p, const char *pass, int iter)
{
	p->pass = pass;
	p->iter = iter;
	return RAND_bytes(p->salt, sizeof(p->salt)) == 1 &&
			       PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), p->salt, sizeof(p->salt),
						 iter, EVP_sha256(), sizeof(p->key), p->key) == 1
		       ? 0
		       : -1;
}

/* Encrypts in[0..n) under a fresh IV; *alg gets the PBES2 parameters, *out
 * the ciphertext (the caller frees both). */
static int pbes2_encrypt(const struct pbes2 *p, const unsigned char *in, int n, X509_ALGOR **alg,
			 ASN1_OCTET_STRING **out)
{
	unsigned char iv[16], *ct = NULL;
	EVP_CIPHER_CTX *c = NULL;
	int len1 = 0, len2 = 0, rc = -1;

	*alg = NULL;
	*out = NULL;
	if (RAND_bytes(iv, sizeof(iv)) != 1 ||
	    (*alg = PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), p->iter, (unsigned char *)p->salt,
					 sizeof(p->salt), iv, NID_hmacWithSHA256, NULL)) == NULL ||
	    (ct = OPENSSL_malloc((size_t)n + 16)) == NULL || (c = EVP_CIPHER_CTX_new()) == NULL ||
	    !EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, p->key, iv) ||
	    !EVP_EncryptUpdate(c, ct, &len1, in, n) || !EVP_EncryptFinal_ex(c, ct + len1, &len2) ||
	    (*out = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(*out, ct, len1 + len2))
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_free(ct);
	if (rc < 0) {
		X509_ALGOR_free(*alg);
		ASN1_OCTET_STRING_free(*out);
		*alg = NULL;
		*out = NULL;
	}
	return rc;
}

/* A pkcs8ShroudedKeyBag (RFC 7292 4.2.2) for key, under p. */
static PKCS12_SAFEBAG *shrouded_bag(const struct pbes2 *p, EVP_PKEY *key)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *der = NULL;
	X509_ALGOR *alg = NULL, *salg;
	ASN1_OCTET_STRING *ct = NULL, *sct;
	X509_SIG *sig = NULL;
	PKCS12_SAFEBAG *bag = NULL;
	int n;

	if (p8 == NULL || (n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0 ||
	    pbes2_encrypt(p, der, n, &alg, &ct) < 0 || (sig = X509_SIG_new()) == NULL)
		goto out;
	X509_SIG_getm(sig, &salg, &sct);
	if (!X509_ALGOR_copy(salg, alg) || !ASN1_STRING_copy(sct, ct))
		goto out;
	if ((bag = PKCS12_SAFEBAG_create0_pkcs8(sig)) != NULL)
		sig = NULL;
out:
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)n);
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_ALGOR_free(alg);
	ASN1_OCTET_STRING_free(ct);
	X509_SIG_free(sig);
	return bag;
}

/* An encryptedData safe (RFC 7292 5.1) holding bags, under p. */
static PKCS7 *encrypted_safe(const struct pbes2 *p, STACK_OF(PKCS12_SAFEBAG) * bags)
{
	unsigned char *der = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_OCTET_STRING *ct = NULL;
	PKCS7 *p7 = NULL;
	int n;

	if ((n = ASN1_item_i2d((ASN1_VALUE *)bags, &der, ASN1_ITEM_rptr(PKCS12_SAFEBAGS))) <= 0 ||
	    pbes2_encrypt(p, der, n, &alg, &ct) < 0 || (p7 = PKCS7_new()) == NULL ||
	    !PKCS7_set_type(p7, NID_pkcs7_encrypted)) {
		PKCS7_free(p7);
		p7 = NULL;
		goto out;
	}
	X509_ALGOR_free(p7->d.encrypted->enc_data->algorithm);
	p7->d.encrypted->enc_data->algorithm = alg;
	ASN1_OCTET_STRING_free(p7->d.encrypted->enc_data->enc_data);
	p7->d.encrypted->enc_data->enc_data = ct;
	alg = NULL;
	ct = NULL;
out:
	OPENSSL_free(der);
	X509_ALGOR_free(alg);
	ASN1_OCTET_STRING_free(ct);
	return p7;
}

/* A key bag and its certificate bag, paired by localKeyID, named. p is NULL
 * for the legacy profile. */
static int add_pair(STACK_OF(PKCS12_SAFEBAG) * *keys, STACK_OF(PKCS12_SAFEBAG) * *certs,
		    EVP_PKEY *key, X509 *cert, const char *name, const struct pbes2 *p,
		    const char *pass, int iter)
{
	unsigned char id[EVP_MAX_MD_SIZE];
	unsigned int idlen = 0;
	PKCS12_SAFEBAG *kb, *cb;

	if (!X509_digest(cert, EVP_sha1(), id, &idlen))
		return -1;
	if ((cb = PKCS12_add_cert(certs, cert)) == NULL ||
	    !PKCS12_add_friendlyname_utf8(cb, name, -1) ||
	    !PKCS12_add_localkeyid(cb, id, (int)idlen))
		return -1;
	if (p != NULL) {
		if ((*keys == NULL && (*keys = sk_PKCS12_SAFEBAG_new_null()) == NULL) ||
		    (kb = shrouded_bag(p, key)) == NULL)
			return -1;
		if (!sk_PKCS12_SAFEBAG_push(*keys, kb)) {
			PKCS12_SAFEBAG_free(kb);
			return -1;
		}
	} else if ((kb = PKCS12_add_key_ex(keys, key, 0, iter,
					   NID_pbe_WithSHA1And3_Key_TripleDES_CBC, pass, NULL,
					   NULL)) == NULL) {
		return -1;
	}
	if (!PKCS12_add_friendlyname_utf8(kb, name, -1) ||
	    !PKCS12_add_localkeyid(kb, id, (int)idlen))
		return -1;
	return 0;
}

int keystore_p12(const struct keystore_in *in, unsigned char **out, size_t *outlen)
{
	int iter = PKCS12_DEFAULT_ITER, rc = -1, n;
	STACK_OF(PKCS12_SAFEBAG) *keys = NULL, *certs = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	struct pbes2 pb = {.iter = 0}, *p = in->legacy ? NULL : &pb;
	unsigned char *der = NULL;
	PKCS7 *cs = NULL;
	PKCS12 *p12 = NULL;

	/* Phase: the bags; keys shrouded, certificates and chain in one safe. */
	if (p != NULL && pbes2_init(p, in->pass, iter) < 0)
		goto out;
	if (in->sign_key != NULL &&
	    add_pair(&keys, &certs, in->sign_key, in->sign_cert, "signing", p, in->pass, iter) < 0)
		goto out;
	if (in->enc_key != NULL &&
	    add_pair(&keys, &certs, in->enc_key, in->enc_cert, "encryption", p, in->pass, iter) < 0)
		goto out;
	for (int i = 0; i < in->nhistory; i++)
		if (add_pair(&keys, &certs, in->history[i].key, in->history[i].cert,
			     in->history[i].name, p, in->pass, iter) < 0)
			goto out;
	for (int i = 0; i < sk_X509_num(in->chain); i++)
		if (PKCS12_add_cert(&certs, sk_X509_value(in->chain, i)) == NULL)
			goto out;

	/* Phase: the safes, the PFX, its MAC (RFC 7292 4, 5). */
	if (p != NULL) {
		if ((safes = sk_PKCS7_new_null()) == NULL ||
		    (cs = encrypted_safe(p, certs)) == NULL || !sk_PKCS7_push(safes, cs))
			goto out;
		cs = NULL;
	} else if (!PKCS12_add_safe_ex(&safes, certs, NID_pbe_WithSHA1And3_Key_TripleDES_CBC, iter,
				       in->pass, NULL, NULL)) {
		goto out;
	}
	if (!PKCS12_add_safe_ex(&safes, keys, -1, 0, NULL, NULL, NULL) ||
	    (p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL)) == NULL ||
	    !PKCS12_set_mac(p12, in->pass, -1, NULL, 0, iter,
			    in->legacy ? EVP_sha1() : EVP_sha256()) ||
	    (n = i2d_PKCS12(p12, &der)) <= 0)
		goto out;
	*out = der;
	*outlen = (size_t)n;
	der = NULL;
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_cleanse(&pb, sizeof(pb));
	OPENSSL_free(der);
	PKCS7_free(cs);
	PKCS12_free(p12);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_PKCS12_SAFEBAG_pop_free(keys, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(certs, PKCS12_SAFEBAG_free);
	return rc;
}

static int write_p12(const char *dir, const struct keystore_in *in)
{
	unsigned char *der = NULL;
	size_t n = 0;
	int rc;

	if (keystore_p12(in, &der, &n) < 0)
		return -1;
	/* the keys exist nowhere else: on disk before anyone relies on them */
	rc = atomic_write(dir,
			  !in->staged ? "keystore.p12"
			  : in->file  ? in->file
				      : STAGED,
			  der, n, 0600, 1);
	OPENSSL_free(der);
	return rc;
}

/* The files of a keystore directory, the PKCS#12 first. */
static const char *const ks_files[] = {"keystore.p12",	 "signing.cer",	   "signing.pem",
				       "encryption.cer", "encryption.pem", "chain.pem"};

/* Removes what a failed keystore_write() renamed into place (mask: bits
 * of ks_files), then syncs the directory. */
static void unwrite(const char *path, unsigned mask)
{
	char p[4200];

	for (size_t i = 0; i < sizeof(ks_files) / sizeof(ks_files[0]); i++)
		if (mask & (1u << i)) {
			snprintf(p, sizeof(p), "%s/%s", path, ks_files[i]);
			(void)unlink(p);
		}
}

static void sync_dir(const char *path)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
}

/* The certificate copies beside the PKCS#12; *written gets the ks_files
 * bits renamed into place. 0, or -1 with err set. */
static int write_copies(const char *path, X509 *sign, X509 *enc, STACK_OF(X509) * chain,
			unsigned *written, char *err, size_t errlen)
{
	BIO *b = NULL;
	char *data;
	long n;

	if (write_cert(path, "signing", sign) < 0) {
		snprintf(err, errlen, "%s/signing.cer: %s", path, strerror(errno));
		return -1;
	}
	*written |= 3u << 1;
	if (enc != NULL && write_cert(path, "encryption", enc) < 0) {
		snprintf(err, errlen, "%s/encryption.cer: %s", path, strerror(errno));
		return -1;
	}
	*written |= 3u << 3;
	if ((b = BIO_new(BIO_s_mem())) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	for (int i = 0; i < sk_X509_num(chain); i++)
		PEM_write_bio_X509(b, sk_X509_value(chain, i));
	n = BIO_get_mem_data(b, &data);
	if (n > 0 && atomic_write(path, "chain.pem", data, (size_t)n, 0600, 0) < 0) {
		snprintf(err, errlen, "%s/chain.pem: %s", path, strerror(errno));
		BIO_free(b);
		return -1;
	}
	BIO_free(b);
	return 0;
}

int keystore_write(const struct keystore_in *in, char *path, size_t pathlen, char *err,
		   size_t errlen)
{
	unsigned written = 0;
	int e;

	/* Phase: the directories, private. */
	if (mkdir(in->base, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "keystore directory %s: %s", in->base, strerror(errno));
		return -1;
	}
	if (in->dirname[0] == '\0' || strchr(in->dirname, '/') != NULL ||
	    snprintf(path, pathlen, "%s/%s", in->base, in->dirname) >= (int)pathlen) {
		snprintf(err, errlen, "keystore path too long or directory name missing");
		return -1;
	}
	if ((mkdir(path, 0700) < 0 && errno != EEXIST) || chmod(path, 0700) < 0) {
		snprintf(err, errlen, "keystore directory %s: %s", path, strerror(errno));
		return -1;
	}
	/* Phase: the PKCS#12 first (the keys), then the public copies. */
	if (write_p12(path, in) < 0) {
		snprintf(err, errlen, "%s/%s: %s", path,
			 !in->staged ? "keystore.p12"
			 : in->file  ? in->file
				     : STAGED,
			 strerror(errno));
		return -1;
	}
	if (in->staged) {
		sync_dir(path);
		return 0;
	}
	written |= 1u << 0;
	if (write_copies(path, in->sign_cert, in->enc_cert, in->chain, &written, err, errlen) < 0)
		goto fail;
	/* the renames themselves, durable (the certificate copies can be rebuilt) */
	sync_dir(path);
	return 0;
fail:
	/* certificates the CA will be told to reject: nothing of them stays */
	e = errno;
	unwrite(path, written);
	sync_dir(path);
	errno = e;
	return -1;
}

/*
 * Reading back what write_p12() wrote: one PBKDF2 derivation per salt, as
 * when it was written (the key bags and the certificate safe share it),
 * instead of one per bag. Anything else (the legacy profile, another
 * tool's PKCS#12) goes through OpenSSL's own code.
 */
struct kdf_cache {
	const char *pass;
	unsigned char salt[64], key[32];
	int saltlen, iter, valid;
};

/* Decrypts a PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) ciphertext; *out is
 * malloc'd (cleansed and freed by the caller). 0, or -1 when it is not
 * that scheme or does not decrypt. */
static int pbes2_decrypt(struct kdf_cache *kc, const X509_ALGOR *alg, const ASN1_OCTET_STRING *ct,
			 unsigned char **out, int *outlen)
{
	PBE2PARAM *p2 = NULL;
	PBKDF2PARAM *kdf = NULL;
	EVP_CIPHER_CTX *c = NULL;
	const ASN1_OCTET_STRING *salt, *iv;
	unsigned char *pt = NULL;
	int rc = -1, l1 = 0, l2 = 0;
	long iter;

	*out = NULL;
	if (OBJ_obj2nid(alg->algorithm) != NID_pbes2 ||
	    (p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter)) == NULL ||
	    OBJ_obj2nid(p2->keyfunc->algorithm) != NID_id_pbkdf2 ||
	    OBJ_obj2nid(p2->encryption->algorithm) != NID_aes_256_cbc ||
	    p2->encryption->parameter == NULL ||
	    p2->encryption->parameter->type != V_ASN1_OCTET_STRING ||
	    (kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
					     p2->keyfunc->parameter)) == NULL ||
	    kdf->salt->type != V_ASN1_OCTET_STRING ||
	    (kdf->prf != NULL && OBJ_obj2nid(kdf->prf->algorithm) != NID_hmacWithSHA256))
		goto out;
	salt = kdf->salt->value.octet_string;
	iv = p2->encryption->parameter->value.octet_string;
	iter = ASN1_INTEGER_get(kdf->iter);
	if (iv->length != 16 || salt->length < 1 || salt->length > (int)sizeof(kc->salt) ||
	    iter < 1 || iter > 10000000)
		goto out;
	/* Phase: the key, derived once per salt. */
	if (!kc->valid || kc->iter != iter || kc->saltlen != salt->length ||
	    memcmp(kc->salt, salt->data, (size_t)salt->length) != 0) {
		kc->valid = 0;
		if (PKCS5_PBKDF2_HMAC(kc->pass, (int)strlen(kc->pass), salt->data, salt->length,
				      (int)iter, EVP_sha256(), sizeof(kc->key), kc->key) != 1)
			goto out;
		memcpy(kc->salt, salt->data, (size_t)salt->length);
		kc->saltlen = salt->length;
		kc->iter = (int)iter;
		kc->valid = 1;
	}
	/* Phase: the plaintext. */
	if ((pt = OPENSSL_malloc((size_t)ct->length + 16)) == NULL ||
	    (c = EVP_CIPHER_CTX_new()) == NULL ||
	    !EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, kc->key, iv->data) ||
	    !EVP_DecryptUpdate(c, pt, &l1, ct->data, ct->length) ||
	    !EVP_DecryptFinal_ex(c, pt + l1, &l2))
		goto out;
	*out = pt;
	*outlen = l1 + l2;
	pt = NULL;
	rc = 0;
out:
	if (pt != NULL)
		OPENSSL_clear_free(pt, (size_t)ct->length + 16);
	EVP_CIPHER_CTX_free(c);
	PBE2PARAM_free(p2);
	PBKDF2PARAM_free(kdf);
	ERR_clear_error();
	return rc;
}

/* A shrouded key bag's key. */
static EVP_PKEY *bag_key(struct kdf_cache *kc, PKCS12_SAFEBAG *bag)
{
	const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
	const X509_ALGOR *alg;
	const ASN1_OCTET_STRING *ct;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *pt = NULL;
	const unsigned char *q;
	EVP_PKEY *key = NULL;
	int n = 0;

	if (sig == NULL)
		return NULL;
	X509_SIG_get0(sig, &alg, &ct);
	if (pbes2_decrypt(kc, alg, ct, &pt, &n) == 0) {
		q = pt;
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, n);
		OPENSSL_clear_free(pt, (size_t)n);
	} else {
		p8 = PKCS12_decrypt_skey_ex(bag, kc->pass, -1, NULL, NULL);
	}
	if (p8 != NULL)
		key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return key;
}

/* An encryptedData safe's bags. */
static STACK_OF(PKCS12_SAFEBAG) * safe_bags(struct kdf_cache *kc, PKCS7 *p7)
{
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	unsigned char *pt = NULL;
	const unsigned char *q;
	int n = 0;

	if (p7->d.encrypted != NULL && p7->d.encrypted->enc_data != NULL &&
	    p7->d.encrypted->enc_data->enc_data != NULL &&
	    pbes2_decrypt(kc, p7->d.encrypted->enc_data->algorithm,
			  p7->d.encrypted->enc_data->enc_data, &pt, &n) == 0) {
		q = pt;
		bags = (STACK_OF(PKCS12_SAFEBAG) *)ASN1_item_d2i(NULL, &q, n,
								 ASN1_ITEM_rptr(PKCS12_SAFEBAGS));
		OPENSSL_clear_free(pt, (size_t)n);
		return bags;
	}
	return PKCS12_unpack_p7encdata(p7, kc->pass, -1);
}

/* A key or certificate bag into k by its friendly name. */
static void load_bag(struct keystore_content *k, PKCS12_SAFEBAG *bag, struct kdf_cache *kc)
{
	int nid = PKCS12_SAFEBAG_get_nid(bag);
	char *fn = PKCS12_get_friendlyname(bag);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	EVP_PKEY **kslot = NULL;
	X509 **cslot = NULL;

	if (nid == NID_pkcs8ShroudedKeyBag || nid == NID_keyBag) {
		key = nid == NID_keyBag ? EVP_PKCS82PKEY(PKCS12_SAFEBAG_get0_p8inf(bag))
					: bag_key(kc, bag);
	} else if (nid == NID_certBag) {
		cert = PKCS12_SAFEBAG_get1_cert(bag);
	}
	if (key == NULL && cert == NULL)
		goto out;
	if (fn == NULL) {
		/* no name: a CA certificate of the chain */
		if (cert != NULL && (k->chain != NULL || (k->chain = sk_X509_new_null()) != NULL) &&
		    sk_X509_push(k->chain, cert))
			cert = NULL;
		goto out;
	}
	if (strcmp(fn, "signing") == 0) {
		kslot = &k->sign_key;
		cslot = &k->sign_cert;
	} else if (strcmp(fn, "encryption") == 0) {
		kslot = &k->enc_key;
		cslot = &k->enc_cert;
	} else if (strncmp(fn, "encryption-", 11) == 0 && strlen(fn) < sizeof(k->history[0].name)) {
		int i;

		for (i = 0; i < k->nhistory && strcmp(k->history[i].name, fn) != 0; i++)
			;
		if (i == k->nhistory) {
			if (k->nhistory == KEYSTORE_HISTORY_MAX)
				goto out;
			snprintf(k->history[k->nhistory++].name, sizeof(k->history[0].name), "%s",
				 fn);
		}
		kslot = &k->history[i].key;
		cslot = &k->history[i].cert;
	} else {
		goto out;
	}
	if (key != NULL && *kslot == NULL) {
		*kslot = key;
		key = NULL;
	}
	if (cert != NULL && *cslot == NULL) {
		*cslot = cert;
		cert = NULL;
	}
out:
	OPENSSL_free(fn);
	EVP_PKEY_free(key);
	X509_free(cert);
}

int keystore_load(const char *dir, const char *file, const char *pass, struct keystore_content *k,
		  char *err, size_t errlen)
{
	char p[4200];
	PKCS12 *p12 = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	struct kdf_cache kc = {.pass = pass};
	FILE *f;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	if ((f = fopen(p, "rb")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
		return -1;
	}
	p12 = d2i_PKCS12_fp(f, NULL);
	fclose(f);
	if (p12 == NULL) {
		snprintf(err, errlen, "%s: not a PKCS#12 file", p);
		goto out;
	}
	if (!PKCS12_verify_mac(p12, pass, -1)) {
		snprintf(err, errlen, "%s: the passphrase does not open it", p);
		goto out;
	}
	if ((safes = PKCS12_unpack_authsafes(p12)) == NULL) {
		snprintf(err, errlen, "%s: unreadable contents", p);
		goto out;
	}
	for (int i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		int nid = OBJ_obj2nid(p7->type);
		STACK_OF(PKCS12_SAFEBAG) *bags = nid == NID_pkcs7_data ? PKCS12_unpack_p7data(p7)
						 : nid == NID_pkcs7_encrypted ? safe_bags(&kc, p7)
									      : NULL;

		if (bags == NULL) {
			snprintf(err, errlen, "%s: a safe cannot be opened", p);
			goto out;
		}
		for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++)
			load_bag(k, sk_PKCS12_SAFEBAG_value(bags, j), &kc);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	rc = 1;
out:
	OPENSSL_cleanse(&kc, sizeof(kc));
	ERR_clear_error();
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	if (rc < 0)
		keystore_content_free(k);
	return rc;
}

void keystore_content_free(struct keystore_content *k)
{
	EVP_PKEY_free(k->sign_key);
	EVP_PKEY_free(k->enc_key);
	X509_free(k->sign_cert);
	X509_free(k->enc_cert);
	sk_X509_pop_free(k->chain, X509_free);
	for (int i = 0; i < k->nhistory; i++) {
		EVP_PKEY_free(k->history[i].key);
		X509_free(k->history[i].cert);
	}
	memset(k, 0, sizeof(*k));
}

/* A serial number in upper-case hex, as file and friendly names carry it. */
static void serial_of(const X509 *x, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	snprintf(buf, len, "%s", hex != NULL ? hex : "unknown");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* The previous decryption keys the new keystore keeps: the one being
 * replaced first (when it is), then the ones the current keystore kept. */
int keystore_history(const struct keystore_content *cur, int replaced, int keep,
		     struct keystore_key *h)
{
	int n = 0;

	if (replaced && cur->enc_key != NULL && cur->enc_cert != NULL && n < keep) {
		char serial[64];

		serial_of(cur->enc_cert, serial, sizeof(serial));
		h[n] = (struct keystore_key){cur->enc_key, cur->enc_cert, ""};
		snprintf(h[n].name, sizeof(h[n].name), "encryption-%s", serial);
		n++;
	}
	for (int i = 0; i < cur->nhistory && n < keep && n < KEYSTORE_HISTORY_MAX; i++)
		if (cur->history[i].key != NULL && cur->history[i].cert != NULL)
			h[n++] = cur->history[i];
	return n;
}

int keystore_keep_current(const char *dir)
{
	char cur[4200], prev[4300], serial[80];

	snprintf(cur, sizeof(cur), "%s/keystore.p12", dir);
	if (access(cur, F_OK) != 0)
		return 0;
	/* its serial from the copy beside it: the passphrase may not open it */
	{
		char pem[4200];
		FILE *f;
		X509 *x = NULL;

		snprintf(pem, sizeof(pem), "%s/signing.pem", dir);
		if ((f = fopen(pem, "r")) != NULL) {
			x = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (x != NULL)
			serial_of(x, serial, sizeof(serial));
		else
			snprintf(serial, sizeof(serial), "unknown-%lld", (long long)time(NULL));
		X509_free(x);
		ERR_clear_error();
	}
	snprintf(prev, sizeof(prev), "%s/keystore-%s.p12", dir, serial);
	if (link(cur, prev) < 0 && errno != EEXIST)
		return -1;
	sync_dir(dir);
	return 0;
}

/* Is name atomic_write()'s temporary for file: "." file "." and six
 * characters of mkstemp's alphabet? */
static int temp_of(const char *name, const char *file)
{
	size_t n = strlen(file);

	return name[0] == '.' && strncmp(name + 1, file, n) == 0 && name[1 + n] == '.' &&
	       strlen(name + 2 + n) == 6 &&
	       strspn(name + 2 + n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789") == 6;
}

int keystore_sweep_temp(const char *dir, time_t started, pkiroll_ctx *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	/* a first enrollment has no directory yet: nothing to sweep */
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (!temp_of(e->d_name, "keystore.p12") && !temp_of(e->d_name, STAGED))
			continue;
		/* ours, a plain file, and from before this run: nothing else */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_mtime >= started)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			n++;
			if (ctx != NULL)
				ctx_log(ctx, PKIROLL_LOG_DEBUG,
					"%s/%s: removed, a temporary keystore a crashed run left",
					dir, e->d_name);
		}
	}
	closedir(d);
	if (n > 0)
		sync_dir(dir);
	return n;
}

int keystore_has_staged(const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", dir, STAGED);
	return access(p, F_OK) == 0;
}

void keystore_discard_staged(const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", dir, STAGED);
	if (unlink(p) == 0)
		sync_dir(dir);
}

int keystore_commit(const char *dir, const char *pass, const char *old_serial,
		    const struct keystore_certs *certs, char *err, size_t errlen)
{
	char cur[4200], staged[4200], prev[4300];
	struct keystore_content k;
	unsigned written = 0;
	int r;

	snprintf(cur, sizeof(cur), "%s/keystore.p12", dir);
	snprintf(staged, sizeof(staged), "%s/%s", dir, STAGED);
	/* Phase: the previous keystore kept, the staged one made current. */
	if (access(staged, F_OK) == 0) {
		if (old_serial != NULL && old_serial[0] != '\0') {
			snprintf(prev, sizeof(prev), "%s/keystore-%s.p12", dir, old_serial);
			if (link(cur, prev) < 0 && errno != EEXIST && errno != ENOENT) {
				snprintf(err, errlen, "%s: %s", prev, strerror(errno));
				return -1;
			}
		}
		if (rename(staged, cur) < 0) {
			snprintf(err, errlen, "%s: %s", cur, strerror(errno));
			return -1;
		}
		sync_dir(dir);
	}
	/* Phase: the certificate copies, from what is now current. */
	if (certs != NULL && certs->sign != NULL) {
		r = write_copies(dir, certs->sign, certs->enc, certs->chain, &written, err, errlen);
		sync_dir(dir);
		return r;
	}
	if ((r = keystore_load(dir, "keystore.p12", pass, &k, err, errlen)) <= 0) {
		if (r == 0)
			snprintf(err, errlen, "%s: no keystore", cur);
		return -1;
	}
	r = k.sign_cert != NULL
		    ? write_copies(dir, k.sign_cert, k.enc_cert, k.chain, &written, err, errlen)
		    : -1;
	if (k.sign_cert == NULL)
		snprintf(err, errlen, "%s: no signing certificate", cur);
	keystore_content_free(&k);
	sync_dir(dir);
	return r;
}

int keystore_read_certs(const char *dir, const char *pass, X509 **sign, X509 **enc)
{
	struct keystore_content k;
	char err[64];
	int r = keystore_load(dir, "keystore.p12", pass, &k, err, sizeof(err));

	*sign = NULL;
	*enc = NULL;
	if (r <= 0)
		return r;
	*sign = k.sign_cert;
	*enc = k.enc_cert;
	k.sign_cert = k.enc_cert = NULL;
	keystore_content_free(&k);
	return 1;
}
