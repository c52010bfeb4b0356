/*
 * Fuzz target: RFC 4514 DN strings (the manifest's subject column).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "x509/dn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256];
	X509_NAME *n;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if ((n = dn_parse(s, err, sizeof(err))) != NULL) {
		char *back = dn_format(n);
		X509_NAME *again = back ? dn_parse(back, err, sizeof(err)) : NULL;

		/* what we print must parse back to the same name */
		if (back != NULL && (again == NULL || X509_NAME_cmp(n, again) != 0))
			abort();
		X509_NAME_free(again);
		free(back);
		X509_NAME_free(n);
	}
	free(s);
	return 0;
}
