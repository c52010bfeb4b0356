/*
 * Partner bundles: what goes into one partner's zip, read from the store.
 */
#ifndef PKIROLL_BUNDLE_H
#define PKIROLL_BUNDLE_H

#include <time.h>

#include "fileio.h"
#include "internal.h"

struct bundle_cert {
	long long id;     /* certificates.id */
	char usage[16];   /* signing, encryption */
	unsigned char *der;
	size_t len;
	char *subject, *issuer, *serial;
	time_t not_before, not_after;
	char key_type[16];
	struct pkiroll_fingerprints fp; /* from the store: pkiroll_fingerprints() */
};

struct bundle_community {
	char name[256];
	char dir[FILE_SAFE_NAME_MAX]; /* its folder in the zip (file_safe_name(), portable) */
	struct bundle_cert cert[2];
	int ncert;
};

struct bundle_ca {
	unsigned char *der;
	size_t len;
	char *subject;
	struct pkiroll_fingerprints fp;
};

struct bundle_partner {
	long long id;
	char name[256];
	char file[FILE_SAFE_NAME_MAX]; /* its zip's name, without .zip */
	struct bundle_community *comm; /* ordered by name */
	size_t ncomm, capcomm;
	struct bundle_ca *ca; /* the union of the chains, issuer first */
	size_t nca, capca;
	unsigned long nmissing; /* linked communities without a certificate */
	time_t mtime;           /* the newest notBefore: every entry's date */
};

/* The fingerprint sheet as text and as a printable HTML page, into a new
 * buffer (*out, the caller frees). 0 or -1. */
int sheet_text(const struct bundle_partner *p, char **out, size_t *len);
int sheet_html(const struct bundle_partner *p, char **out, size_t *len);

#endif
