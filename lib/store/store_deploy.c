/*
 * Deploy hooks in the store: the mark set with a change, the list of the
 * communities that still owe a hook, and a hook's result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_deploy.h"

int store_deploy_mark(struct pkiroll_store *s, sqlite3_int64 id, const char *event)
{
	sqlite3_stmt *st;
	int rc;

	if (!s->deploy_armed)
		return 0;
	if ((st = store_prepare(s, "UPDATE communities SET deploy_pending = ?2 WHERE id = ?1")) ==
	    NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	store_done(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void pkiroll_store_deploy_arm(pkiroll_store *s, int armed)
{
	s->deploy_armed = armed;
}

static int named(const char *name, const char *const *names, int nnames)
{
	if (nnames == 0)
		return 1;
	for (int i = 0; i < nnames; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

int store_deploy_list(struct pkiroll_store *s, const char *const *names, int nnames,
		      struct deploy_item **out, size_t *n)
{
	sqlite3_stmt *q = store_prepare(
		s, "SELECT id, name, coalesce(as2_id, ''), deploy_pending, coalesce(keystore, ''),"
		   " coalesce((SELECT group_concat(serial, ' ') FROM (SELECT serial FROM"
		   "  certificates c WHERE c.community_id = communities.id AND"
		   "  c.superseded_by IS NULL ORDER BY usage DESC)), ''),"
		   " CASE WHEN deploy_pending = 'renewed' THEN coalesce((SELECT serial FROM"
		   "  certificates c WHERE c.community_id = communities.id AND usage = 'signing'"
		   "  AND c.superseded_by IS NOT NULL ORDER BY c.id DESC LIMIT 1), '') ELSE '' END"
		   " FROM communities WHERE deploy_pending IS NOT NULL ORDER BY name");
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct deploy_item *it;

		if (!named(store_col_text(q, 1), names, nnames))
			continue;
		if (BASE_GROW(*out, cap, *n + 1) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		it = &(*out)[(*n)++];
		memset(it, 0, sizeof(*it));
		it->id = sqlite3_column_int64(q, 0);
		store_col_copy(q, 1, it->name, sizeof(it->name));
		store_col_copy(q, 2, it->as2_id, sizeof(it->as2_id));
		store_col_copy(q, 3, it->event, sizeof(it->event));
		store_col_copy(q, 4, it->keystore, sizeof(it->keystore));
		store_col_copy(q, 5, it->serials, sizeof(it->serials));
		store_col_copy(q, 6, it->prev_serial, sizeof(it->prev_serial));
	}
	store_done(s, q);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, "deploy hooks");
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

/* Frees what store_deploy_certs() took (store_export_clear() is the
 * lifecycle's, and that file calls this one). */
static void certs_clear(struct export_set *e)
{
	for (int i = 0; i < e->ncert; i++)
		free(e->cert[i].der);
	for (int i = 0; i < e->nchain; i++)
		free(e->chain[i].der);
	memset(e, 0, sizeof(*e));
}

int store_deploy_certs(struct pkiroll_store *s, sqlite3_int64 id, struct export_set *e)
{
	sqlite3_stmt *st;
	sqlite3_int64 first = 0;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((st = store_prepare(s, "SELECT id, usage, der FROM certificates WHERE community_id = ?"
				   " AND superseded_by IS NULL ORDER BY usage DESC, id DESC")) ==
	    NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && e->ncert < 2) {
		struct export_cert *c = &e->cert[e->ncert];

		/* one of each usage: the newest */
		if (e->ncert == 1 && strcmp(e->cert[0].usage, store_col_text(st, 1)) == 0)
			continue;
		store_col_copy(st, 1, c->usage, sizeof(c->usage));
		if ((c->der = store_col_blob_dup(st, 2, &c->len)) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (e->ncert++ == 0)
			first = sqlite3_column_int64(st, 0);
	}
	store_done(s, st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		goto fail;
	if (first == 0)
		return 0;
	if ((st = store_prepare(s, "SELECT ca.der FROM certificate_chain cc JOIN ca_certificates"
				   " ca ON ca.id = cc.ca_certificate_id WHERE cc.certificate_id = ?"
				   " ORDER BY cc.position")) == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, first);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && e->nchain < EXPORT_CHAIN_MAX) {
		struct export_cert *c = &e->chain[e->nchain];

		if ((c->der = store_col_blob_dup(st, 0, &c->len)) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		e->nchain++;
	}
	store_done(s, st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
fail:
	store_sql_error(s, "deploy hook certificates");
	certs_clear(e);
	return -1;
}

int store_deploy_settle(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, int ok,
			const char *text)
{
	sqlite3_stmt *st = NULL;
	char state[32] = "";
	int good = 0;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((st = store_prepare(s, "SELECT state FROM communities WHERE id = ?")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		store_col_copy(st, 0, state, sizeof(state));
	store_done(s, st);
	if (ok) {
		if ((st = store_prepare(s, "UPDATE communities SET deploy_pending = NULL"
					   " WHERE id = ?1")) == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, id);
		good = sqlite3_step(st) == SQLITE_DONE;
		store_done(s, st);
		if (!good)
			goto out;
	}
	good = store_event_add(s, run, id, state, state, text) == 0;
out:
	return store_end(s, good, "deploy hook");
}
