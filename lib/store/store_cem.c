/*
 * Certificate exchange messages in the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_cem.h"

void store_cem_due_clear(struct cem_due *d)
{
	for (int i = 0; i < d->ncert; i++)
		free(d->cert[i].der);
	memset(d, 0, sizeof(*d));
}

static int named(const char *name, const char *const *list, int n)
{
	if (n == 0)
		return 1;
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

/* The current certificates of d's community, and what its signing one replaced. */
static int due_certs(struct pkiroll_store *s, struct cem_due *d)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT id, usage, serial, issuer, der FROM certificates WHERE community_id = ?"
		   " AND superseded_by IS NULL AND revoked_at IS NULL AND not_after > ?"
		   " ORDER BY usage DESC, id DESC");
	long long sign_id = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, d->community_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->ncert < 2) {
		struct cem_cert *c = &d->cert[d->ncert];

		if (d->ncert == 1 && strcmp(d->cert[0].usage, store_col_text(st, 1)) == 0)
			continue;
		c->id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, c->usage, sizeof(c->usage));
		store_col_copy(st, 2, c->serial, sizeof(c->serial));
		store_col_copy(st, 3, c->issuer, sizeof(c->issuer));
		if ((c->der = store_col_blob_dup(st, 4, &c->len)) == NULL)
			break;
		if (strcmp(c->usage, "signing") == 0)
			sign_id = c->id;
		d->ncert++;
	}
	store_done(s, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	if (sign_id == 0)
		return 0;
	if ((st = store_prepare(s, "SELECT serial FROM certificates WHERE superseded_by = ?"
				   " AND usage = 'signing' ORDER BY id DESC LIMIT 1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, sign_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		store_col_copy(st, 0, d->replaced_serial, sizeof(d->replaced_serial));
	store_done(s, st);
	return 0;
}

/* A due pair's names, AS2 ids, response URL and keystore directory. */
static int due_pair_load(struct pkiroll_store *s, long long partner_id, long long community_id,
			 struct cem_due *d)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT p.name, coalesce(p.as2_id, ''), c.name, coalesce(c.as2_id, c.name),"
		   " coalesce(c.cem_response_url, ''), coalesce(c.keystore_dir, '')"
		   " FROM partners p, communities c WHERE p.id = ?1 AND c.id = ?2");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, partner_id);
	sqlite3_bind_int64(st, 2, community_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d->partner_id = partner_id;
		d->community_id = community_id;
		store_col_copy(st, 0, d->partner, sizeof(d->partner));
		store_col_copy(st, 1, d->partner_as2, sizeof(d->partner_as2));
		store_col_copy(st, 2, d->community, sizeof(d->community));
		store_col_copy(st, 3, d->as2_id, sizeof(d->as2_id));
		store_col_copy(st, 4, d->response_url, sizeof(d->response_url));
		store_col_copy(st, 5, d->ksdir, sizeof(d->ksdir));
	}
	store_done(s, st);
	if (rc != SQLITE_ROW) {
		store_sql_error(s, "cem pair");
		return -1;
	}
	return 0;
}

int store_cem_due(struct pkiroll_store *s, const char *const *partners, int npartners,
		  const char *const *communities, int ncommunities, int reissue,
		  store_cem_due_fn *fn, void *arg)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT p.id, p.name, coalesce(p.as2_id, ''), c.id, c.name,"
		   " coalesce(c.as2_id, c.name), coalesce(c.cem_response_url, ''),"
		   " coalesce(c.keystore_dir, '') FROM partner_communities pc"
		   " JOIN partners p ON p.id = pc.partner_id"
		   " JOIN communities c ON c.id = pc.community_id"
		   " WHERE c.state != 'retired' AND EXISTS (SELECT 1 FROM certificates x"
		   "  WHERE x.community_id = c.id AND x.superseded_by IS NULL"
		   "  AND x.revoked_at IS NULL AND x.not_after > ?1 AND (?2 = 1 OR NOT EXISTS"
		   /* from the certificate's few items to their requests: the
		    * other way reads every request made to the partner, once per
		    * certificate (CROSS JOIN keeps the order) */
		   "  (SELECT 1 FROM cem_items i CROSS JOIN cem_requests r ON r.id = i.request"
		   "   WHERE i.certificate_id = x.id AND r.partner_id = p.id)))"
		   " ORDER BY p.name, c.name");
	/* only the pairs' ids are held (16 bytes each, not a struct cem_due
	 * of a few KB): a run over 100k communities stays small */
	struct due_pair {
		long long partner_id, community_id;
	} *list = NULL;
	size_t n = 0, cap = 0;
	int rc, err = 0;

	if (st == NULL)
		return -1;
	/* Phase: the pairs, read whole: the callback writes to the store */
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_int(st, 2, reissue != 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!named(store_col_text(st, 1), partners, npartners) ||
		    !named(store_col_text(st, 4), communities, ncommunities))
			continue;
		if (BASE_GROW(list, cap, n + 1) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		list[n].partner_id = sqlite3_column_int64(st, 0);
		list[n].community_id = sqlite3_column_int64(st, 3);
		n++;
	}
	store_done(s, st);
	if (rc != SQLITE_DONE) {
		free(list);
		store_sql_error(s, "cem");
		return -1;
	}
	/* Phase: each pair with its names and certificates, one at a time. */
	for (size_t i = 0; i < n && err == 0; i++) {
		struct cem_due *d = calloc(1, sizeof(*d));

		if (d == NULL ||
		    due_pair_load(s, list[i].partner_id, list[i].community_id, d) < 0 ||
		    due_certs(s, d) < 0 || fn(arg, d) != 0)
			err = -1;
		if (d != NULL)
			store_cem_due_clear(d);
		free(d);
	}
	free(list);
	return err;
}

/* The id of a request directory (dir, dlen bytes), recorded the first
 * time it is seen. 0 or -1. */
static int cem_dir_id(struct pkiroll_store *s, const char *dir, int dlen, sqlite3_int64 *id)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = store_prepare(s, "INSERT INTO cem_dirs (path) VALUES (?)"
				   " ON CONFLICT (path) DO NOTHING")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, dir, dlen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	store_done(s, st);
	if (rc != SQLITE_DONE ||
	    (st = store_prepare(s, "SELECT id FROM cem_dirs WHERE path = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, dir, dlen, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	store_done(s, st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int store_cem_requests_add(struct pkiroll_store *s, const struct cem_written *w, size_t n)
{
	sqlite3_stmt *st;
	sqlite3_int64 dir_id = 0;
	const char *dir = NULL;
	int ok = 1, dlen = 0;

	/* no event per request: the request row is the record, and history
	 * shows it (an event each was a third of a 100k store's CEM round) */
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	for (size_t k = 0; ok && k < n; k++) {
		const char *slash = strrchr(w[k].path, '/');
		sqlite3_int64 rid;

		/* the directory once (a batch is one partner's), the file by name */
		if (slash != NULL && (dir == NULL || (int)(slash - w[k].path) != dlen ||
				      memcmp(dir, w[k].path, (size_t)dlen) != 0)) {
			dir = w[k].path;
			dlen = (int)(slash - w[k].path);
			ok = cem_dir_id(s, dir, dlen, &dir_id) == 0;
		}
		if (!ok ||
		    (st = store_prepare(s, "INSERT INTO cem_requests (request_id, partner_id,"
					   " community_id, path, signed, created_at, dir_id)"
					   " VALUES (?, ?, ?, ?, ?, ?, ?)")) == NULL) {
			ok = 0;
			break;
		}
		sqlite3_bind_text(st, 1, w[k].request_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, w[k].partner_id);
		sqlite3_bind_int64(st, 3, w[k].community_id);
		sqlite3_bind_text(st, 4, slash != NULL ? slash + 1 : w[k].path, -1, SQLITE_STATIC);
		if (slash != NULL)
			sqlite3_bind_int64(st, 7, dir_id);
		sqlite3_bind_int(st, 5, w[k].is_signed);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
		ok = sqlite3_step(st) == SQLITE_DONE;
		store_done(s, st);
		rid = sqlite3_last_insert_rowid(s->db);
		for (int i = 0; ok && i < w[k].ncert; i++) {
			if ((st = store_prepare(s, "INSERT INTO cem_items (request, certificate_id)"
						   " VALUES (?, ?)")) == NULL) {
				ok = 0;
				break;
			}
			sqlite3_bind_int64(st, 1, rid);
			sqlite3_bind_int64(st, 2, w[k].cert_id[i]);
			ok = sqlite3_step(st) == SQLITE_DONE;
			store_done(s, st);
		}
	}
	return store_end(s, ok, "cem request");
}

/* A time for a message: UTC, to the second. */
static void utc_text(time_t t, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int store_cem_answer(struct pkiroll_store *s, const char *request_id, const char *as2,
		     time_t originated, const struct cem_answer *a, int n, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	sqlite3_int64 rid = 0, cid = 0;
	char partner[256] = "", want_as2[256] = "", why[800];
	int rc, ok = 0, refused = 0;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((st = store_prepare(s, "SELECT r.id, r.community_id, p.name, coalesce(p.as2_id, p.name)"
				   " FROM cem_requests r JOIN partners p ON p.id = r.partner_id"
				   " WHERE r.request_id = ?")) == NULL)
		goto out;
	sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rid = sqlite3_column_int64(st, 0);
		cid = sqlite3_column_int64(st, 1);
		store_col_copy(st, 2, partner, sizeof(partner));
		store_col_copy(st, 3, want_as2, sizeof(want_as2));
	}
	store_done(s, st);
	if (rid == 0) {
		snprintf(err, errlen, "requestId \"%.100s\" is not a request pkiroll wrote",
			 request_id);
		refused = 1;
		goto out;
	}
	/* Phase: the answer comes from the partner the request went to. */
	if (as2 == NULL || strcmp(as2, want_as2) != 0) {
		snprintf(err, errlen,
			 "TradingPartnerInfo/Name \"%.100s\": request %.100s went to partner "
			 "%.100s, whose AS2 name is \"%.100s\"",
			 as2 ? as2 : "", request_id, partner, want_as2);
		refused = 1;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		char had[16] = "", had_reason[600] = "";
		sqlite3_int64 had_at = 0;
		int found = 0;

		/* Phase: never an older answer over a newer one. */
		if ((st = store_prepare(s, "SELECT i.status, coalesce(i.reason, ''),"
					   " coalesce(i.answered_at, 0) FROM cem_items i"
					   " JOIN certificates x ON x.id = i.certificate_id"
					   " WHERE i.request = ?1 AND x.serial = ?2")) == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, rid);
		sqlite3_bind_text(st, 2, a[i].serial, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			found = 1;
			store_col_copy(st, 0, had, sizeof(had));
			store_col_copy(st, 1, had_reason, sizeof(had_reason));
			had_at = sqlite3_column_int64(st, 2);
		}
		store_done(s, st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto out;
		if (found && strcmp(had, "sent") != 0 &&
		    (had_at > (sqlite3_int64)originated ||
		     (had_at == (sqlite3_int64)originated &&
		      (strcmp(had, a[i].status) != 0 ||
		       strcmp(had_reason, a[i].reason ? a[i].reason : "") != 0)))) {
			char t1[32], t2[32];

			utc_text(originated, t1, sizeof(t1));
			utc_text((time_t)had_at, t2, sizeof(t2));
			snprintf(err, errlen,
				 "TrustResponse[%d]: certificate serial %s: this answer (%s, "
				 "MessageOriginated %s) is %s the one recorded (%s, %s); an older "
				 "answer never replaces a newer one",
				 i + 1, a[i].serial, a[i].status, t1,
				 had_at > (sqlite3_int64)originated ? "older than"
								    : "as old as but differs from",
				 had, t2);
			refused = 1;
			goto out;
		}
		if ((st = store_prepare(
			     s, "UPDATE cem_items SET status = ?3, reason = ?4,"
				" answered_at = ?5 WHERE request = ?1 AND certificate_id IN"
				" (SELECT id FROM certificates WHERE serial = ?2)")) == NULL)
			goto out;
		sqlite3_bind_int64(st, 1, rid);
		sqlite3_bind_text(st, 2, a[i].serial, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, a[i].status, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a[i].reason && a[i].reason[0] ? a[i].reason : NULL, -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)originated);
		rc = sqlite3_step(st);
		store_done(s, st);
		if (rc != SQLITE_DONE)
			goto out;
		if (sqlite3_changes(s->db) != 1) {
			snprintf(err, errlen,
				 "TrustResponse[%d]: certificate serial %s (issuer %.200s) was not "
				 "in request %.100s",
				 i + 1, a[i].serial, a[i].issuer ? a[i].issuer : "?", request_id);
			refused = 1;
			goto out;
		}
		snprintf(why, sizeof(why), "CEM: partner %.200s %s certificate serial %s%s%.300s",
			 partner,
			 strcmp(a[i].status, "Accepted") == 0	? "accepted"
			 : strcmp(a[i].status, "Rejected") == 0 ? "rejected"
								: "has yet to decide on",
			 a[i].serial, a[i].reason && a[i].reason[0] ? ": " : "",
			 a[i].reason ? a[i].reason : "");
		if (store_event_add(s, 0, cid, NULL, NULL, why) < 0)
			goto out;
	}
	ok = 1;
out:
	if (refused) {
		store_exec(s, "ROLLBACK");
		return 1;
	}
	return store_end(s, ok, "cem response") < 0 ? -1 : 0;
}

int store_cem_partner_files(struct pkiroll_store *s, long long partner_id, char ***paths, size_t *n)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT CASE WHEN r.dir_id IS NULL THEN r.path ELSE d.path || '/' || r.path END"
		   " FROM cem_requests r LEFT JOIN cem_dirs d ON d.id = r.dir_id"
		   " WHERE r.partner_id = ?1 AND r.path IS NOT NULL"
		   " AND r.id = (SELECT max(id) FROM cem_requests q WHERE q.partner_id = ?1"
		   " AND q.community_id = r.community_id) ORDER BY r.id");
	char **v = NULL;
	size_t cap = 0;
	int rc;

	*paths = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, partner_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (BASE_GROW(v, cap, *n + 1) < 0)
			break;
		if ((v[*n] = store_col_dup(st, 0)) != NULL)
			(*n)++;
	}
	store_done(s, st);
	*paths = v;
	return rc == SQLITE_DONE ? 0 : -1;
}
