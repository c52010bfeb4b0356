/*
 * p12check PASSFILE DIR...: opens DIR/keystore.p12 of each community with
 * the passphrase and checks what a gateway will import: a key and
 * certificate named "signing" that belong together, the same for
 * "encryption" (unless --single), and the CA chain. Prints one line per
 * problem and a count; exit 0 when all are good.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

static char pass[1024];

/* Finds the key and the certificate with this friendly name. */
static int pair(PKCS12 *p12, const char *name, EVP_PKEY **key, X509 **cert)
{
	STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
	int rc = -1;

	*key = NULL;
	*cert = NULL;
	for (int i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		int nid = OBJ_obj2nid(p7->type);
		STACK_OF(PKCS12_SAFEBAG) *bags = nid == NID_pkcs7_data
							 ? PKCS12_unpack_p7data(p7)
							 : PKCS12_unpack_p7encdata(p7, pass, -1);

		for (int k = 0; k < sk_PKCS12_SAFEBAG_num(bags); k++) {
			PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, k);
			char *fn = PKCS12_get_friendlyname(bag);

			if (fn != NULL && strcmp(fn, name) == 0) {
				if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
					PKCS8_PRIV_KEY_INFO *p8 =
						PKCS12_decrypt_skey(bag, pass, -1);

					*key = p8 ? EVP_PKCS82PKEY(p8) : NULL;
					PKCS8_PRIV_KEY_INFO_free(p8);
				} else if (PKCS12_SAFEBAG_get_nid(bag) == NID_certBag) {
					*cert = PKCS12_SAFEBAG_get1_cert(bag);
				}
			}
			OPENSSL_free(fn);
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	if (*key != NULL && *cert != NULL && EVP_PKEY_eq(X509_get0_pubkey(*cert), *key) == 1)
		rc = 0;
	return rc;
}

int main(int argc, char **argv)
{
	int single = 0, bad = 0, good = 0, first = 2;
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "--single") == 0) {
		single = 1;
		argv++;
		argc--;
	}
	if (argc < 3 || (f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "usage: p12check [--single] PASSFILE DIR...\n");
		return 2;
	}
	if (fgets(pass, sizeof(pass), f) == NULL)
		return 2;
	fclose(f);
	pass[strcspn(pass, "\r\n")] = '\0';
	for (int i = first; i < argc; i++) {
		char path[4096];
		PKCS12 *p12 = NULL;
		EVP_PKEY *k = NULL;
		X509 *x = NULL;
		int ok = 1;

		snprintf(path, sizeof(path), "%s/keystore.p12", argv[i]);
		if ((f = fopen(path, "rb")) != NULL) {
			p12 = d2i_PKCS12_fp(f, NULL);
			fclose(f);
		}
		if (p12 == NULL || !PKCS12_verify_mac(p12, pass, -1)) {
			printf("%s: does not open with the passphrase\n", path);
			bad++;
			PKCS12_free(p12);
			continue;
		}
		if (pair(p12, "signing", &k, &x) < 0) {
			printf("%s: no matching signing key and certificate\n", path);
			ok = 0;
		}
		EVP_PKEY_free(k);
		X509_free(x);
		k = NULL;
		x = NULL;
		if (!single && pair(p12, "encryption", &k, &x) < 0) {
			printf("%s: no matching encryption key and certificate\n", path);
			ok = 0;
		}
		EVP_PKEY_free(k);
		X509_free(x);
		PKCS12_free(p12);
		ok ? good++ : bad++;
	}
	printf("%d keystores good, %d bad\n", good, bad);
	return bad ? 1 : 0;
}
