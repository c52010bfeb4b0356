/*
 * Distinguished names written as strings (RFC 4514: "CN=Acme EDI,O=Acme
 * Corp,C=US", most specific RDN first).
 */
#ifndef PKIROLL_DN_H
#define PKIROLL_DN_H

#include <stddef.h>

#include <openssl/x509.h>

/*
 * Parses an RFC 4514 string into an X509_NAME (RDNs in certificate order,
 * the reverse of the string). On error returns NULL and writes the reason
 * into err. The result is the caller's.
 */
X509_NAME *dn_parse(const char *s, char *err, size_t errlen);

/* RFC 4514 text of a name, UTF-8; caller frees with free(). NULL on error. */
char *dn_format(const X509_NAME *name);

#endif
