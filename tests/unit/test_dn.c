/*
 * RFC 4514 DN strings.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "x509/dn.h"
#include "t.h"

TEST(dn_order_and_round_trip)
{
	char err[256];
	X509_NAME *n = dn_parse("CN=Acme EDI,O=Acme Corp,C=US", err, sizeof(err));
	char *s;

	CHECK(n != NULL, "parse: %s", err);
	CHECK(X509_NAME_entry_count(n) == 3, "%d entries", X509_NAME_entry_count(n));
	CHECK(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 0))) == NID_countryName,
	      "first RDN in the certificate is not C");
	s = dn_format(n);
	CHECK(s != NULL && strcmp(s, "CN=Acme EDI,O=Acme Corp,C=US") == 0, "format \"%s\"", s);
	free(s);
	X509_NAME_free(n);
}

TEST(dn_escapes_and_multivalue)
{
	char err[256];
	X509_NAME *n = dn_parse("CN=a\\,b\\2Bc+UID=u1, O = \"Q, Inc.\" ,C=DE", err, sizeof(err));
	const ASN1_STRING *v;

	CHECK(n != NULL, "parse: %s", err);
	CHECK(X509_NAME_entry_count(n) == 4, "%d entries", X509_NAME_entry_count(n));
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 2));
	CHECK(v->length == 5 && memcmp(v->data, "a,b+c", 5) == 0, "escaped CN wrong");
	CHECK(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 2)) ==
		      X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 3)),
	      "CN+UID not one RDN");
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 1));
	CHECK(v->length == 7 && memcmp(v->data, "Q, Inc.", 7) == 0, "quoted O wrong");
	X509_NAME_free(n);
}

TEST(dn_errors)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"", "empty DN"},
		{"CN", "is not TYPE=value"},
		{"CN=", "empty value"},
		{"XYZ=1", "unknown attribute type"},
		{"CN=a;O=b", "unescaped ';'"},
		{"C=USA", "two letters"},
		{"CN=#0403616263", "hex-encoded"},
		{"CN=a\\q", "bad escape"},
		{"CN=\"open", "unterminated"},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509_NAME *n = dn_parse(cases[i].in, err, sizeof(err));

		CHECK(n == NULL, "\"%s\" accepted", cases[i].in);
		CHECK(strstr(err, cases[i].want) != NULL, "\"%s\": error \"%s\", want \"%s\"",
		      cases[i].in, err, cases[i].want);
	}
}
