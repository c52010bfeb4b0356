/*
 * Fuzz target: a CMP reply as the client reads it: decode, MAC check, the
 * signer of a signed reply, status texts (ip/cp/kup, rp), and the
 * EncryptedValue of a central key. The KEK is made once, on the first
 * input.
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/err.h>

#include "cmp/cmp.h"
#include "x509/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *kek;
	char err[512];
	PKR_MSG *m;

	if (kek == NULL && (kek = keys_generate(KEY_RSA2048)) == NULL)
		abort();
	if ((m = cmp_msg_decode(data, size, err, sizeof(err))) == NULL)
		goto out;
	cmp_verify_pbm(data, size, m, (const unsigned char *)"sekrit", 6, err, sizeof(err));
	cmp_verify_sig(data, size, m, NULL, m->extraCerts, NULL, err, sizeof(err));
	switch (m->body->type) {
	case CMP_BODY_IP:
	case CMP_BODY_CP:
	case CMP_BODY_KUP:
		for (int i = 0; i < sk_PKR_CERTRESP_num(m->body->value.ip->response); i++) {
			const PKR_CERTRESP *cr =
				sk_PKR_CERTRESP_value(m->body->value.ip->response, i);
			const PKR_CKP *ckp = cr->certifiedKeyPair;

			cmp_pkisi_text(cr->status, err, sizeof(err));
			if (ckp != NULL && ckp->privateKey != NULL &&
			    ckp->privateKey->type == PKR_ENCKEY_VALUE)
				EVP_PKEY_free(
					cmp_encval_decrypt(ckp->privateKey->value.encryptedValue,
							   kek, err, sizeof(err)));
		}
		break;
	case CMP_BODY_RP:
		for (int i = 0; i < sk_PKR_PKISI_num(m->body->value.rp->status); i++)
			cmp_pkisi_text(sk_PKR_PKISI_value(m->body->value.rp->status, i), err,
				       sizeof(err));
		break;
	case CMP_BODY_ERROR:
		cmp_error_text(m->body->value.error, err, sizeof(err));
		break;
	default:
		break;
	}
	PKR_MSG_free(m);
out:
	/* as in fuzz_encval: an error left queued reads as a leak to libFuzzer */
	ERR_clear_error();
	return 0;
}
