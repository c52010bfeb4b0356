/*
 * The store's answer to `pkiroll status`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_monitor.h"
#include "store/store_renew.h"

/* store_attention_fn: each item into the status. */
struct collect {
	struct pkiroll_status *st;
	size_t cap;
	int nomem;
};

static int collect_item(void *arg, const struct store_attention *a)
{
	struct collect *c = arg;
	struct pkiroll_status_item *it;

	if (BASE_GROW(c->st->attention, c->cap, c->st->nattention + 1) < 0) {
		c->nomem = 1;
		return 1;
	}
	it = &c->st->attention[c->st->nattention++];
	memset(it, 0, sizeof(*it));
	it->community = base_strdup(a->community);
	it->state = a->state;
	it->reason = base_strdup(a->reason);
	it->retryable = a->retryable;
	snprintf(it->kind, sizeof(it->kind), "%s", a->kind ? a->kind : "");
	return 0;
}

/* Items by community, then kind: the sources merged. */
static int item_cmp(const void *a, const void *b)
{
	const struct pkiroll_status_item *x = a, *y = b;
	int r = strcmp(x->community ? x->community : "", y->community ? y->community : "");

	return r != 0 ? r : strcmp(x->kind, y->kind);
}

int pkiroll_status_get(pkiroll_store *s, time_t now, unsigned days, struct pkiroll_status **out)
{
	struct pkiroll_status *st = calloc(1, sizeof(*st));
	sqlite3_stmt *q = NULL;
	size_t cap = 0;
	int rc, err = PKIROLL_ERR_STORE;

	*out = NULL;
	if (st == NULL)
		return PKIROLL_ERR_NOMEM;

	/* Phase: counts per state. */
	if ((q = store_prepare(s, "SELECT state, count(*) FROM communities GROUP BY state")) ==
	    NULL)
		goto out;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int i = base_state_from_name((const char *)sqlite3_column_text(q, 0));

		if (i >= 0)
			st->count[i] = (unsigned long)sqlite3_column_int64(q, 1);
		st->communities += (unsigned long)sqlite3_column_int64(q, 1);
	}
	store_done(s, q);
	q = NULL;
	if (rc != SQLITE_DONE)
		goto out;

	/* Phase: communities that need an operator. */
	{
		struct collect c = {.st = st};

		if (store_attention_each(s, collect_item, &c) < 0)
			goto out;
		if (c.nomem) {
			err = PKIROLL_ERR_NOMEM;
			goto out;
		}
	}

	/* Phase: the current certificates in service: how many, expired, the soonest. */
	if ((q = store_prepare(s, "SELECT count(*), coalesce(sum(x.not_after <= ?1), 0),"
				  " coalesce(min(x.not_after), 0) FROM certificates x"
				  " JOIN communities c ON c.id = x.community_id"
				  " WHERE x.superseded_by IS NULL AND x.revoked_at IS NULL"
				  " AND c.state != 'retired'")) == NULL)
		goto out;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)now);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		st->certificates = (unsigned long)sqlite3_column_int64(q, 0);
		st->expired = (unsigned long)sqlite3_column_int64(q, 1);
		st->soonest = (time_t)sqlite3_column_int64(q, 2);
	}
	store_done(s, q);
	q = NULL;
	if (rc != SQLITE_ROW)
		goto out;

	/* Phase: current certificates that expire soon (a revoked one does not). */
	if ((q = store_prepare(s,
			       "SELECT c.name, x.usage, x.serial, x.not_after FROM certificates x"
			       " JOIN communities c ON c.id = x.community_id"
			       " WHERE x.superseded_by IS NULL AND x.not_after < ?"
			       " AND x.revoked_at IS NULL AND c.state != 'retired'"
			       " ORDER BY x.not_after, c.name")) == NULL)
		goto out;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)now + (sqlite3_int64)days * 86400);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct pkiroll_status_cert *c;

		if (BASE_GROW(st->expiring, cap, st->nexpiring + 1) < 0) {
			err = PKIROLL_ERR_NOMEM;
			goto out;
		}
		c = &st->expiring[st->nexpiring++];
		c->community = store_col_dup_null(q, 0);
		c->usage = store_col_dup_null(q, 1);
		c->serial = store_col_dup_null(q, 2);
		c->not_after = (time_t)sqlite3_column_int64(q, 3);
	}
	if (rc != SQLITE_DONE)
		goto out;
	if (st->nattention > 1)
		qsort(st->attention, st->nattention, sizeof(st->attention[0]), item_cmp);
	err = PKIROLL_OK;
out:
	if (err == PKIROLL_ERR_STORE)
		store_sql_error(s, "status");
	store_done(s, q);
	if (err != PKIROLL_OK)
		pkiroll_status_free(st);
	else
		*out = st;
	return err;
}

void pkiroll_status_free(struct pkiroll_status *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nattention; i++) {
		free(st->attention[i].community);
		free(st->attention[i].reason);
	}
	for (size_t i = 0; i < st->nexpiring; i++) {
		free(st->expiring[i].community);
		free(st->expiring[i].usage);
		free(st->expiring[i].serial);
	}
	free(st->attention);
	free(st->expiring);
	free(st);
}

int pkiroll_status_each(pkiroll_store *s, const struct pkiroll_window *window,
			pkiroll_status_row_fn *fn, void *arg)
{
	static const struct pkiroll_window month = {.secs = 30LL * 86400};
	sqlite3_stmt *q = store_prepare(
		s,
		"SELECT c.name, c.state, c.reason, sx.serial, sx.not_after, ex.serial, "
		"ex.not_after,"
		" c.keystore, sx.subject, c.requested_subject, sx.not_before, ex.not_before,"
		" sx.revoked_at IS NOT NULL, ex.revoked_at IS NOT NULL"
		" FROM communities c"
		" LEFT JOIN certificates sx ON sx.community_id = c.id AND sx.usage = 'signing'"
		"  AND sx.superseded_by IS NULL"
		" LEFT JOIN certificates ex ON ex.community_id = c.id AND ex.usage = 'encryption'"
		"  AND ex.superseded_by IS NULL"
		" ORDER BY c.name");
	int rc;

	if (q == NULL)
		return PKIROLL_ERR_STORE;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct pkiroll_status_row row = {
			.community = (const char *)sqlite3_column_text(q, 0),
			.state = base_state_from_name((const char *)sqlite3_column_text(q, 1)),
			.reason = (const char *)sqlite3_column_text(q, 2),
			.sign_serial = (const char *)sqlite3_column_text(q, 3),
			.sign_not_after = (time_t)sqlite3_column_int64(q, 4),
			.enc_serial = (const char *)sqlite3_column_text(q, 5),
			.enc_not_after = (time_t)sqlite3_column_int64(q, 6),
			.keystore = (const char *)sqlite3_column_text(q, 7),
			.subject = (const char *)sqlite3_column_text(q, 8),
			.requested_subject = (const char *)sqlite3_column_text(q, 9),
			.sign_revoked = sqlite3_column_int(q, 12),
			.enc_revoked = sqlite3_column_int(q, 13),
		};
		/* the earlier of the two certificates decides, as in the selection */
		int enc_first = row.enc_serial != NULL &&
				(row.sign_serial == NULL || row.enc_not_after < row.sign_not_after);

		if (row.sign_serial != NULL || row.enc_serial != NULL)
			row.renew_after = (time_t)store_renew_after(
				row.community, sqlite3_column_int64(q, enc_first ? 11 : 10),
				enc_first ? row.enc_not_after : row.sign_not_after,
				window ? window : &month, 1);

		if (fn(arg, &row) != 0)
			break;
	}
	store_done(s, q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? PKIROLL_OK : PKIROLL_ERR_STORE;
}

int pkiroll_status_history(pkiroll_store *s, const char *community, int *state,
			   pkiroll_history_cert_fn *cert_fn, pkiroll_history_event_fn *event_fn,
			   void *arg)
{
	sqlite3_stmt *q = store_prepare(s, "SELECT id, state FROM communities WHERE name = ?");
	sqlite3_int64 id = 0;
	int rc;

	if (q == NULL)
		return PKIROLL_ERR_STORE;
	sqlite3_bind_text(q, 1, community, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		id = sqlite3_column_int64(q, 0);
		*state = base_state_from_name(store_col_text(q, 1));
	}
	store_done(s, q);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : PKIROLL_ERR_STORE;

	/* Phase: the certificates, oldest first. */
	if ((q = store_prepare(
		     s, "SELECT x.usage, x.serial, x.subject, x.issuer, coalesce(x.key_type, ''),"
			" x.not_before, x.not_after, x.der, y.serial,"
			" coalesce(x.revoked_at, 0), x.revocation_reason"
			" FROM certificates x LEFT JOIN certificates y ON y.id = x.superseded_by"
			" WHERE x.community_id = ? ORDER BY x.id")) == NULL)
		return PKIROLL_ERR_STORE;
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct pkiroll_history_cert c = {
			.usage = store_col_text(q, 0),
			.serial = store_col_text(q, 1),
			.subject = store_col_text(q, 2),
			.issuer = store_col_text(q, 3),
			.key_type = store_col_text(q, 4),
			.not_before = (time_t)sqlite3_column_int64(q, 5),
			.not_after = (time_t)sqlite3_column_int64(q, 6),
			.replaced_by = store_col_text(q, 8),
			.revoked_at = (time_t)sqlite3_column_int64(q, 9),
			.revoked_reason = store_col_text(q, 10),
		};

		c.current = c.replaced_by == NULL;
		/* the fingerprints from the DER (the store keeps no MD5 or SHA-1) */
		if (pkiroll_fingerprints(sqlite3_column_blob(q, 7),
					 (size_t)sqlite3_column_bytes(q, 7), &c.fp) != PKIROLL_OK) {
			rc = SQLITE_ERROR;
			break;
		}
		if (cert_fn != NULL && cert_fn(arg, &c) != 0)
			break;
	}
	store_done(s, q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return PKIROLL_ERR_STORE;

	/* Phase: the events, in order, with the CEM requests written (the
	 * request row is their record; requests written by earlier versions
	 * also have an event of the same text, shown once) */
	if ((q = store_prepare(
		     s, "SELECT at, run, from_state, to_state, reason FROM ("
			" SELECT at, coalesce(run_id, 0) AS run, from_state, to_state, reason,"
			"  0 AS src, id FROM events WHERE community_id = ?1"
			" UNION ALL SELECT r.created_at, 0, NULL, NULL, 'CEM request ' ||"
			"  r.request_id || ' to partner ' || p.name || ' written' ||"
			"  CASE WHEN r.signed THEN ' (signed)' ELSE '' END, 1, r.id"
			/* by partner: the index on requests is (partner, community) */
			"  FROM partners p CROSS JOIN cem_requests r ON r.partner_id = p.id"
			"  WHERE r.community_id = ?1 AND NOT EXISTS (SELECT 1 FROM events e"
			"   WHERE e.community_id = ?1"
			"   AND e.reason LIKE 'CEM request ' || r.request_id || ' %'))"
			" ORDER BY at, src, id")) == NULL)
		return PKIROLL_ERR_STORE;
	sqlite3_bind_int64(q, 1, id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct pkiroll_history_event e = {
			.at = (time_t)sqlite3_column_int64(q, 0),
			.run = sqlite3_column_int64(q, 1),
			.from = store_col_text(q, 2),
			.to = store_col_text(q, 3),
			.reason = store_col_text(q, 4),
		};

		if (event_fn != NULL && event_fn(arg, &e) != 0)
			break;
	}
	store_done(s, q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 1 : PKIROLL_ERR_STORE;
}

int pkiroll_status_cem(pkiroll_store *s, const char *community, pkiroll_cem_state_fn *fn, void *arg)
{
	sqlite3_stmt *q = store_prepare(
		s,
		"SELECT p.name, count(x.id), sum(i.status = 'Accepted'),"
		" sum(i.status = 'Rejected'), sum(i.status = 'Pending'), sum(i.status = 'sent'),"
		" max(CASE WHEN i.status = 'Rejected' THEN i.reason END)"
		" FROM communities c JOIN partner_communities pc ON pc.community_id = c.id"
		" JOIN partners p ON p.id = pc.partner_id"
		" JOIN certificates x ON x.community_id = c.id AND x.superseded_by IS NULL"
		"  AND x.revoked_at IS NULL"
		" LEFT JOIN cem_items i ON i.certificate_id = x.id AND i.request ="
		"  (SELECT max(q.request) FROM cem_items q JOIN cem_requests r ON r.id = q.request"
		"   WHERE q.certificate_id = x.id AND r.partner_id = p.id)"
		" WHERE c.name = ? GROUP BY p.id ORDER BY p.name");
	int rc, found = 0;

	if (q == NULL)
		return PKIROLL_ERR_STORE;
	sqlite3_bind_text(q, 1, community, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int n = sqlite3_column_int(q, 1), acc = sqlite3_column_int(q, 2),
		    rej = sqlite3_column_int(q, 3), pend = sqlite3_column_int(q, 4),
		    sent = sqlite3_column_int(q, 5);
		const char *state = rej			? "rejected"
				    : n > 0 && acc == n ? "accepted"
				    : pend		? "pending"
				    : sent		? "unanswered"
							: "not asked";

		found = 1;
		if (fn(arg, store_col_text(q, 0), state, store_col_text(q, 6)) != 0)
			break;
	}
	store_done(s, q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : PKIROLL_ERR_STORE;
}
