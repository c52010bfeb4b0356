/*
 * The EncryptedValue of a CA-generated private key (RFC 4211 2.1; RFC 4210
 * 5.2.2): unwrapping it on the client, wrapping it on the CA side.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "cmp/cmp.h"
#include "x509/keys.h"

/* The cipher of symmAlg, or NULL with err set. The caller frees it. */
static EVP_CIPHER *symm_cipher(const X509_ALGOR *alg, char *err, size_t errlen)
{
	int nid = OBJ_obj2nid(alg->algorithm);
	EVP_CIPHER *c;

	switch (nid) {
	case NID_aes_128_cbc:
	case NID_aes_192_cbc:
	case NID_aes_256_cbc:
	case NID_des_ede3_cbc:
		break;
	case NID_cast5_cbc:
		if (!keys_legacy_provider()) {
			snprintf(err, errlen,
				 "CAST5-CBC needs OpenSSL's legacy provider, "
				 "which is not available here");
			return NULL;
		}
		break;
	default: {
		char oid[80];

		OBJ_obj2txt(oid, sizeof(oid), alg->algorithm, 1);
		snprintf(err, errlen, "RFC 4211 2.1: unsupported symmAlg %s", oid);
		return NULL;
	}
	}
	if ((c = EVP_CIPHER_fetch(NULL, OBJ_nid2sn(nid), NULL)) == NULL) {
		ERR_clear_error();
		snprintf(err, errlen, "cipher %s is not available", OBJ_nid2sn(nid));
	}
	return c;
}

/* IV from the symmAlg parameters; CAST5 has CAST5CBCParameters. */
static int symm_iv(const X509_ALGOR *alg, const EVP_CIPHER *c, unsigned char *iv)
{
	int ivlen = EVP_CIPHER_get_iv_length(c);

	if (alg->parameter == NULL)
		return -1;
	if (alg->parameter->type == V_ASN1_OCTET_STRING)
		return ASN1_TYPE_get_octetstring(alg->parameter, iv, ivlen) == ivlen ? 0 : -1;
	if (alg->parameter->type == V_ASN1_SEQUENCE) {
		/* CAST5CBCParameters ::= SEQUENCE { iv OCTET STRING DEFAULT 0, keyLength INTEGER }
		 */
		const ASN1_STRING *s = alg->parameter->value.sequence;
		const unsigned char *p = s->data;
		long l;
		int tag, class, r = ASN1_get_object(&p, &l, &tag, &class, s->length);

		if ((r & 0x80) || tag != V_ASN1_SEQUENCE)
			return -1;
		r = ASN1_get_object(&p, &l, &tag, &class, s->length - (long)(p - s->data));
		if ((r & 0x80) || tag != V_ASN1_OCTET_STRING || l != ivlen)
			return -1;
		memcpy(iv, p, (size_t)ivlen);
		return 0;
	}
	return -1;
}

/* RSA-decrypt encSymmKey; returns the key length or -1. */
static int unwrap_cek(const PKR_ENCVAL *ev, EVP_PKEY *kek, unsigned char *cek, size_t cap)
{
	int oaep = ev->keyAlg != NULL && OBJ_obj2nid(ev->keyAlg->algorithm) == NID_rsaesOaep;
	int tries[2] = {oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING,
			ev->keyAlg == NULL ? RSA_PKCS1_OAEP_PADDING : 0};

	for (int i = 0; i < 2 && tries[i] != 0; i++) {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, kek, NULL);
		size_t n = cap;
		int ok = pc != NULL && EVP_PKEY_decrypt_init(pc) > 0 &&
			 EVP_PKEY_CTX_set_rsa_padding(pc, tries[i]) > 0 &&
			 EVP_PKEY_decrypt(pc, cek, &n, ev->encSymmKey->data,
					  (size_t)ev->encSymmKey->length) > 0;

		EVP_PKEY_CTX_free(pc);
		ERR_clear_error();
		if (ok)
			return (int)n;
	}
	return -1;
}

/*
 * A DER private key (PKCS#8, or a bare PKCS#1 or SEC 1 key). The key type a
 * PKCS#8 names lets OpenSSL 3.0 set up only that type's decoders:
 * d2i_AutoPrivateKey sets up and tries them all, about three times the
 * cost. Caller frees; NULL if it is no private key.
 */
static EVP_PKEY *private_key_of(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
	const ASN1_OBJECT *alg = NULL;
	EVP_PKEY *key = NULL;
	int type = EVP_PKEY_NONE;

	if (p8 != NULL && p == der + len && PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8))
		type = OBJ_obj2nid(alg) == NID_X9_62_id_ecPublicKey ? EVP_PKEY_EC
		       : OBJ_obj2nid(alg) == NID_rsaEncryption	    ? EVP_PKEY_RSA
								    : EVP_PKEY_NONE;
	PKCS8_PRIV_KEY_INFO_free(p8); /* clears the key material it held */
	p = der;
	if (type != EVP_PKEY_NONE)
		key = d2i_PrivateKey_ex(type, NULL, &p, len, NULL, NULL);
	p = der;
	if (key == NULL)
		key = d2i_AutoPrivateKey_ex(NULL, &p, len, NULL, NULL);
	return key;
}

EVP_PKEY *cmp_encval_decrypt(const PKR_ENCVAL *ev, EVP_PKEY *kek, char *err, size_t errlen)
{
	unsigned char cek[512], iv[EVP_MAX_IV_LENGTH], *out = NULL;
	const unsigned char *p;
	EVP_CIPHER_CTX *cc = NULL;
	EVP_CIPHER *c = NULL;
	EVP_PKEY *key = NULL;
	int ceklen = -1, n1 = 0, n2 = 0, tag, class, r;
	size_t outcap = 0;
	long l;

	err[0] = '\0';
	/* Phase: what the EncryptedValue must carry for a key sent to us. */
	if (ev->symmAlg == NULL || ev->encSymmKey == NULL) {
		snprintf(err, errlen, "RFC 4211 2.1: EncryptedValue without %s",
			 ev->symmAlg == NULL ? "symmAlg" : "encSymmKey");
		goto out;
	}
	if ((c = symm_cipher(ev->symmAlg, err, errlen)) == NULL)
		goto out;
	if (symm_iv(ev->symmAlg, c, iv) < 0) {
		snprintf(err, errlen, "RFC 4211 2.1: symmAlg parameters are not an IV of %d bytes",
			 EVP_CIPHER_get_iv_length(c));
		goto out;
	}

	/* Phase: the content key, then the key material. */
	if ((ceklen = unwrap_cek(ev, kek, cek, sizeof(cek))) < 0) {
		snprintf(err, errlen, "encSymmKey does not decrypt with our protocolEncrKey");
		goto out;
	}
	if (ceklen != EVP_CIPHER_get_key_length(c) && EVP_CIPHER_get_nid(c) != NID_cast5_cbc) {
		snprintf(err, errlen, "content key of %d bytes for %s", ceklen,
			 EVP_CIPHER_get0_name(c));
		goto out;
	}
	outcap = (size_t)ev->encValue->length + EVP_MAX_BLOCK_LENGTH;
	if (ev->encValue->length <= 0 || ev->encValue->length > 64 * 1024 ||
	    (out = OPENSSL_malloc(outcap)) == NULL || (cc = EVP_CIPHER_CTX_new()) == NULL ||
	    !EVP_DecryptInit_ex2(cc, c, NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_set_key_length(cc, ceklen) ||
	    !EVP_DecryptInit_ex2(cc, NULL, cek, iv, NULL) || !EVP_CIPHER_CTX_set_padding(cc, 0) ||
	    !EVP_DecryptUpdate(cc, out, &n1, ev->encValue->data, ev->encValue->length) ||
	    !EVP_DecryptFinal_ex(cc, out + n1, &n2)) {
		snprintf(err, errlen, "encValue does not decrypt (length %d)",
			 ev->encValue->length);
		goto out;
	}

	/* Phase: padding or not, the DER length says where the key ends. */
	p = out;
	r = ASN1_get_object(&p, &l, &tag, &class, n1 + n2);
	if ((r & 0x80) || tag != V_ASN1_SEQUENCE ||
	    (size_t)(p - out) + (size_t)l > (size_t)(n1 + n2)) {
		snprintf(err, errlen,
			 "decrypted encValue is not a DER private key "
			 "(wrong key or corrupted data)");
		goto out;
	}
	l += (long)(p - out);
	p = out;
	if ((key = private_key_of(out, l)) == NULL)
		snprintf(err, errlen, "decrypted encValue is not a PKCS#8 or PKCS#1 private key");
out:
	ERR_clear_error();
	OPENSSL_cleanse(cek, sizeof(cek));
	if (out != NULL)
		OPENSSL_clear_free(out, outcap);
	EVP_CIPHER_CTX_free(cc);
	EVP_CIPHER_free(c);
	return key;
}

PKR_ENCVAL *cmp_encval_encrypt(EVP_PKEY *key, EVP_PKEY *recipient, const EVP_CIPHER *cipher,
			       int oaep)
{
	const EVP_CIPHER *c = cipher != NULL ? cipher : EVP_aes_256_cbc();
	unsigned char cek[EVP_MAX_KEY_LENGTH], iv[EVP_MAX_IV_LENGTH], *p8 = NULL, *ct = NULL;
	unsigned char ek[1024];
	PKCS8_PRIV_KEY_INFO *pi = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	EVP_PKEY_CTX *pc = NULL;
	PKR_ENCVAL *ev = NULL;
	ASN1_OCTET_STRING *ivos = NULL;
	size_t eklen = sizeof(ek);
	int p8len = 0, n1 = 0, n2 = 0, klen = EVP_CIPHER_get_key_length(c);
	int ivlen = EVP_CIPHER_get_iv_length(c), ok = 0;

	if ((pi = EVP_PKEY2PKCS8(key)) == NULL || (p8len = i2d_PKCS8_PRIV_KEY_INFO(pi, &p8)) <= 0 ||
	    RAND_bytes(cek, klen) != 1 || RAND_bytes(iv, ivlen) != 1 ||
	    (ct = OPENSSL_malloc((size_t)p8len + EVP_MAX_BLOCK_LENGTH)) == NULL ||
	    (cc = EVP_CIPHER_CTX_new()) == NULL || !EVP_EncryptInit_ex2(cc, c, cek, iv, NULL) ||
	    !EVP_EncryptUpdate(cc, ct, &n1, p8, p8len) || !EVP_EncryptFinal_ex(cc, ct + n1, &n2))
		goto out;
	if ((pc = EVP_PKEY_CTX_new_from_pkey(NULL, recipient, NULL)) == NULL ||
	    EVP_PKEY_encrypt_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pc, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) <=
		    0 ||
	    EVP_PKEY_encrypt(pc, ek, &eklen, cek, (size_t)klen) <= 0)
		goto out;
	if ((ev = PKR_ENCVAL_new()) == NULL || (ev->symmAlg = X509_ALGOR_new()) == NULL ||
	    (ivos = ASN1_OCTET_STRING_new()) == NULL || !ASN1_OCTET_STRING_set(ivos, iv, ivlen) ||
	    !X509_ALGOR_set0(ev->symmAlg, OBJ_nid2obj(EVP_CIPHER_get_nid(c)), V_ASN1_OCTET_STRING,
			     ivos))
		goto out;
	ivos = NULL;
	if ((ev->encSymmKey = ASN1_BIT_STRING_new()) == NULL ||
	    !cmp_octets_to_bits(ev->encSymmKey, ek, eklen) ||
	    (ev->keyAlg = X509_ALGOR_new()) == NULL ||
	    !X509_ALGOR_set0(ev->keyAlg, OBJ_nid2obj(oaep ? NID_rsaesOaep : NID_rsaEncryption),
			     oaep ? V_ASN1_UNDEF : V_ASN1_NULL, NULL) ||
	    !cmp_octets_to_bits(ev->encValue, ct, (size_t)(n1 + n2)))
		goto out;
	ok = 1;
out:
	ERR_clear_error();
	OPENSSL_cleanse(cek, sizeof(cek));
	if (p8 != NULL)
		OPENSSL_clear_free(p8, (size_t)p8len);
	OPENSSL_free(ct);
	ASN1_OCTET_STRING_free(ivos);
	PKCS8_PRIV_KEY_INFO_free(pi);
	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_CTX_free(pc);
	if (!ok) {
		PKR_ENCVAL_free(ev);
		ev = NULL;
	}
	return ev;
}
