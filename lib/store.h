/*
 * The SQLite store: schema, migrations and every SQL statement of pkiroll.
 */
#ifndef PKIROLL_STORE_H
#define PKIROLL_STORE_H

#include <sqlite3.h>

#include "internal.h"

#define STORE_CACHE 32

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
};

/* Logs "store PATH: what: sqlite's message". */
void store_sql_error(struct pkiroll_store *s, const char *what);

/* Ends a transaction: COMMIT when ok, else logs "what" with SQLite's
 * message and rolls back. Returns 0 or -1. */
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

/*
 * A set of strings remembered on disk (a private temporary SQLite file with
 * a bounded cache), so that duplicate detection over a manifest of any size
 * does not grow the process's memory.
 */
struct seen;

/* New empty set, or NULL. */
struct seen *seen_new(void);

/*
 * Adds value under kind. Returns 1 if it was new, 0 if it was there (with
 * *first = the line it was added with), -1 on error.
 */
int seen_add(struct seen *set, int kind, const char *value, unsigned long line,
	     unsigned long *first);
void seen_free(struct seen *set);

#endif
