/*
 * Opening the store: pragmas, schema migrations, small shared helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/store.h"

/*
 * Forward migrations; migration i brings user_version from i to i + 1.
 * Never edit one that has shipped: append a new one.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the initial schema */
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY,"
	"  command TEXT NOT NULL,"
	"  manifest TEXT,"
	"  pid INTEGER,"
	"  started_at INTEGER NOT NULL,"
	"  finished_at INTEGER,"
	"  status TEXT,"
	"  total INTEGER NOT NULL DEFAULT 0,"
	"  succeeded INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE communities ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  reference_number TEXT NOT NULL UNIQUE,"
	"  subject TEXT NOT NULL,"
	"  ca_profile TEXT,"
	"  key_type TEXT NOT NULL,"
	"  enc_key_type TEXT NOT NULL,"
	"  dual INTEGER NOT NULL CHECK (dual IN (0, 1)),"
	"  email TEXT,"
	"  notes TEXT,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending',"
	"    'enrolling', 'enrolled', 'failed', 'needs_codes', 'renewing',"
	"    'retired')),"
	"  reason TEXT,"
	"  retryable INTEGER NOT NULL DEFAULT 1,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at INTEGER,"
	"  code_hash BLOB," /* PBKDF2 of the code the CA refused; never the code */
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE INDEX communities_state ON communities (state, next_attempt_at);"
	"CREATE TABLE partners ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE"
	");"
	"CREATE TABLE partner_communities ("
	"  partner_id INTEGER NOT NULL REFERENCES partners (id) ON DELETE CASCADE,"
	"  community_id INTEGER NOT NULL REFERENCES communities (id)"
	"    ON DELETE CASCADE,"
	"  PRIMARY KEY (partner_id, community_id)"
	") WITHOUT ROWID;"
	"CREATE INDEX partner_communities_c ON partner_communities (community_id);"
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  community_id INTEGER NOT NULL REFERENCES communities (id),"
	"  run_id INTEGER REFERENCES runs (id),"
	"  usage TEXT NOT NULL CHECK (usage IN ('signing', 'encryption')),"
	"  der BLOB NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  issuer TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  key_type TEXT,"
	"  md5 TEXT NOT NULL,"
	"  sha1 TEXT NOT NULL,"
	"  sha256 TEXT NOT NULL UNIQUE,"
	"  superseded_by INTEGER REFERENCES certificates (id),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE INDEX certificates_c ON certificates (community_id, usage);"
	"CREATE INDEX certificates_exp ON certificates (not_after)"
	"  WHERE superseded_by IS NULL;"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  run_id INTEGER REFERENCES runs (id),"
	"  community_id INTEGER REFERENCES communities (id),"
	"  from_state TEXT,"
	"  to_state TEXT,"
	"  reason TEXT"
	");"
	"CREATE INDEX events_c ON events (community_id);"
	"CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
	"  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
	"CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
	"  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
	/* 1 -> 2: the step an enrollment reached, for resuming after a crash */
	"ALTER TABLE communities ADD COLUMN step TEXT;"
	"ALTER TABLE communities ADD COLUMN tx_id BLOB;"
	"ALTER TABLE communities ADD COLUMN tx_nonce BLOB;"
	"ALTER TABLE communities ADD COLUMN tx_pbm BLOB;"
	"ALTER TABLE communities ADD COLUMN keystore TEXT;",
	/* 2 -> 3: CA certificates above each certificate; partner bundles */
	"CREATE TABLE ca_certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  sha256 TEXT NOT NULL UNIQUE,"
	"  subject TEXT NOT NULL,"
	"  der BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE certificate_chain ("
	"  certificate_id INTEGER NOT NULL REFERENCES certificates (id),"
	"  position INTEGER NOT NULL,"
	"  ca_certificate_id INTEGER NOT NULL REFERENCES ca_certificates (id),"
	"  PRIMARY KEY (certificate_id, position)"
	") WITHOUT ROWID;"
	"CREATE TABLE bundles ("
	"  id INTEGER PRIMARY KEY,"
	"  partner_id INTEGER NOT NULL REFERENCES partners (id),"
	"  path TEXT NOT NULL,"
	"  sha256 TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE bundle_certificates ("
	"  bundle_id INTEGER NOT NULL REFERENCES bundles (id),"
	"  certificate_id INTEGER NOT NULL REFERENCES certificates (id),"
	"  PRIMARY KEY (bundle_id, certificate_id)"
	") WITHOUT ROWID;",
	/* 3 -> 4: each community's keystore directory name, one per community;
	 * assigned at import (the recorded keystore path's, where there is one) */
	"ALTER TABLE communities ADD COLUMN keystore_dir TEXT;"
	"CREATE UNIQUE INDEX communities_keystore_dir ON communities (keystore_dir);",
	/* 4 -> 5: the subject asked for, kept when the CA issued another */
	"ALTER TABLE communities ADD COLUMN requested_subject TEXT;",
	/* 5 -> 6: renewals that failed since the last one that worked (backoff) */
	"ALTER TABLE communities ADD COLUMN renew_failures INTEGER NOT NULL DEFAULT 0;",
	/* 6 -> 7: revocations, asked for and answered */
	"ALTER TABLE certificates ADD COLUMN revoked_at INTEGER;"
	"ALTER TABLE certificates ADD COLUMN revocation_reason TEXT;"
	"CREATE TABLE revocations ("
	"  id INTEGER PRIMARY KEY,"
	"  community_id INTEGER NOT NULL REFERENCES communities (id),"
	"  certificate_id INTEGER NOT NULL REFERENCES certificates (id),"
	"  reason TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('requested', 'revoked', 'refused')),"
	"  answer TEXT,"
	"  run_id INTEGER REFERENCES runs (id),"
	"  requested_at INTEGER NOT NULL,"
	"  answered_at INTEGER"
	");"
	"CREATE INDEX revocations_c ON revocations (community_id, state);",
	/* 7 -> 8: AS2 names and certificate exchange messages (CEM) */
	"ALTER TABLE communities ADD COLUMN as2_id TEXT;"
	"ALTER TABLE communities ADD COLUMN cem_response_url TEXT;"
	"ALTER TABLE partners ADD COLUMN as2_id TEXT;"
	"CREATE TABLE cem_requests ("
	"  id INTEGER PRIMARY KEY,"
	"  request_id TEXT NOT NULL UNIQUE,"
	"  partner_id INTEGER NOT NULL REFERENCES partners (id),"
	"  community_id INTEGER NOT NULL REFERENCES communities (id),"
	"  path TEXT,"
	"  signed INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE INDEX cem_requests_pc ON cem_requests (partner_id, community_id);"
	"CREATE TABLE cem_items ("
	"  request INTEGER NOT NULL REFERENCES cem_requests (id),"
	"  certificate_id INTEGER NOT NULL REFERENCES certificates (id),"
	"  status TEXT NOT NULL DEFAULT 'sent'"
	"    CHECK (status IN ('sent', 'Accepted', 'Rejected', 'Pending')),"
	"  reason TEXT,"
	"  answered_at INTEGER,"
	"  PRIMARY KEY (request, certificate_id)"
	") WITHOUT ROWID;"
	"CREATE INDEX cem_items_cert ON cem_items (certificate_id);",
	/* 8 -> 9: a warning that stays until a later proven issuance (a
	 * confirmation the CA never proved, a key kept for unverified
	 * certificates) */
	"ALTER TABLE communities ADD COLUMN attention TEXT;",
	/* 9 -> 10: a verifier of the keystore passphrase (never the passphrase):
	 * 'current' for the keystores as they are, 'rekey' while pkiroll
	 * rekey-keystores moves them to a new one */
	"CREATE TABLE keystore_passphrase ("
	"  role TEXT PRIMARY KEY CHECK (role IN ('current', 'rekey')),"
	"  algorithm TEXT NOT NULL,"
	"  iterations INTEGER NOT NULL,"
	"  salt BLOB NOT NULL,"
	"  verifier BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL"
	");",
	/* 10 -> 11: monitoring: each command's last run (any command that opens
	 * the store, kept across runs for the metrics file) and a counter of
	 * the CMP requests per operation, result and the CA's failInfo */
	"CREATE TABLE last_runs ("
	"  command TEXT PRIMARY KEY,"
	"  finished_at REAL NOT NULL,"
	"  duration REAL NOT NULL,"
	"  exit_code INTEGER NOT NULL,"
	"  succeeded_at REAL"
	");"
	"CREATE TABLE cmp_requests ("
	"  operation TEXT NOT NULL,"
	"  result TEXT NOT NULL,"
	"  failinfo TEXT NOT NULL DEFAULT '',"
	"  count INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (operation, result, failinfo)"
	") WITHOUT ROWID;",
	/* 11 -> 12: a deploy hook still owed (the event it is for: enrolled,
	 * renewed, revoked, retired), set with the change it deploys and
	 * cleared when the hook succeeded */
	"ALTER TABLE communities ADD COLUMN deploy_pending TEXT;",
	/* 12 -> 13: indexes for the lookups made once per community, partner
	 * or certificate (tests/it/query_plans.sh): a certificate's
	 * successor (bundle, status), a partner's bundles, the bundles that
	 * hold a certificate, a run's events, a certificate's revocation, the
	 * few communities a deploy hook is owed for (looked for by every run) */
	"CREATE INDEX certificates_superseded ON certificates (superseded_by)"
	"  WHERE superseded_by IS NOT NULL;"
	"CREATE INDEX bundles_partner ON bundles (partner_id, path);"
	"CREATE INDEX bundle_certificates_cert ON bundle_certificates (certificate_id);"
	"CREATE INDEX events_run ON events (run_id);"
	"CREATE INDEX revocations_cert ON revocations (certificate_id, state);"
	"CREATE INDEX communities_deploy ON communities (name) WHERE deploy_pending IS NOT NULL;",
	/* 13 -> 14: two indexes no statement reads (tests/it/query_plans.sh
	 * checks that each one is used): a run's events and the bundles that
	 * hold a certificate. Neither a run nor a certificate is ever deleted,
	 * so the foreign keys never look for their children either; they took
	 * 4% of the store and grew with every event and every bundle run */
	"DROP INDEX events_run;"
	"DROP INDEX bundle_certificates_cert;",
	/* 14 -> 15: a certificate's MD5 and SHA-1 fingerprints are computed
	 * from its DER where they are shown (bundle sheets, status), not kept:
	 * 106 bytes of text per certificate, 6% of a store (sha256 stays: it
	 * is the certificate's unique key) */
	"ALTER TABLE certificates DROP COLUMN md5;"
	"ALTER TABLE certificates DROP COLUMN sha1;",
	/* 15 -> 16: the certificates no bundle may hold any more (replaced or
	 * revoked), by id: bundle --stale checks each entry of a partner's last
	 * bundle against this small index instead of reading the certificate's
	 * row (450 bytes of DER each: the check read most of the table once per
	 * partner) */
	"CREATE INDEX certificates_dead ON certificates (id)"
	"  WHERE superseded_by IS NOT NULL OR revoked_at IS NOT NULL;",
	/* 16 -> 17: a CEM request's directory recorded once (the absolute path
	 * of a partner's folder under cem --out), the request's path then its
	 * file name in it: the directory was 60 bytes or more of each of a
	 * 100k store's 300,000 requests. Requests recorded before keep their
	 * whole path and no dir_id. No foreign key: a directory row is never
	 * deleted, and it is read by its id */
	"CREATE TABLE cem_dirs (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);"
	"ALTER TABLE cem_requests ADD COLUMN dir_id INTEGER;",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

void store_sql_error(struct pkiroll_store *s, const char *what)
{
	ctx_log(s->ctx, PKIROLL_LOG_ERROR, "store %s: %s: %s", s->path, what,
		s->db ? sqlite3_errmsg(s->db) : "cannot open");
}

int store_exec(struct pkiroll_store *s, const char *sql)
{
	char *msg = NULL;

	/* one statement (BEGIN, COMMIT, a PRAGMA): through the cache */
	if (strchr(sql, ';') == NULL) {
		sqlite3_stmt *st = store_prepare(s, sql);
		int rc;

		if (st == NULL)
			return -1;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		store_done(s, st);
		if (rc != SQLITE_DONE) {
			store_sql_error(s, sql);
			return -1;
		}
		return 0;
	}
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "store %s: %s", s->path, msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int store_end(struct pkiroll_store *s, int ok, const char *what)
{
	if (!ok) {
		store_sql_error(s, what);
		store_exec(s, "ROLLBACK");
		return -1;
	}
	if (store_exec(s, "COMMIT") == 0)
		return 0;
	/* a COMMIT that failed may leave the transaction open (SQLITE_BUSY, a
	 * deferred constraint): the caller takes -1 as nothing recorded, so
	 * nothing may be recorded by a later COMMIT either */
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
	return -1;
}

/*
 * PKIROLL_SQL_LOG=FILE: every statement text prepared is appended to FILE,
 * one per line, for tests/it/query_plans.sh to EXPLAIN (the texts only,
 * never a bound value).
 */
static void sql_log(const char *sql)
{
	const char *path = getenv("PKIROLL_SQL_LOG");
	FILE *f;

	if (path == NULL || path[0] == '\0' || (f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "%s\n", sql);
	fclose(f);
}

sqlite3_stmt *store_prepare(struct pkiroll_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int i;

	for (i = 0; i < s->ncache; i++)
		if (!s->cache[i].busy && strcmp(s->cache[i].sql, sql) == 0) {
			s->cache[i].busy = 1;
			return s->cache[i].st;
		}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		store_sql_error(s, "prepare");
		sqlite3_finalize(st);
		return NULL;
	}
	sql_log(sql);
	if (s->ncache < STORE_CACHE && (s->cache[s->ncache].sql = strdup(sql)) != NULL) {
		s->cache[s->ncache].st = st;
		s->cache[s->ncache].busy = 1;
		s->ncache++;
	}
	return st;
}

void store_done(struct pkiroll_store *s, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < s->ncache; i++)
		if (s->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->cache[i].busy = 0;
			return;
		}
	sqlite3_finalize(st);
}

int store_event_add(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 community_id,
		    const char *from, const char *to, const char *reason)
{
	sqlite3_stmt *st = store_prepare(
		s, "INSERT INTO events (at, run_id, community_id, from_state, to_state, reason)"
		   " VALUES (?, ?, ?, ?, ?, ?)");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	if (run > 0)
		sqlite3_bind_int64(st, 2, run);
	sqlite3_bind_int64(st, 3, community_id);
	sqlite3_bind_text(st, 4, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	store_done(s, st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, "event");
		return -1;
	}
	return 0;
}

int pkiroll_store_schema_version(pkiroll_store *s)
{
	sqlite3_stmt *st = store_prepare(s, "PRAGMA user_version");
	int v = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	store_done(s, st);
	return v;
}

static int migrate(struct pkiroll_store *s)
{
	int v = pkiroll_store_schema_version(s);
	char sql[64];

	if (v < 0)
		return PKIROLL_ERR_STORE;
	if (v > NMIGRATIONS) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"store %s: schema version %d is newer than this pkiroll (%d)", s->path, v,
			NMIGRATIONS);
		return PKIROLL_ERR_SCHEMA;
	}
	for (; v < NMIGRATIONS; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (store_exec(s, "BEGIN IMMEDIATE") < 0)
			return PKIROLL_ERR_STORE;
		if (store_exec(s, migrations[v]) < 0 || store_exec(s, sql) < 0) {
			store_exec(s, "ROLLBACK");
			return PKIROLL_ERR_STORE;
		}
		if (store_exec(s, "COMMIT") < 0)
			return PKIROLL_ERR_STORE;
		ctx_log(s->ctx, PKIROLL_LOG_DEBUG, "store %s: migrated to schema %d", s->path,
			v + 1);
	}
	return PKIROLL_OK;
}

int pkiroll_store_open(pkiroll_ctx *ctx, const char *path, int create, pkiroll_store **out)
{
	struct pkiroll_store *s = calloc(1, sizeof(*s));
	int err = PKIROLL_ERR_STORE, fd;

	*out = NULL;
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		return PKIROLL_ERR_NOMEM;
	}
	s->ctx = ctx;

	/* Phase: the file, private to its owner when we make it. */
	if (create) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "store %s: %s", path, strerror(errno));
			err = PKIROLL_ERR_IO;
			goto fail;
		}
		close(fd);
	} else if (access(path, F_OK) != 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"store %s: no such file (has anything been enrolled here? see --db)", path);
		err = PKIROLL_ERR_NOENT;
		goto fail;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		store_sql_error(s, "open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 10000);

	/* Phase: pragmas, then the schema. */
	if (store_exec(s, "PRAGMA journal_mode = WAL") < 0 ||
	    store_exec(s, "PRAGMA synchronous = NORMAL") < 0 ||
	    store_exec(s, "PRAGMA foreign_keys = ON") < 0)
		goto fail;
	if ((err = migrate(s)) != PKIROLL_OK)
		goto fail;
	*out = s;
	return PKIROLL_OK;
fail:
	pkiroll_store_close(s);
	return err;
}

void pkiroll_store_close(pkiroll_store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->ncache; i++) {
		sqlite3_finalize(s->cache[i].st);
		free(s->cache[i].sql);
	}
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

int store_code_hash(const char *code, const unsigned char *salt, unsigned char out[CODE_HASH_LEN])
{
	if (salt != NULL)
		memcpy(out, salt, 16);
	else if (RAND_bytes(out, 16) != 1)
		return -1;
	return PKCS5_PBKDF2_HMAC(code, (int)strlen(code), out, 16, 10000, EVP_sha256(), 32,
				 out + 16)
		       ? 0
		       : -1;
}

const char *store_col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

void store_col_copy(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const char *t = store_col_text(st, i);

	snprintf(out, n, "%s", t != NULL ? t : "");
}

char *store_col_dup(sqlite3_stmt *st, int i)
{
	const char *t = store_col_text(st, i);

	return base_strdup(t != NULL ? t : "");
}

char *store_col_dup_null(sqlite3_stmt *st, int i)
{
	return base_strdup(store_col_text(st, i));
}

int store_col_blob(sqlite3_stmt *st, int i, unsigned char *out, size_t n)
{
	int l = sqlite3_column_bytes(st, i);

	if (sqlite3_column_type(st, i) != SQLITE_BLOB || l <= 0 || (size_t)l > n)
		return 0;
	memcpy(out, sqlite3_column_blob(st, i), (size_t)l);
	return l;
}

unsigned char *store_col_blob_dup(sqlite3_stmt *st, int i, size_t *len)
{
	int n = sqlite3_column_bytes(st, i);
	unsigned char *b;

	*len = 0;
	if (n <= 0 || (b = malloc((size_t)n)) == NULL)
		return NULL;
	memcpy(b, sqlite3_column_blob(st, i), (size_t)n);
	*len = (size_t)n;
	return b;
}
