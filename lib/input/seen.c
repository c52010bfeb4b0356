/*
 * The manifest's duplicate detector (seen.h).
 */
#include <stdlib.h>

#include <sqlite3.h>

#include "input/seen.h"

struct seen {
	sqlite3 *db;
	sqlite3_stmt *ins, *sel;
};

struct seen *seen_new(void)
{
	struct seen *set = calloc(1, sizeof(*set));

	if (set == NULL)
		return NULL;
	/* "" is a private on-disk temporary database, removed on close */
	if (sqlite3_open_v2("", &set->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(set->db,
			 "PRAGMA cache_size = -2048;"
			 "PRAGMA journal_mode = OFF;"
			 "PRAGMA synchronous = OFF;"
			 "CREATE TABLE seen (kind INTEGER, value TEXT, line INTEGER,"
			 " PRIMARY KEY (kind, value)) WITHOUT ROWID;"
			 "BEGIN;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(set->db, "INSERT INTO seen VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			       -1, &set->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(set->db, "SELECT line FROM seen WHERE kind = ? AND value = ?", -1,
			       &set->sel, NULL) != SQLITE_OK) {
		seen_free(set);
		return NULL;
	}
	return set;
}

int seen_add(struct seen *set, int kind, const char *value, unsigned long line,
	     unsigned long *first)
{
	int rc;

	sqlite3_reset(set->ins);
	sqlite3_bind_int(set->ins, 1, kind);
	sqlite3_bind_text(set->ins, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(set->ins, 3, (sqlite3_int64)line);
	if (sqlite3_step(set->ins) != SQLITE_DONE)
		return -1;
	if (sqlite3_changes(set->db) == 1)
		return 1;
	sqlite3_reset(set->sel);
	sqlite3_bind_int(set->sel, 1, kind);
	sqlite3_bind_text(set->sel, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(set->sel);
	*first = rc == SQLITE_ROW ? (unsigned long)sqlite3_column_int64(set->sel, 0) : 0;
	return 0;
}

void seen_free(struct seen *set)
{
	if (set == NULL)
		return;
	sqlite3_finalize(set->ins);
	sqlite3_finalize(set->sel);
	sqlite3_close(set->db);
	free(set);
}
