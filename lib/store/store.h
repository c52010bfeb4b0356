/*
 * The SQLite store: schema, migrations and every SQL statement of pkiroll.
 */
#ifndef PKIROLL_STORE_H
#define PKIROLL_STORE_H

#include <sqlite3.h>

#include "base/base.h"

/* more than the distinct statements of a run: one prepared again per
 * community costs more than the statement itself */
#define STORE_CACHE 160

struct pkiroll_store {
	pkiroll_ctx *ctx;
	sqlite3 *db;
	char *path;
	/* prepared statements kept for reuse, keyed by their SQL text */
	struct {
		char *sql;
		sqlite3_stmt *st;
		int busy;
	} cache[STORE_CACHE];
	int ncache;
	/* a deploy hook is configured: a change marks its community
	 * deploy_pending in the transaction that commits it */
	int deploy_armed;
};

/*
 * pkiroll_store_import(), also recording in refused (may be NULL) the line
 * of every row it did not take: bad, or refused by the store.
 */
int store_import(struct pkiroll_store *s, const char *path,
		 const struct pkiroll_manifest_opts *opts, struct pkiroll_import_stats *stats,
		 struct lineset *refused);

/* ---- columns of a result row: the one set of helpers ---- */

/* The text of column i, or NULL (borrowed until the next step). */
const char *store_col_text(sqlite3_stmt *st, int i);
/* Copies column i's text into out ("" for NULL). */
void store_col_copy(sqlite3_stmt *st, int i, char *out, size_t n);
/* A copy of column i's text ("" for NULL), or NULL when out of memory. */
char *store_col_dup(sqlite3_stmt *st, int i);
/* A copy of column i's text, NULL for NULL. */
char *store_col_dup_null(sqlite3_stmt *st, int i);
/* Copies a BLOB column of at most n bytes into out: its length, or 0. */
int store_col_blob(sqlite3_stmt *st, int i, unsigned char *out, size_t n);
/* A copy of a BLOB column (*len its length), or NULL when empty or out of memory. */
unsigned char *store_col_blob_dup(sqlite3_stmt *st, int i, size_t *len);

/* Logs "store PATH: what: sqlite's message". */
void store_sql_error(struct pkiroll_store *s, const char *what);

/* Ends a transaction: COMMIT when ok, else logs "what" with SQLite's
 * message and rolls back; a COMMIT that fails is rolled back too, so -1
 * always means nothing of the transaction was recorded. Returns 0 or -1. */
int store_end(struct pkiroll_store *s, int ok, const char *what);

/* Runs SQL without results. Returns 0 or -1 (logged). */
int store_exec(struct pkiroll_store *s, const char *sql);

/* Prepares one statement, or hands out a cached one for the same SQL text.
 * Give it back with store_done(). Returns NULL (logged) on error. */
sqlite3_stmt *store_prepare(struct pkiroll_store *s, const char *sql);

/* Gives back a statement from store_prepare(): reset for the next use, or
 * finalized if it was not cached. NULL is accepted. */
void store_done(struct pkiroll_store *s, sqlite3_stmt *st);

/* Appends an event row; run 0 when outside a run. from/to may be NULL. 0 or -1. */
int store_event_add(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 community_id,
		    const char *from, const char *to, const char *reason);

#define CODE_HASH_LEN 48 /* 16 bytes of salt, 32 of PBKDF2-HMAC-SHA256 */

/*
 * A salted, slow hash of an authorization code (the store keeps this, never
 * the code): with salt NULL a new salt is drawn, else the salt of an earlier
 * hash is reused so the two can be compared. Returns 0 or -1.
 */
int store_code_hash(const char *code, const unsigned char *salt, unsigned char out[CODE_HASH_LEN]);

#endif
