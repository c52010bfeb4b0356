/*
 * The store's side of deploy hooks: which communities still owe one, what
 * a hook is told about each, and its result on record.
 */
#ifndef PKIROLL_STORE_DEPLOY_H
#define PKIROLL_STORE_DEPLOY_H

#include "store/store.h"
#include "store/store_lifecycle.h"

/* One community whose deploy hook is owed. */
struct deploy_item {
	sqlite3_int64 id;
	char name[256];
	char as2_id[256];
	char event[16];	       /* enrolled, renewed, revoked, retired */
	char keystore[1024];   /* its keystore.p12, or "" */
	char serials[512];     /* the current certificates' serials, space-separated */
	char prev_serial[128]; /* renewed: the replaced signing certificate's */
};

/*
 * Marks community id deploy_pending with event, when a deploy hook is
 * armed (else does nothing). Called inside the transaction that commits
 * the change, so that a crash before the hook leaves it owed. 0 or -1.
 */
int store_deploy_mark(struct pkiroll_store *s, sqlite3_int64 id, const char *event);

/*
 * The communities that owe a deploy hook, in name order; only the named
 * ones when nnames > 0. *out is malloc'd (the caller frees it). 0, or -1.
 */
int store_deploy_list(struct pkiroll_store *s, const char *const *names, int nnames,
		      struct deploy_item **out, size_t *n);

/*
 * What a deploy hook's PEM files hold, for a keystore directory that lacks
 * them: community id's current certificates, revoked or not (signing
 * first), and the CA certificates above the first, issuer first. e is
 * cleared first; on error it holds nothing. 0 or -1.
 */
int store_deploy_certs(struct pkiroll_store *s, sqlite3_int64 id, struct export_set *e);

/*
 * A hook's result for community id: ok clears deploy_pending; either way
 * an event with text (the hook's output, display-safe) is added. 0 or -1.
 */
int store_deploy_settle(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, int ok,
			const char *text);

#endif
