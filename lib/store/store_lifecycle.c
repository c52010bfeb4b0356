/*
 * Revocations and retirement in the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_deploy.h"
#include "store/store_lifecycle.h"

int store_retire(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, const char *from,
		 const char *why)
{
	sqlite3_stmt *st = store_prepare(s, "UPDATE communities SET state = 'retired', reason = ?2,"
					    " updated_at = ?3 WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	store_done(s, st);
	if (rc != SQLITE_DONE || store_deploy_mark(s, id, "retired") < 0)
		return -1;
	return store_event_add(s, run, id, from, "retired", why);
}

/* A community's id and state by name: 0 (id 0 when there is none), -1. */
static int id_state(struct pkiroll_store *s, const char *name, sqlite3_int64 *id, char *state,
		    size_t statelen)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT id, state FROM communities WHERE name = ?");
	int rc;

	*id = 0;
	state[0] = '\0';
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, state, statelen);
	}
	store_done(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_retire_by_name(struct pkiroll_store *s, const char *name, const char *why)
{
	sqlite3_int64 id = 0;
	char from[32] = "";
	int ok = 0, r = 0;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (id_state(s, name, &id, from, sizeof(from)) < 0)
		goto out;
	ok = 1;
	if (id == 0)
		r = 0;
	else if (strcmp(from, "retired") == 0)
		r = 2;
	else
		ok = store_retire(s, 0, id, from, why) == 0, r = 1;
out:
	if (store_end(s, ok, "retire") < 0)
		return -1;
	return r;
}

int store_revoke_targets(struct pkiroll_store *s, sqlite3_int64 id, int mask,
			 struct revoke_target t[2], int *n)
{
	sqlite3_stmt *st = store_prepare(
		s,
		"SELECT id, usage, serial, coalesce(revoked_at, 0), coalesce(revocation_reason, '')"
		" FROM certificates WHERE community_id = ? AND superseded_by IS NULL"
		" ORDER BY usage DESC, id DESC");
	int rc;

	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < 2) {
		const char *usage = store_col_text(st, 1);
		int bit = strcmp(usage, "signing") == 0 ? USAGE_SIGNING : USAGE_ENCRYPTION;
		struct revoke_target *x = &t[*n];

		if (!(mask & bit) || (*n == 1 && strcmp(t[0].usage, usage) == 0))
			continue;
		x->cert_id = sqlite3_column_int64(st, 0);
		snprintf(x->usage, sizeof(x->usage), "%s", usage);
		store_col_copy(st, 2, x->serial, sizeof(x->serial));
		x->revoked_at = sqlite3_column_int64(st, 3);
		store_col_copy(st, 4, x->reason, sizeof(x->reason));
		(*n)++;
	}
	store_done(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_revoke_requested(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id,
			   const struct revoke_target *t, int n, const char *reason)
{
	char why[300];
	int ok = 0;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		sqlite3_stmt *st = store_prepare(
			s, "INSERT INTO revocations (community_id, certificate_id, reason, state,"
			   " run_id, requested_at) SELECT ?1, ?2, ?3, 'requested', ?4, ?5"
			   " WHERE NOT EXISTS (SELECT 1 FROM revocations WHERE certificate_id = ?2"
			   " AND state = 'requested')");

		if (st == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, t[i].cert_id);
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, run);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
		ok = sqlite3_step(st) == SQLITE_DONE;
		store_done(s, st);
		if (!ok)
			goto out;
		snprintf(why, sizeof(why), "revocation requested: %s certificate serial %s (%s)",
			 t[i].usage, t[i].serial, reason);
		if ((ok = store_event_add(s, run, id, NULL, NULL, why) == 0) == 0)
			goto out;
	}
	ok = 1;
out:
	return store_end(s, ok, "revocation");
}

int store_revoke_answered(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, int answer,
			  const char *text)
{
	static const char *const state_of[] = {"revoked", "refused", NULL};
	sqlite3_stmt *st = NULL;
	char why[1400], from[32] = "";
	long long now = (long long)time(NULL);
	int ok = 0, rc;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((st = store_prepare(s, "SELECT state FROM communities WHERE id = ?")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		store_col_copy(st, 0, from, sizeof(from));
	store_done(s, st);
	st = NULL;
	if (answer == REVOKE_RETRY) {
		snprintf(why, sizeof(why),
			 "revocation not answered (%.1200s); it stays requested: run pkiroll "
			 "revoke again",
			 text);
		ok = store_event_add(s, run, id, from, from, why) == 0;
		goto out;
	}
	/* Phase: the certificates, when revoked. */
	if (answer == REVOKE_DONE) {
		st = store_prepare(s, "UPDATE certificates SET revoked_at = ?2, revocation_reason ="
				      " (SELECT reason FROM revocations r WHERE r.certificate_id ="
				      " certificates.id AND r.state = 'requested' LIMIT 1)"
				      " WHERE id IN (SELECT certificate_id FROM revocations"
				      " WHERE community_id = ?1 AND state = 'requested')");
		if (st == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		rc = sqlite3_step(st);
		store_done(s, st);
		st = NULL;
		if (rc != SQLITE_DONE)
			goto out;
	}
	/* Phase: the requests answered. */
	if ((st = store_prepare(
		     s, "UPDATE revocations SET state = ?2, answer = ?3,"
			" answered_at = ?4 WHERE community_id = ?1 AND state = 'requested'")) ==
	    NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state_of[answer], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	store_done(s, st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto out;
	if (answer == REVOKE_DONE && store_deploy_mark(s, id, "revoked") < 0)
		goto out;
	/* Phase: the community. A revoked key is re-enrolled with new codes. */
	if (answer == REVOKE_DONE && strcmp(from, "retired") != 0) {
		snprintf(why, sizeof(why),
			 "revoked (%.1200s): re-enroll it with a new reference number and "
			 "authorization code",
			 text);
		if ((st = store_prepare(
			     s, "UPDATE communities SET state = 'needs_codes',"
				" reason = ?2, retryable = 0, updated_at = ?3, step = NULL,"
				" tx_id = NULL, tx_nonce = NULL, tx_pbm = NULL WHERE id = ?1")) ==
		    NULL)
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		rc = sqlite3_step(st);
		store_done(s, st);
		st = NULL;
		ok = rc == SQLITE_DONE &&
		     store_event_add(s, run, id, from, "needs_codes", why) == 0;
		goto out;
	}
	snprintf(why, sizeof(why), "revocation %s: %.1200s", state_of[answer], text);
	ok = store_event_add(s, run, id, from, from, why) == 0;
out:
	return store_end(s, ok, "revocation");
}

int pkiroll_retire(pkiroll_store *s, const char *community, int only_if_revoked, const char *why)
{
	if (only_if_revoked) {
		struct revoke_target t[2];
		sqlite3_stmt *st = store_prepare(s, "SELECT id FROM communities WHERE name = ?");
		sqlite3_int64 id = 0;
		int n = 0;

		if (st == NULL)
			return PKIROLL_ERR_STORE;
		sqlite3_bind_text(st, 1, community, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		store_done(s, st);
		if (id == 0)
			return 0;
		if (store_revoke_targets(s, id, USAGE_SIGNING | USAGE_ENCRYPTION, t, &n) < 0)
			return PKIROLL_ERR_STORE;
		for (int i = 0; i < n; i++)
			if (!t[i].revoked_at)
				return 3;
	}
	switch (store_retire_by_name(s, community, why)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return 2;
	default:
		return PKIROLL_ERR_STORE;
	}
}

void store_export_clear(struct export_set *e)
{
	for (int i = 0; i < e->ncert; i++)
		free(e->cert[i].der);
	for (int i = 0; i < e->nchain; i++)
		free(e->chain[i].der);
	memset(e, 0, sizeof(*e));
}

int store_export_certs(struct pkiroll_store *s, const char *community, int mask, const char *serial,
		       struct export_set *e)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT x.id, x.usage, x.der, coalesce(c.keystore_dir, '') FROM communities c"
		   " LEFT JOIN certificates x ON x.community_id = c.id AND (CASE WHEN ?2 IS NULL"
		   " THEN x.superseded_by IS NULL AND x.revoked_at IS NULL ELSE x.serial = ?2 END)"
		   " WHERE c.name = ?1 ORDER BY x.usage DESC, x.id DESC");
	sqlite3_int64 first = 0;
	int rc, found = 0;

	memset(e, 0, sizeof(*e));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, community, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *usage = store_col_text(st, 1);
		int bit = usage == NULL			  ? 0
			  : strcmp(usage, "signing") == 0 ? USAGE_SIGNING
							  : USAGE_ENCRYPTION;
		struct export_cert *c;

		found = 1;
		store_col_copy(st, 3, e->ksdir, sizeof(e->ksdir));
		if (!(mask & bit) || e->ncert == 2 ||
		    (e->ncert == 1 && strcmp(e->cert[0].usage, usage) == 0))
			continue;
		c = &e->cert[e->ncert];
		snprintf(c->usage, sizeof(c->usage), "%s", usage);
		if ((c->der = store_col_blob_dup(st, 2, &c->len)) == NULL)
			break;
		if (e->ncert++ == 0)
			first = sqlite3_column_int64(st, 0);
	}
	store_done(s, st);
	if (rc != SQLITE_DONE) {
		store_export_clear(e);
		return -1;
	}
	if (!found)
		return 0;
	if (first == 0)
		return 1;
	/* Phase: the CA certificates above the first one, issuer first. */
	if ((st = store_prepare(s, "SELECT ca.der FROM certificate_chain cc JOIN ca_certificates"
				   " ca ON ca.id = cc.ca_certificate_id WHERE cc.certificate_id = ?"
				   " ORDER BY cc.position")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, first);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && e->nchain < EXPORT_CHAIN_MAX) {
		struct export_cert *c = &e->chain[e->nchain];

		if ((c->der = store_col_blob_dup(st, 0, &c->len)) == NULL)
			break;
		e->nchain++;
	}
	store_done(s, st);
	return 1;
}

int pkiroll_unretire(pkiroll_store *s, const char *community, const char *why, int dry_run)
{
	sqlite3_stmt *st;
	sqlite3_int64 id = 0;
	char from[32] = "";
	const char *to;
	long current = 0, revoked = 0;
	int rc, ok = 0, r = 0;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (id_state(s, community, &id, from, sizeof(from)) < 0)
		goto out;
	ok = 1;
	if (id == 0 || strcmp(from, "retired") != 0) {
		r = id == 0 ? 0 : 2;
		goto out;
	}
	/* Phase: what it comes back to: its current certificates, if none
	 * is revoked (a revoked one needs new codes, not an unretire) */
	ok = 0;
	if ((st = store_prepare(s, "SELECT count(*), count(revoked_at) FROM certificates"
				   " WHERE community_id = ? AND superseded_by IS NULL")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		current = (long)sqlite3_column_int64(st, 0);
		revoked = (long)sqlite3_column_int64(st, 1);
	}
	store_done(s, st);
	if (revoked > 0) {
		ok = 1;
		r = 3;
		goto out;
	}
	to = current > 0 ? "enrolled" : "pending";
	if ((st = store_prepare(s,
				"UPDATE communities SET state = ?2, reason = ?3, updated_at = ?4,"
				" retryable = 1, next_attempt_at = NULL WHERE id = ?1")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	store_done(s, st);
	ok = rc == SQLITE_DONE && store_event_add(s, 0, id, from, to, why) == 0;
	r = 1;
out:
	if (dry_run) {
		/* the answer, nothing written */
		store_exec(s, "ROLLBACK");
		return ok ? r : -1;
	}
	if (store_end(s, ok, "unretire") < 0)
		return -1;
	return r;
}
