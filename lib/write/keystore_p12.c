/*
 * The keystore's PKCS#12 codec (RFC 7292): keystore_p12() writes the
 * keys, certificates and chain as DER, keystore_load() reads them back by
 * their friendly names. Each writer sits beside its reader. The files
 * around it (stage, commit, history, temporaries) are keystore.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "write/keystore.h"

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

/*
 * Reading back what keystore_p12() wrote: one PBKDF2 derivation per salt,
 * as when it was written (the key bags and the certificate safe share it),
 * instead of one per bag. Anything else (the legacy profile, another
 * tool's PKCS#12) goes through OpenSSL's own code.
 */
struct kdf_cache {
	const char *pass;
	unsigned char salt[64], key[32];
	int saltlen, iter, valid;
};

/* Encrypts in[0..n) under a fresh IV; *alg gets the PBES2 parameters, *out
 * the ciphertext (the caller frees both). Matched by pbes2_decrypt(). */
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

/* Decrypts a PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) ciphertext; *out is
 * malloc'd (cleansed and freed by the caller). 0, or -1 when it is not
 * that scheme or does not decrypt. Matched by pbes2_encrypt(). */
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

/* A pkcs8ShroudedKeyBag (RFC 7292 4.2.2) for key, under p. Matched by
 * bag_key(). */
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

/* A shrouded key bag's key. Matched by shrouded_bag(). */
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

/* An encryptedData safe (RFC 7292 5.1) holding bags, under p. Matched by
 * safe_bags(). */
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

/* An encryptedData safe's bags. Matched by encrypted_safe(). */
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

/* A key bag and its certificate bag, paired by localKeyID, named. p is NULL
 * for the legacy profile. Matched by load_bag(). */
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

/* A key or certificate bag into k by its friendly name. Matched by
 * add_pair(). */
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

/* Matched by keystore_load(). */
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

/* Is the PFX's MAC HMAC-SHA1 (the legacy profile's)? */
static int mac_is_sha1(const PKCS12 *p12)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;

	PKCS12_get0_mac(NULL, &alg, NULL, NULL, p12);
	if (alg == NULL)
		return 0;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	return OBJ_obj2nid(obj) == NID_sha1;
}

/* The PFX of dir/file: NULL with *absent set when there is none. */
static PKCS12 *read_pfx(const char *dir, const char *file, int *absent)
{
	char p[4200];
	PKCS12 *p12;
	FILE *f;

	*absent = 0;
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	if ((f = fopen(p, "rb")) == NULL) {
		*absent = errno == ENOENT;
		return NULL;
	}
	p12 = d2i_PKCS12_fp(f, NULL);
	fclose(f);
	return p12;
}

int keystore_opens(const char *dir, const char *file, const char *pass)
{
	int absent, r;
	PKCS12 *p12 = read_pfx(dir, file, &absent);

	if (p12 == NULL)
		return absent ? 0 : -1;
	r = PKCS12_verify_mac(p12, pass, -1) ? 1 : -1;
	PKCS12_free(p12);
	ERR_clear_error();
	return r;
}

/* Matched by keystore_p12(). */
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
	k->legacy = mac_is_sha1(p12);
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
