/*
 * EncryptedValue of a CA-generated key, PBM parameters and signature
 * protection.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "cmp/cmp_server.h"
#include "mint.h"
#include "x509/keys.h"
#include "t.h"

static EVP_PKEY *kek(void)
{
	static EVP_PKEY *k;

	if (k == NULL)
		k = keys_generate(KEY_RSA2048);
	return k;
}

TEST(encval_round_trip_ciphers)
{
	const EVP_CIPHER *ciphers[] = {EVP_aes_128_cbc(), EVP_aes_192_cbc(), EVP_aes_256_cbc(),
				       EVP_des_ede3_cbc()};
	EVP_PKEY *key = keys_generate(KEY_P256);
	char err[256];

	for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		for (int oaep = 0; oaep < 2; oaep++) {
			PKR_ENCVAL *ev = cmp_encval_encrypt(key, kek(), ciphers[i], oaep);
			EVP_PKEY *got;

			CHECK(ev != NULL, "encrypt with %s", EVP_CIPHER_get0_name(ciphers[i]));
			got = cmp_encval_decrypt(ev, kek(), err, sizeof(err));
			CHECK(got != NULL && EVP_PKEY_eq(got, key) == 1, "%s oaep=%d: %s",
			      EVP_CIPHER_get0_name(ciphers[i]), oaep, err);
			EVP_PKEY_free(got);
			PKR_ENCVAL_free(ev);
		}
	}
	EVP_PKEY_free(key);
}

TEST(encval_cast5_through_legacy_provider)
{
	EVP_PKEY *key = keys_generate(KEY_P256), *got;
	EVP_CIPHER *cast5;
	PKR_ENCVAL *ev;
	char err[256];

	if (!keys_legacy_provider()) {
		printf("  (legacy provider not available: CAST5 must give a clear error)\n");
		return;
	}
	cast5 = EVP_CIPHER_fetch(NULL, "CAST5-CBC", NULL);
	CHECK(cast5 != NULL, "CAST5-CBC not fetchable with the legacy provider");
	ev = cmp_encval_encrypt(key, kek(), cast5, 0);
	CHECK(ev != NULL, "encrypt with CAST5");
	got = cmp_encval_decrypt(ev, kek(), err, sizeof(err));
	CHECK(got != NULL && EVP_PKEY_eq(got, key) == 1, "CAST5: %s", err);
	EVP_PKEY_free(got);
	PKR_ENCVAL_free(ev);
	EVP_CIPHER_free(cast5);
	EVP_PKEY_free(key);
}

/* Encrypts raw bytes (no padding added) the way some CAs do. */
static PKR_ENCVAL *encrypt_raw(const unsigned char *pt, int n)
{
	unsigned char cek[16], iv[16], ek[512], ct[8192];
	size_t eklen = sizeof(ek);
	int l1 = 0, l2 = 0;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, kek(), NULL);
	PKR_ENCVAL *ev = PKR_ENCVAL_new();
	ASN1_OCTET_STRING *ivos = ASN1_OCTET_STRING_new();

	cmp_random(cek, 16);
	cmp_random(iv, 16);
	EVP_EncryptInit_ex2(c, EVP_aes_128_cbc(), cek, iv, NULL);
	EVP_CIPHER_CTX_set_padding(c, 0);
	EVP_EncryptUpdate(c, ct, &l1, pt, n);
	EVP_EncryptFinal_ex(c, ct + l1, &l2);
	EVP_PKEY_encrypt_init(pc);
	EVP_PKEY_encrypt(pc, ek, &eklen, cek, 16);
	ev->symmAlg = X509_ALGOR_new();
	ASN1_OCTET_STRING_set(ivos, iv, 16);
	X509_ALGOR_set0(ev->symmAlg, OBJ_nid2obj(NID_aes_128_cbc), V_ASN1_OCTET_STRING, ivos);
	ev->encSymmKey = ASN1_BIT_STRING_new();
	cmp_octets_to_bits(ev->encSymmKey, ek, eklen);
	cmp_octets_to_bits(ev->encValue, ct, (size_t)(l1 + l2));
	EVP_CIPHER_CTX_free(c);
	EVP_PKEY_CTX_free(pc);
	return ev;
}

TEST(encval_pkcs1_unpadded)
{
	EVP_PKEY *key = keys_generate(KEY_RSA2048), *got;
	unsigned char buf[4096], *p = buf;
	char err[256];
	int n = i2d_PrivateKey(key, &p); /* PKCS#1 RSAPrivateKey */
	PKR_ENCVAL *ev;

	CHECK(n > 0 && n < 4000, "i2d");
	memset(buf + n, 0, 16); /* zero fill to the block size, no PKCS#7 padding */
	ev = encrypt_raw(buf, (n + 15) / 16 * 16);
	got = cmp_encval_decrypt(ev, kek(), err, sizeof(err));
	CHECK(got != NULL && EVP_PKEY_eq(got, key) == 1, "PKCS#1 unpadded: %s", err);
	EVP_PKEY_free(got);
	PKR_ENCVAL_free(ev);
	EVP_PKEY_free(key);
}

TEST(encval_refuses_what_it_cannot_read)
{
	EVP_PKEY *key = keys_generate(KEY_P256), *other = keys_generate(KEY_RSA2048);
	PKR_ENCVAL *ev = cmp_encval_encrypt(key, kek(), NULL, 0);
	char err[256];

	CHECK(cmp_encval_decrypt(ev, other, err, sizeof(err)) == NULL,
	      "decrypted with another key");
	CHECK(strstr(err, "encSymmKey does not decrypt") != NULL, "reason: %s", err);
	X509_ALGOR_set0(ev->symmAlg, OBJ_nid2obj(NID_rc4), V_ASN1_UNDEF, NULL);
	CHECK(cmp_encval_decrypt(ev, kek(), err, sizeof(err)) == NULL, "rc4 accepted");
	CHECK(strstr(err, "unsupported symmAlg") != NULL, "reason: %s", err);
	ASN1_BIT_STRING_free(ev->encSymmKey);
	ev->encSymmKey = NULL;
	CHECK(cmp_encval_decrypt(ev, kek(), err, sizeof(err)) == NULL, "no encSymmKey accepted");
	CHECK(strstr(err, "without encSymmKey") != NULL, "reason: %s", err);
	PKR_ENCVAL_free(ev);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* A message protected by PBM with p, then encoded. */
static unsigned char *pbm_msg(const struct cmp_pbm_params *pp, const char *secret, size_t *len,
			      PKR_MSG **out)
{
	struct cmp_protection p = {.type = CMP_PROT_PBM};
	unsigned char tid[16] = {1}, nonce[16] = {2}, *der = NULL;
	struct cmp_hdr_args a = {.pvno = 2, .tid = tid, .sender_nonce = nonce};
	PKR_MSG *m = PKR_MSG_new();
	char err[256];

	PKR_HEADER_free(m->header);
	m->header = cmp_hdr_new(&a);
	m->body->type = CMP_BODY_PKICONF;
	m->body->value.pkiconf = ASN1_NULL_new();
	p.secret = (const unsigned char *)secret;
	p.secret_len = strlen(secret);
	p.reference = "ref";
	p.pbm = *pp;
	if (cmp_msg_protect(m, &p, err, sizeof(err)) < 0 || cmp_msg_encode(m, &der, len) < 0)
		return NULL;
	*out = m;
	return der;
}

TEST(pbm_parameters_and_bounds)
{
	struct cmp_pbm_params entrust = {NID_sha1, NID_hmac_sha1, 1024, 20};
	struct cmp_pbm_params greedy = {NID_sha256, NID_hmacWithSHA256, 200000, 16};
	PKR_MSG *m;
	size_t len;
	char err[256];
	unsigned char *der = pbm_msg(&entrust, "s3cret", &len, &m);

	CHECK(der != NULL, "protect");
	CHECK(cmp_verify_pbm(der, len, m, (const unsigned char *)"s3cret", 6, err, sizeof(err)) ==
		      CMP_VERIFY_OK,
	      "SHA-1/HMAC-SHA1/1024: %s", err);
	CHECK(cmp_verify_pbm(der, len, m, (const unsigned char *)"s3creT", 6, err, sizeof(err)) ==
		      CMP_VERIFY_BAD,
	      "wrong secret verified");
	/* a hostile reply asking for 200000 iterations is refused, not computed */
	X509_ALGOR_free(m->header->protectionAlg);
	m->header->protectionAlg = cmp_pbm_alg_new(&greedy);
	CHECK(cmp_verify_pbm(der, len, m, (const unsigned char *)"s3cret", 6, err, sizeof(err)) ==
		      CMP_VERIFY_UNSUPPORTED,
	      "200000 iterations accepted");
	CHECK(strstr(err, "iteration count 200000 outside") != NULL, "reason: %s", err);
	OPENSSL_free(der);
	PKR_MSG_free(m);
}

TEST(signature_protection)
{
	EVP_PKEY *cakey = keys_generate(KEY_P256), *eekey = keys_generate(KEY_RSA2048);
	X509_NAME *n = X509_NAME_new();
	X509 *ca, *ee, *signer = NULL;
	X509_STORE *trust = X509_STORE_new(), *other = X509_STORE_new();
	struct cmp_protection p = {.type = CMP_PROT_SIG, .md_nid = NID_sha256};
	unsigned char tid[16] = {1}, nonce[16] = {2}, *der = NULL;
	struct cmp_hdr_args a = {.pvno = 2, .tid = tid, .sender_nonce = nonce};
	PKR_MSG *m = PKR_MSG_new();
	char err[256];
	size_t len;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"T CA", -1, -1, 0);
	ca = ca_mint(NULL, cakey, n, cakey, NULL, MINT_CA, 3600);
	ee = ca_mint(ca, cakey, n, eekey, NULL, MINT_SIGNING, 3600);
	X509_STORE_add_cert(trust, ca);
	PKR_HEADER_free(m->header);
	m->header = cmp_hdr_new(&a);
	m->body->type = CMP_BODY_PKICONF;
	m->body->value.pkiconf = ASN1_NULL_new();
	p.key = eekey;
	p.cert = ee;
	CHECK(cmp_msg_protect(m, &p, err, sizeof(err)) == 0, "sign: %s", err);
	CHECK(cmp_msg_encode(m, &der, &len) == 0, "encode");
	CHECK(cmp_verify_sig(der, len, m, trust, NULL, &signer, err, sizeof(err)) == CMP_VERIFY_OK,
	      "verify: %s", err);
	CHECK(signer != NULL && X509_cmp(signer, ee) == 0, "signer");
	CHECK(cmp_verify_sig(der, len, m, other, NULL, NULL, err, sizeof(err)) ==
		      CMP_VERIFY_UNTRUSTED,
	      "untrusted signer accepted");
	{
		/* flip a bit of the transactionID, inside the protected part */
		unsigned char *t = memmem(der, len, tid, sizeof(tid));

		CHECK(t != NULL, "transactionID not found in the DER");
		t[5] ^= 1;
	}
	CHECK(cmp_verify_sig(der, len, m, trust, NULL, NULL, err, sizeof(err)) != CMP_VERIFY_OK,
	      "altered message verified");
	X509_free(signer);
	OPENSSL_free(der);
	PKR_MSG_free(m);
	X509_free(ca);
	X509_free(ee);
	X509_NAME_free(n);
	X509_STORE_free(trust);
	X509_STORE_free(other);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(eekey);
}

/* A MAC that ends in a zero octet must survive DER (about 1 in 256 does). */
TEST(pbm_mac_survives_encoding)
{
	struct cmp_pbm_params fast = {NID_sha256, NID_hmacWithSHA256, 1, 16};
	char err[256];

	for (int i = 0; i < 1500; i++) {
		size_t len;
		PKR_MSG *m, *back;
		unsigned char *der = pbm_msg(&fast, "s3cret", &len, &m);

		CHECK(der != NULL, "protect");
		back = cmp_msg_decode(der, len, err, sizeof(err));
		CHECK(back != NULL, "decode: %s", err);
		CHECK(cmp_verify_pbm(der, len, back, (const unsigned char *)"s3cret", 6, err,
				     sizeof(err)) == CMP_VERIFY_OK,
		      "round %d: MAC lost in encoding (%s)", i, err);
		PKR_MSG_free(back);
		PKR_MSG_free(m);
		OPENSSL_free(der);
	}
}
