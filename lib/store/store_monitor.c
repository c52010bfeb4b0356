/*
 * The store's side of monitoring: attention, last runs, the CMP request
 * counter and the metrics file's readers.
 */
#include <string.h>
#include <time.h>

#include "store/store_monitor.h"

/*
 * What needs someone, one statement a source, each giving name, state,
 * reason, retryable and kind, in name order. Another kind of attention is
 * another row here: status, status --check and the metrics all read this.
 */
static const char *const attention_sources[] = {
	/* the communities' own: a failure, new codes needed, a renewal that
	 * did not work (the certificates stay in use until they expire), a
	 * warning that stays until a later proven issuance */
	"SELECT name, state,"
	" CASE WHEN kind = 'renewal_failed' THEN coalesce(reason, attention)"
	"  ELSE coalesce(attention, reason) END, retryable, kind FROM ("
	" SELECT *, CASE WHEN state IN ('failed', 'needs_codes') THEN state"
	"  WHEN renew_failures > 0 AND state IN ('enrolled', 'renewing') THEN 'renewal_failed'"
	"  ELSE 'warning' END AS kind FROM communities"
	" WHERE state IN ('failed', 'needs_codes')"
	"  OR (renew_failures > 0 AND state IN ('enrolled', 'renewing'))"
	"  OR (attention IS NOT NULL AND state != 'retired'))"
	" ORDER BY name",
	/* a deploy hook that has not succeeded since the change it deploys */
	"SELECT name, state, 'deploy hook pending (' || deploy_pending || '): run pkiroll deploy',"
	" 1, 'deploy_pending' FROM communities WHERE deploy_pending IS NOT NULL ORDER BY name",
};

const char *const store_attention_kinds[] = {"failed",	"needs_codes",	  "renewal_failed",
					     "warning", "deploy_pending", NULL};

int store_attention_each(struct pkiroll_store *s, store_attention_fn *fn, void *arg)
{
	for (size_t i = 0; i < sizeof(attention_sources) / sizeof(attention_sources[0]); i++) {
		sqlite3_stmt *q = store_prepare(s, attention_sources[i]);
		int rc, stop = 0;

		if (q == NULL)
			return -1;
		while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
			struct store_attention a = {
				.community = store_col_text(q, 0),
				.state = base_state_from_name(store_col_text(q, 1)),
				.reason = store_col_text(q, 2),
				.retryable = sqlite3_column_int(q, 3),
				.kind = store_col_text(q, 4),
			};

			stop = fn(arg, &a) != 0;
		}
		store_done(s, q);
		if (stop)
			return 0;
		if (rc != SQLITE_DONE) {
			store_sql_error(s, "attention");
			return -1;
		}
	}
	return 0;
}

int pkiroll_run_record(pkiroll_store *s, const char *command, double finished, double duration,
		       int exit_code)
{
	sqlite3_stmt *q = store_prepare(
		s,
		"INSERT INTO last_runs (command, finished_at, duration, exit_code, succeeded_at)"
		" VALUES (?1, ?2, ?3, ?4, CASE WHEN ?4 = 0 THEN ?2 END)"
		" ON CONFLICT (command) DO UPDATE SET finished_at = ?2, duration = ?3,"
		" exit_code = ?4, succeeded_at = CASE WHEN ?4 = 0 THEN ?2 ELSE succeeded_at END");
	int rc;

	if (q == NULL)
		return PKIROLL_ERR_STORE;
	sqlite3_bind_text(q, 1, command, -1, SQLITE_STATIC);
	sqlite3_bind_double(q, 2, finished);
	sqlite3_bind_double(q, 3, duration);
	sqlite3_bind_int(q, 4, exit_code);
	rc = sqlite3_step(q);
	store_done(s, q);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, "last run");
		return PKIROLL_ERR_STORE;
	}
	return PKIROLL_OK;
}

int store_cmp_requests_add(struct pkiroll_store *s, const struct store_cmp_count *c, size_t n)
{
	sqlite3_stmt *q = NULL;
	int ok = 1;

	if (n == 0)
		return 0;
	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	for (size_t i = 0; ok && i < n; i++) {
		if ((q = store_prepare(s, "INSERT INTO cmp_requests (operation, result, failinfo,"
					  " count) VALUES (?1, ?2, ?3, ?4)"
					  " ON CONFLICT DO UPDATE SET count = count + ?4")) == NULL)
			break;
		sqlite3_bind_text(q, 1, c[i].operation, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, c[i].result, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, c[i].failinfo, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, (sqlite3_int64)c[i].n);
		ok = sqlite3_step(q) == SQLITE_DONE;
		store_done(s, q);
	}
	return store_end(s, ok && q != NULL, "CMP request counter");
}

/* The end of a reader's loop: gives q back; 0, or -1 (logged as what)
 * when SQLite stopped on an error. */
static int reader_end(struct pkiroll_store *s, sqlite3_stmt *q, int rc, const char *what)
{
	store_done(s, q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sql_error(s, what);
		return -1;
	}
	return 0;
}

int store_metrics_certs(struct pkiroll_store *s, store_cert_row_fn *fn, void *arg)
{
	sqlite3_stmt *q = store_prepare(s, "SELECT c.name, x.usage, x.serial, x.not_after"
					   " FROM certificates x JOIN communities c"
					   " ON c.id = x.community_id WHERE x.superseded_by IS NULL"
					   " AND x.revoked_at IS NULL AND c.state != 'retired'");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if (fn(arg, store_col_text(q, 0), store_col_text(q, 1), store_col_text(q, 2),
		       sqlite3_column_int64(q, 3)) != 0)
			break;
	return reader_end(s, q, rc, "metrics: certificates");
}

int store_metrics_runs(struct pkiroll_store *s, store_run_row_fn *fn, void *arg)
{
	sqlite3_stmt *q = store_prepare(s, "SELECT command, finished_at, duration, exit_code,"
					   " coalesce(succeeded_at, 0) FROM last_runs"
					   " ORDER BY command");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if (fn(arg, store_col_text(q, 0), sqlite3_column_double(q, 1),
		       sqlite3_column_double(q, 2), sqlite3_column_int(q, 3),
		       sqlite3_column_double(q, 4)) != 0)
			break;
	return reader_end(s, q, rc, "metrics: last runs");
}

int store_metrics_cmp(struct pkiroll_store *s, store_cmp_row_fn *fn, void *arg)
{
	sqlite3_stmt *q =
		store_prepare(s, "SELECT operation, result, failinfo, count"
				 " FROM cmp_requests ORDER BY operation, result, failinfo");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if (fn(arg, store_col_text(q, 0), store_col_text(q, 1), store_col_text(q, 2),
		       sqlite3_column_int64(q, 3)) != 0)
			break;
	return reader_end(s, q, rc, "metrics: CMP requests");
}

int store_metrics_cem(struct pkiroll_store *s, store_cem_row_fn *fn, void *arg)
{
	sqlite3_stmt *q =
		store_prepare(s, "SELECT p.name, (SELECT count(*) FROM cem_requests r"
				 " JOIN cem_items i ON i.request = r.id"
				 " JOIN certificates x ON x.id = i.certificate_id"
				 " JOIN communities c ON c.id = x.community_id"
				 " WHERE r.partner_id = p.id AND i.status IN ('sent', 'Pending')"
				 " AND x.superseded_by IS NULL AND x.revoked_at IS NULL"
				 " AND c.state != 'retired') FROM partners p ORDER BY p.name");
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if (fn(arg, store_col_text(q, 0), sqlite3_column_int64(q, 1)) != 0)
			break;
	return reader_end(s, q, rc, "metrics: CEM");
}

int store_metrics_states(struct pkiroll_store *s, unsigned long *count)
{
	sqlite3_stmt *q =
		store_prepare(s, "SELECT state, count(*) FROM communities GROUP BY state");
	int rc;

	if (q == NULL)
		return -1;
	memset(count, 0, sizeof(*count) * PKIROLL_STATE__MAX);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int i = base_state_from_name(store_col_text(q, 0));

		if (i >= 0)
			count[i] = (unsigned long)sqlite3_column_int64(q, 1);
	}
	store_done(s, q);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, "metrics: states");
		return -1;
	}
	return 0;
}
