/*
 * One passphrase for all of a store's keystores. The store keeps a
 * verifier of it (store_pass.c); every command that takes the passphrase
 * checks it here before it sends or writes anything, so a run under
 * another passphrase stops at once instead of leaving keystores under two
 * passphrases that only a renewal months later would find.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store/store_pass.h"
#include "write/keystore.h"

#define SEE_REKEY "see pkiroll rekey-keystores"

/* The first recorded keystore that exists: what pass must open. */
struct probe {
	const char *base, *pass;
	int found;	    /* 1 it opened, -1 it did not */
	unsigned long seen; /* keystores on record, up to that one */
	char community[256], path[1400];
};

/* store_keystore_dir_fn: stops (1) at the first keystore.p12 there is */
static int probe_one(void *arg, const char *community, const char *ksdir)
{
	struct probe *p = arg;
	char dir[1200];
	int r;

	p->seen++;
	snprintf(dir, sizeof(dir), "%s/%s", p->base, ksdir);
	if ((r = keystore_opens(dir, "keystore.p12", p->pass)) == 0)
		return 0;
	p->found = r;
	snprintf(p->community, sizeof(p->community), "%s", community);
	snprintf(p->path, sizeof(p->path), "%s/keystore.p12", dir);
	return 1;
}

/* A store without a verifier: pass against its first keystore, then the
 * verifier recorded. */
static int adopt(pkiroll_store *s, const char *keystore_dir, const char *pass)
{
	struct probe p = {.base = keystore_dir, .pass = pass};
	struct store_verifier v;
	int r;

	if (store_keystore_dirs(s, 1, probe_one, &p) < 0)
		return PKIROLL_ERR_STORE;
	if (p.found < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"the keystore passphrase does not open %s (community %s), a keystore of "
			"this store: it is not the one this store's keystores use; " SEE_REKEY,
			p.path, p.community);
		return PKIROLL_ERR_CONFIG;
	}
	if (p.found == 0 && p.seen > 0) {
		/* keystores on record, none here: a wrong --keystore-dir, not a
		 * first use; nothing to check against, nothing recorded */
		ctx_log(s->ctx, PKIROLL_LOG_DEBUG,
			"no keystore of this store under %s: the passphrase is not recorded yet",
			keystore_dir);
		return PKIROLL_OK;
	}
	r = store_verifier_make(pass, &v) == 0 ? store_verifier_put(s, "current", &v) : -1;
	OPENSSL_cleanse(&v, sizeof(v));
	if (r < 0)
		return PKIROLL_ERR_STORE;
	ctx_log(s->ctx, PKIROLL_LOG_DEBUG, "store %s: keystore passphrase verifier recorded (%s)",
		s->path, p.found ? p.community : "first use");
	return PKIROLL_OK;
}

int keystore_pass_current(pkiroll_store *s, const char *keystore_dir, const char *pass)
{
	struct store_verifier v;
	int r;

	if (pass == NULL || pass[0] == '\0')
		return PKIROLL_ERR_CONFIG;
	if ((r = store_verifier_get(s, "current", &v)) < 0)
		return PKIROLL_ERR_STORE;
	if (r == 0)
		return adopt(s, keystore_dir, pass);
	r = store_verifier_match(&v, pass);
	if (r == 1)
		return PKIROLL_OK;
	if (r < 0)
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"store %s: the keystore passphrase verifier is %s (%d iterations), which "
			"this pkiroll does not know: a newer pkiroll wrote it",
			s->path, v.algorithm, v.iterations);
	else
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"the keystore passphrase does not match the one this store's keystores "
			"use; " SEE_REKEY);
	return PKIROLL_ERR_CONFIG;
}

int keystore_pass_guard(pkiroll_store *s, const char *keystore_dir, const char *pass)
{
	struct store_verifier v;
	int r;

	if ((r = store_verifier_get(s, "rekey", &v)) < 0)
		return PKIROLL_ERR_STORE;
	if (r == 1) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"store %s: a keystore rekey was interrupted: its keystores are partly "
			"under the new passphrase; run pkiroll rekey-keystores again (the same "
			"passphrases) to finish it",
			s->path);
		return PKIROLL_ERR_CONFIG;
	}
	return keystore_pass_current(s, keystore_dir, pass);
}
