/*
 * Messages captured from the openssl cmp CLI (tests/data/openssl): our
 * templates decode them, re-encode them byte for byte, verify their PBM
 * and read what they say.
 */
#include <stdlib.h>
#include <string.h>

#include "cmp/cmp.h"
#include "t.h"

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long l;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	l = ftell(f);
	rewind(f);
	buf = malloc((size_t)l);
	*n = fread(buf, 1, (size_t)l, f);
	fclose(f);
	return buf;
}

TEST(fixtures_round_trip_and_verify)
{
	static const struct {
		const char *file;
		int body;
	} fx[] = {
		{"ir.der", CMP_BODY_IR},
		{"ip-waiting.der", CMP_BODY_IP},
		{"pollreq.der", CMP_BODY_POLLREQ},
		{"ip.der", CMP_BODY_IP},
		{"certconf.der", CMP_BODY_CERTCONF},
		{"pkiconf.der", CMP_BODY_PKICONF},
		{"error.der", CMP_BODY_ERROR},
	};
	char path[4096], err[256];

	for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		unsigned char *der, *again = NULL;
		size_t n, n2;
		PKR_MSG *m;

		snprintf(path, sizeof(path), "%s", t_src("tests/data/openssl/"));
		strncat(path, fx[i].file, sizeof(path) - strlen(path) - 1);
		CHECK((der = slurp(path, &n)) != NULL, "%s missing", path);
		m = cmp_msg_decode(der, n, err, sizeof(err));
		CHECK(m != NULL, "%s: %s", fx[i].file, err);
		CHECK(m->body->type == fx[i].body, "%s: body %s", fx[i].file,
		      cmp_body_name(m->body->type));
		CHECK(cmp_msg_encode(m, &again, &n2) == 0 && n2 == n && memcmp(again, der, n) == 0,
		      "%s: re-encoding differs", fx[i].file);
		CHECK(cmp_verify_pbm(der, n, m, (const unsigned char *)"sekrit", 6, err,
				     sizeof(err)) == CMP_VERIFY_OK,
		      "%s: PBM: %s", fx[i].file, err);
		CHECK(cmp_verify_pbm(der, n, m, (const unsigned char *)"sekriT", 6, err,
				     sizeof(err)) == CMP_VERIFY_BAD,
		      "%s: wrong secret verified", fx[i].file);
		if (fx[i].body == CMP_BODY_ERROR) {
			cmp_error_text(m->body->value.error, err, sizeof(err));
			CHECK(strstr(err, "rejection (badRequest): error processing message") !=
				      NULL,
			      "error text: %s", err);
		}
		if (strcmp(fx[i].file, "ip-waiting.der") == 0)
			CHECK(cmp_pkisi_status(sk_PKR_CERTRESP_value(m->body->value.ip->response, 0)
						       ->status) == CMP_ST_WAITING,
			      "not waiting");
		OPENSSL_free(again);
		PKR_MSG_free(m);
		free(der);
	}
}

TEST(fixtures_truncations_all_refused)
{
	unsigned char *der;
	size_t n;
	char err[256];

	CHECK((der = slurp(t_src("tests/data/openssl/ip.der"), &n)) != NULL, "ip.der");
	for (size_t k = 0; k < n; k += 7) {
		PKR_MSG *m = cmp_msg_decode(der, k, err, sizeof(err));

		CHECK(m == NULL, "a %zu-byte prefix of ip.der decoded", k);
	}
	free(der);
}
