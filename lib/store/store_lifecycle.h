/*
 * The store's side of a community's later life: revocation (asked for,
 * answered) and retirement.
 */
#ifndef PKIROLL_STORE_LIFECYCLE_H
#define PKIROLL_STORE_LIFECYCLE_H

#include "base/fileio.h"
#include "store/store.h"

/* Retires a community (state retired, an event), in the caller's
 * transaction; from is its state now. 0 or -1. */
int store_retire(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, const char *from,
		 const char *why);

/* Retires the named community in its own transaction: 1 retired, 0 no
 * such community, 2 already retired, -1 error. */
int store_retire_by_name(struct pkiroll_store *s, const char *name, const char *why);

#define USAGE_SIGNING 1
#define USAGE_ENCRYPTION 2

/* A current certificate that a revocation names. */
struct revoke_target {
	sqlite3_int64 cert_id;
	char usage[16];
	char serial[80];
	long long revoked_at; /* 0: not revoked */
	char reason[40];      /* when revoked */
};

/* The community's current certificates of the usages in mask (signing
 * first). *n gets how many (0 to 2). 0 or -1. */
int store_revoke_targets(struct pkiroll_store *s, sqlite3_int64 id, int mask,
			 struct revoke_target t[2], int *n);

/* The rr is about to go out: a revocation row per target not already
 * asked for, state requested. In one transaction. 0 or -1. */
int store_revoke_requested(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id,
			   const struct revoke_target *t, int n, const char *reason);

/*
 * The CA's answer to the revocations requested for this community:
 * revoked (the certificates marked, the community in needs_codes: a
 * revoked key is re-enrolled with new codes, never renewed), refused (the
 * answer kept, the community as it was), or neither (transient: they stay
 * requested, for the next run). answer is the CA's text. 0 or -1.
 */
enum revoke_answer { REVOKE_DONE, REVOKE_REFUSED, REVOKE_RETRY };
int store_revoke_answered(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, int answer,
			  const char *text);

/* A certificate to export, and the CA certificates above it. */
struct export_cert {
	char usage[16];
	unsigned char *der; /* malloc'd */
	size_t len;
};

#define EXPORT_CHAIN_MAX 8

struct export_set {
	char ksdir[FILE_SAFE_NAME_MAX]; /* the community's keystore directory name */
	struct export_cert cert[2];	/* signing first */
	int ncert;
	struct export_cert chain[EXPORT_CHAIN_MAX];
	int nchain;
};

/* The community's certificates of the usages in mask: the current,
 * unrevoked ones, or the one with serial. 1 found (the community; ncert may
 * be 0), 0 no such community, -1 error. */
int store_export_certs(struct pkiroll_store *s, const char *community, int mask, const char *serial,
		       struct export_set *e);
void store_export_clear(struct export_set *e);

#endif
