/*
 * Fuzz target: the CA-made private key in an EncryptedValue (RFC 4211
 * 2.1). The input is the EncryptedValue's DER; its encSymmKey is replaced
 * by the first 32 bytes of the input encrypted to the target's own KEK, so
 * that the fuzzer reaches the symmetric layer and the key parser behind
 * it, not only the RSA decryption. The KEK is made once, on the first
 * input.
 */
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "fuzz.h"
#include "cmp/cmp.h"
#include "x509/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *kek;
	const unsigned char *p = data;
	unsigned char ct[512];
	size_t ctlen = sizeof(ct), klen;
	const EVP_CIPHER *c;
	EVP_PKEY_CTX *pc = NULL;
	PKR_ENCVAL *ev;
	char err[256];

	if (kek == NULL && (kek = keys_generate(KEY_RSA2048)) == NULL)
		abort();
	if ((ev = d2i_PKR_ENCVAL(NULL, &p, (long)size)) == NULL)
		goto out;
	/* the content key: as long as symmAlg's cipher wants */
	c = ev->symmAlg != NULL ? EVP_get_cipherbyobj(ev->symmAlg->algorithm) : NULL;
	klen = c != NULL ? (size_t)EVP_CIPHER_get_key_length(c) : 32;
	if (klen > size)
		klen = size;
	if ((pc = EVP_PKEY_CTX_new(kek, NULL)) != NULL && EVP_PKEY_encrypt_init(pc) > 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) > 0 &&
	    EVP_PKEY_encrypt(pc, ct, &ctlen, data, klen) > 0) {
		if (ev->encSymmKey == NULL)
			ev->encSymmKey = ASN1_BIT_STRING_new();
		if (ev->encSymmKey != NULL)
			cmp_octets_to_bits(ev->encSymmKey, ct, ctlen);
	}
	EVP_PKEY_free(cmp_encval_decrypt(ev, kek, err, sizeof(err)));
out:
	/*
	 * An error left on OpenSSL's queue keeps its strings until the next
	 * clear; libFuzzer takes that for a leak and runs a full LeakSanitizer
	 * scan after the input (hundreds of inputs a second, not thousands).
	 */
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	PKR_ENCVAL_free(ev);
	return 0;
}
