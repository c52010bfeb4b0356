/*
 * What a partner bundle holds, as the store gives it, and what the store
 * records of each bundle written.
 */
#ifndef PKIROLL_STORE_BUNDLE_H
#define PKIROLL_STORE_BUNDLE_H

#include <time.h>

#include "base/fileio.h"
#include "store/store.h"
#include "x509/certinfo.h"

struct bundle_cert {
	long long id;		    /* certificates.id: its DER from store_bundle_cert_der() */
	char usage[16];		    /* signing, encryption */
	struct certinfo_digests dg; /* of the DER: the sheets' fingerprints */
	char *subject, *issuer, *serial;
	time_t not_before, not_after;
	char key_type[16];
	char replaces[80]; /* the serial of the certificate it replaced, "" none */
};

/* One per community of a partner, held while its zip is written: kept
 * small (a partner may trade with 100000): digests, not the DER, which
 * is read again by id when its entry is written. */
struct bundle_community {
	char *name;
	char *as2_id;		  /* from the manifest, "" when it gave none */
	char *dir;		  /* its folder in the zip (file_safe_name(), portable) */
	struct bundle_cert *cert; /* the current ones: 1 or 2 */
	int ncert;
	struct bundle_cert *prev; /* the replaced ones, while still valid: NULL or 2 */
	int nprev;
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
	time_t mtime;		/* the newest notBefore: every entry's date */
};

/* A trading partner and its zip's name (file, set by the bundle writer). */
struct store_partner {
	long long id;
	char name[256];
	char file[FILE_SAFE_NAME_MAX];
};

/* Every partner in the store, oldest first, into *list (the caller frees
 * it). 0 or -1 (logged). */
int store_bundle_partners(struct pkiroll_store *s, struct store_partner **list, size_t *n);

/*
 * The partner's communities (dir left empty) with their current certificates
 * that are still valid at now, and the CA certificates above them. 0 or -1.
 */
int store_bundle_partner_load(struct pkiroll_store *s, struct bundle_partner *p, time_t now);

/* A certificate's DER, by its id (the caller frees it). 0 or -1 (logged). */
int store_bundle_cert_der(struct pkiroll_store *s, long long id, unsigned char **der, size_t *len);

/* Is the partner's last bundle stale: does it hold a certificate that a
 * newer one has replaced, that was revoked, or of a retired community?
 * 1, 0 (also: no bundle yet), -1 error. */
int store_bundle_stale(struct pkiroll_store *s, long long partner_id);

/* The SHA-256 (hex) of the partner's last bundle recorded at path, or "". */
int store_bundle_last_sha(struct pkiroll_store *s, long long partner_id, const char *path,
			  char out[65]);

/* Frees what store_bundle_partner_load() filled, and clears *p. */
void store_bundle_partner_clear(struct bundle_partner *p);
void store_bundle_cert_clear(struct bundle_cert *c);

/* Records a bundle written at path with its SHA-256 (hex), and the
 * certificates in it. 0 or -1. */
int store_bundle_record(struct pkiroll_store *s, const struct bundle_partner *p, const char *path,
			const char *sha);

#endif
