/*
 * pkiroll-ca's ca.db (SQLite): the schema, the connections, and every SQL
 * statement of pkiroll-ca, one function each (see castate.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "castate.h"

static const char schema[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = NORMAL;"
	"CREATE TABLE IF NOT EXISTS users ("
	"  ref TEXT PRIMARY KEY, code TEXT NOT NULL, subject TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'active', faults TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL, consumed_at INTEGER);"
	"CREATE TABLE IF NOT EXISTS transactions ("
	"  tid BLOB PRIMARY KEY, ref TEXT, kind TEXT NOT NULL, state TEXT NOT NULL,"
	"  polls_left INTEGER NOT NULL DEFAULT 0, request BLOB, implicit INTEGER NOT NULL DEFAULT "
	"0,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS issued ("
	"  serial TEXT PRIMARY KEY, tid BLOB, cert_req_id INTEGER, ref TEXT, subject TEXT NOT NULL,"
	"  usage TEXT NOT NULL, der BLOB NOT NULL, issued_at INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'unconfirmed', revocation_reason INTEGER);"
	"CREATE INDEX IF NOT EXISTS issued_tid ON issued (tid);"
	/* every PBM request looks up the user's earlier transactions, and the
	 * once-a-second sweep the unconfirmed ones: without these, both scan */
	"CREATE INDEX IF NOT EXISTS transactions_ref ON transactions (ref);"
	"CREATE INDEX IF NOT EXISTS transactions_state ON transactions (state, created_at);";

/* Runs SQL; 0 or -1 (printed). */
static int ca_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "pkiroll-ca: ca.db: %s\n", msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Prepares SQL on db, or hands out this connection's cached statement with
 * the same text; give it back with ca_done() (which resets it). The
 * statements are finalized when the connection closes. SQLITE_OK or an
 * error code.
 */
static int ca_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	/* a statement of this connection with the same text, not in use */
	for (*st = sqlite3_next_stmt(db, NULL); *st != NULL; *st = sqlite3_next_stmt(db, *st))
		if (!sqlite3_stmt_busy(*st) && strcmp(sqlite3_sql(*st), sql) == 0) {
			sqlite3_clear_bindings(*st);
			return SQLITE_OK;
		}
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static void ca_done(sqlite3_stmt *st)
{
	if (st != NULL)
		sqlite3_reset(st);
}

void ca_db_close(sqlite3 *db)
{
	sqlite3_stmt *st;

	if (db == NULL)
		return;
	while ((st = sqlite3_next_stmt(db, NULL)) != NULL)
		sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Connections kept for reuse by the serving threads. */
#define POOL_MAX 32
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *pool[POOL_MAX];
static int npool;

static sqlite3 *db_open(const char *dir, int schema_too)
{
	char path[4096];
	sqlite3 *db = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/ca.db", dir);
	/*
	 * Made 0600 before SQLite sees it. Only when this process has no
	 * connection yet: closing any descriptor of the file would drop the
	 * POSIX locks of the connections this process has open.
	 */
	if (schema_too) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
			fprintf(stderr, "pkiroll-ca: %s: %s\n", path, strerror(errno));
			return NULL;
		}
		close(fd);
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "pkiroll-ca: %s: %s\n", path, db ? sqlite3_errmsg(db) : "open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 30000);
	if (ca_exec(db, schema_too ? schema : "PRAGMA synchronous = NORMAL") < 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

sqlite3 *ca_db_open(const char *dir)
{
	return db_open(dir, 1);
}

sqlite3 *ca_db_get(const char *dir)
{
	sqlite3 *db = NULL;

	pthread_mutex_lock(&pool_lock);
	if (npool > 0)
		db = pool[--npool];
	pthread_mutex_unlock(&pool_lock);
	return db != NULL ? db : db_open(dir, 0);
}

void ca_db_put(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;

	if (db == NULL)
		return;
	/* a connection in a transaction or with a live statement would keep an
	 * old snapshot: it is a bug, and such a connection is not reused */
	for (st = sqlite3_next_stmt(db, NULL); st != NULL && !sqlite3_stmt_busy(st);
	     st = sqlite3_next_stmt(db, st))
		;
	if (!sqlite3_get_autocommit(db) || st != NULL) {
		fprintf(stderr, "pkiroll-ca: bug: connection returned %s%s\n",
			sqlite3_get_autocommit(db) ? "with a live statement: "
						   : "inside a transaction",
			sqlite3_get_autocommit(db) ? sqlite3_sql(st) : "");
		sqlite3_close_v2(db);
		return;
	}
	pthread_mutex_lock(&pool_lock);
	if (npool < POOL_MAX) {
		pool[npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (db != NULL)
		ca_db_close(db);
}

int ca_db_begin(sqlite3 *db)
{
	return ca_exec(db, "BEGIN IMMEDIATE");
}

int ca_db_commit(sqlite3 *db)
{
	return ca_exec(db, "COMMIT");
}

int ca_db_rollback(sqlite3 *db)
{
	return ca_exec(db, "ROLLBACK");
}

/* Binds tid (NULL: SQL NULL, which matches no row). */
static void bind_tid(sqlite3_stmt *st, int i, const ASN1_OCTET_STRING *tid)
{
	sqlite3_bind_blob(st, i, tid ? tid->data : NULL, tid ? tid->length : 0, SQLITE_STATIC);
}

/* Runs a statement with no rows to return; the rows it changed, or -1. */
static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	ca_done(st);
	return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

/* One UPDATE with a text value as ?1 and tid as ?2; the rows changed, or -1. */
static int tid_update(sqlite3 *db, const char *sql, const char *value, const ASN1_OCTET_STRING *tid)
{
	sqlite3_stmt *st = NULL;

	if (ca_prepare(db, sql, &st) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	bind_tid(st, 2, tid);
	return step_done(db, st);
}

/* One statement with a text value as ?1; 0 or -1. */
static int text_exec(sqlite3 *db, const char *sql, const char *value)
{
	sqlite3_stmt *st = NULL;

	if (ca_prepare(db, sql, &st) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	return step_done(db, st) < 0 ? -1 : 0;
}

/* ---- users ---- */

int ca_user_get(sqlite3 *db, const char *ref, struct ca_user *u)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(u, 0, sizeof(*u));
	if (ca_prepare(db, "SELECT ref, code, subject, state, faults FROM users WHERE ref = ?",
		       &st) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(u->ref, sizeof(u->ref), "%s", sqlite3_column_text(st, 0));
		snprintf(u->code, sizeof(u->code), "%s", sqlite3_column_text(st, 1));
		snprintf(u->subject, sizeof(u->subject), "%s", sqlite3_column_text(st, 2));
		snprintf(u->state, sizeof(u->state), "%s", sqlite3_column_text(st, 3));
		snprintf(u->faults, sizeof(u->faults), "%s", sqlite3_column_text(st, 4));
	}
	ca_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void ca_user_state(sqlite3 *db, const char *ref, char *out, size_t len)
{
	sqlite3_stmt *st = NULL;

	out[0] = '\0';
	if (ca_prepare(db, "SELECT state FROM users WHERE ref = ?", &st) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	ca_done(st);
}

int ca_user_put(sqlite3 *db, const char *ref, const char *code, const char *subject,
		const char *faults)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ca_prepare(db,
		       "INSERT INTO users (ref, code, subject, faults, created_at)"
		       " VALUES (?, ?, ?, ?, strftime('%s','now'))"
		       " ON CONFLICT (ref) DO UPDATE SET code = excluded.code,"
		       " subject = excluded.subject, faults = excluded.faults,"
		       " state = 'active', consumed_at = NULL",
		       &st) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, faults ? faults : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	ca_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int ca_user_set_state(sqlite3 *db, const char *ref, const char *state)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ca_prepare(db,
		       "UPDATE users SET state = ?1, consumed_at = CASE WHEN ?1 = 'consumed'"
		       " THEN strftime('%s','now') END WHERE ref = ?2",
		       &st) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	ca_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int ca_user_each(sqlite3 *db, void (*fn)(void *arg, const struct ca_user_row *u), void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ca_prepare(db, "SELECT ref, state, subject, faults FROM users ORDER BY ref", &st) !=
	    SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ca_user_row u = {
			.ref = (const char *)sqlite3_column_text(st, 0),
			.state = (const char *)sqlite3_column_text(st, 1),
			.subject = (const char *)sqlite3_column_text(st, 2),
			.faults = (const char *)sqlite3_column_text(st, 3),
		};

		fn(arg, &u);
	}
	ca_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- transactions ---- */

int ca_tx_exists(sqlite3 *db, const ASN1_OCTET_STRING *tid)
{
	sqlite3_stmt *st = NULL;
	int used;

	if (tid == NULL ||
	    ca_prepare(db, "SELECT 1 FROM transactions WHERE tid = ?", &st) != SQLITE_OK)
		return 0;
	bind_tid(st, 1, tid);
	used = sqlite3_step(st) == SQLITE_ROW;
	ca_done(st);
	return used;
}

int ca_tx_get(sqlite3 *db, const ASN1_OCTET_STRING *tid, struct ca_tx *tx)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(tx, 0, sizeof(*tx));
	if (ca_prepare(db, "SELECT coalesce(ref, ''), state, kind FROM transactions WHERE tid = ?",
		       &st) != SQLITE_OK)
		return -1;
	bind_tid(st, 1, tid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(tx->ref, sizeof(tx->ref), "%s", sqlite3_column_text(st, 0));
		snprintf(tx->state, sizeof(tx->state), "%s", sqlite3_column_text(st, 1));
		snprintf(tx->kind, sizeof(tx->kind), "%s", sqlite3_column_text(st, 2));
	}
	ca_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int ca_tx_wait(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *ref, int polls,
	       const unsigned char *request, size_t len)
{
	sqlite3_stmt *st = NULL;

	if (ca_prepare(db,
		       "INSERT OR REPLACE INTO transactions (tid, ref, kind, state, polls_left,"
		       " request, created_at) VALUES (?, ?, 'wait', 'waiting', ?, ?,"
		       " strftime('%s','now'))",
		       &st) != SQLITE_OK)
		return -1;
	bind_tid(st, 1, tid);
	sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, polls);
	sqlite3_bind_blob(st, 4, request, (int)len, SQLITE_TRANSIENT);
	return step_done(db, st) < 0 ? -1 : 0;
}

int ca_tx_waiting(sqlite3 *db, const ASN1_OCTET_STRING *tid, int *polls_left,
		  unsigned char **request, size_t *len)
{
	sqlite3_stmt *st = NULL;
	int rc, n;

	*request = NULL;
	*len = 0;
	if (ca_prepare(db,
		       "SELECT polls_left, request FROM transactions WHERE tid = ? AND"
		       " state = 'waiting'",
		       &st) != SQLITE_OK)
		return -1;
	bind_tid(st, 1, tid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*polls_left = sqlite3_column_int(st, 0);
		if ((n = sqlite3_column_bytes(st, 1)) > 0 &&
		    (*request = malloc((size_t)n)) != NULL) {
			memcpy(*request, sqlite3_column_blob(st, 1), (size_t)n);
			*len = (size_t)n;
		}
	}
	ca_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int ca_tx_poll(sqlite3 *db, const ASN1_OCTET_STRING *tid)
{
	sqlite3_stmt *st = NULL;

	if (ca_prepare(db, "UPDATE transactions SET polls_left = polls_left - 1 WHERE tid = ?",
		       &st) != SQLITE_OK)
		return -1;
	bind_tid(st, 1, tid);
	return step_done(db, st) < 0 ? -1 : 0;
}

int ca_tx_open(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *ref, const char *kind,
	       int implicit)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ca_prepare(db,
		       "INSERT INTO transactions (tid, ref, kind, state, implicit, created_at)"
		       " VALUES (?, ?, ?, ?, ?, strftime('%s','now'))"
		       " ON CONFLICT (tid) DO UPDATE SET state = excluded.state,"
		       " implicit = excluded.implicit WHERE transactions.state = 'waiting'",
		       &st) != SQLITE_OK)
		return -1;
	bind_tid(st, 1, tid);
	sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, implicit ? "confirmed" : "issued", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, implicit);
	rc = step_done(db, st);
	return rc < 0 ? -1 : rc > 0;
}

int ca_tx_set_state(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *state)
{
	return tid_update(db, "UPDATE transactions SET state = ?1 WHERE tid = ?2", state, tid);
}

int ca_tx_supersede_user(sqlite3 *db, const char *ref)
{
	return text_exec(db,
			 "UPDATE transactions SET state = 'superseded' WHERE ref = ?1 AND"
			 " state = 'issued'",
			 ref);
}

/* ---- issued ---- */

int ca_issued_get(sqlite3 *db, const char *serial, struct ca_issued *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->reason = -1;
	if (ca_prepare(db,
		       "SELECT coalesce(ref, ''), state, coalesce(revocation_reason, -1) FROM"
		       " issued WHERE serial = ?",
		       &st) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, serial ? serial : "", -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(out->ref, sizeof(out->ref), "%s", sqlite3_column_text(st, 0));
		snprintf(out->state, sizeof(out->state), "%s", sqlite3_column_text(st, 1));
		out->reason = (long)sqlite3_column_int64(st, 2);
	}
	ca_done(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int ca_issued_add(sqlite3 *db, const struct ca_issued_new *c)
{
	unsigned char *der = NULL;
	int len = i2d_X509(c->cert, &der), rc;
	sqlite3_stmt *st = NULL;

	if (ca_prepare(db,
		       "INSERT INTO issued (serial, tid, cert_req_id, ref, subject, usage, der,"
		       " issued_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, strftime('%s','now'), ?)",
		       &st) != SQLITE_OK) {
		OPENSSL_free(der);
		return -1;
	}
	sqlite3_bind_text(st, 1, c->serial, -1, SQLITE_STATIC);
	bind_tid(st, 2, c->tid);
	sqlite3_bind_int(st, 3, c->cert_req_id);
	sqlite3_bind_text(st, 4, c->ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->subject ? c->subject : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->usage, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, der, len, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, c->state, -1, SQLITE_STATIC);
	rc = step_done(db, st);
	OPENSSL_free(der);
	return rc < 0 ? -1 : 0;
}

/*
 * The certHash of a DER certificate. With a SHA-2 signature the digest
 * is known from the signature algorithm alone, read without parsing the
 * certificate (which in OpenSSL 3.0 sets up a decoder for its key);
 * anything else goes through X509_digest_sig().
 */
static ASN1_OCTET_STRING *cert_hash(const unsigned char *der, long len)
{
	const unsigned char *p = der, *q;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *h = NULL;
	X509_ALGOR *alg = NULL;
	X509 *x = NULL;
	int tag, class, mdnid = NID_undef, pknid;
	long l;

	/* Phase: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, ... } */
	if (!(ASN1_get_object(&p, &l, &tag, &class, len) & 0x80) && tag == V_ASN1_SEQUENCE &&
	    (q = p, !(ASN1_get_object(&q, &l, &tag, &class, len - (p - der)) & 0x80)) &&
	    (q += l, (alg = d2i_X509_ALGOR(NULL, &q, len - (q - der))) != NULL) &&
	    OBJ_find_sigid_algs(OBJ_obj2nid(alg->algorithm), &mdnid, &pknid) &&
	    (mdnid == NID_sha256 || mdnid == NID_sha384 || mdnid == NID_sha512)) {
		if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_get_digestbynid(mdnid), NULL) &&
		    (h = ASN1_OCTET_STRING_new()) != NULL &&
		    !ASN1_OCTET_STRING_set(h, md, (int)mdlen)) {
			ASN1_OCTET_STRING_free(h);
			h = NULL;
		}
	} else {
		p = der;
		if ((x = d2i_X509(NULL, &p, len)) != NULL)
			h = X509_digest_sig(x, NULL, NULL);
	}
	X509_ALGOR_free(alg);
	X509_free(x);
	ERR_clear_error();
	return h;
}

ASN1_OCTET_STRING *ca_issued_cert_hash(sqlite3 *db, const ASN1_OCTET_STRING *tid, long id,
				       int *found)
{
	sqlite3_stmt *st = NULL;
	ASN1_OCTET_STRING *h = NULL;

	*found = 0;
	if (ca_prepare(db, "SELECT der FROM issued WHERE tid = ? AND cert_req_id = ?", &st) !=
	    SQLITE_OK)
		return NULL;
	bind_tid(st, 1, tid);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*found = 1;
		h = cert_hash(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0));
	}
	ca_done(st);
	return h;
}

int ca_issued_find(sqlite3 *db, const char *subject, const ASN1_BIT_STRING *pubkey, char **serial)
{
	sqlite3_stmt *st = NULL;
	int matches = 0;

	*serial = NULL;
	if (ca_prepare(db,
		       "SELECT serial, der FROM issued WHERE subject = ? AND state NOT IN"
		       " ('rolledback', 'rejected', 'unconfirmed')",
		       &st) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *q = sqlite3_column_blob(st, 1);
		X509 *x = d2i_X509(NULL, &q, sqlite3_column_bytes(st, 1));
		int same = x != NULL && (pubkey == NULL ||
					 ASN1_STRING_cmp(X509_get0_pubkey_bitstr(x), pubkey) == 0);

		X509_free(x);
		if (!same)
			continue;
		if (++matches == 1)
			*serial = strdup((const char *)sqlite3_column_text(st, 0));
	}
	ca_done(st);
	return matches;
}

int ca_issued_set_state(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *state)
{
	return tid_update(db, "UPDATE issued SET state = ?1 WHERE tid = ?2", state, tid);
}

int ca_issued_settle(sqlite3 *db, const ASN1_OCTET_STRING *tid, const char *state)
{
	return tid_update(db,
			  "UPDATE issued SET state = ?1 WHERE tid = ?2 AND state = 'unconfirmed'",
			  state, tid);
}

int ca_issued_rollback_user(sqlite3 *db, const char *ref)
{
	return text_exec(db,
			 "UPDATE issued SET state = 'rolledback' WHERE state = 'unconfirmed'"
			 " AND tid IN (SELECT tid FROM transactions WHERE ref = ?1 AND"
			 " state IN ('issued', 'waiting'));",
			 ref);
}

int ca_issued_supersede(sqlite3 *db, const char *serial)
{
	return text_exec(db,
			 "UPDATE issued SET state = CASE state WHEN 'confirmed' THEN 'superseded'"
			 " ELSE 'spent' END WHERE serial = ?1 AND state IN ('confirmed',"
			 " 'superseded')",
			 serial);
}

int ca_issued_revoke(sqlite3 *db, const char *serial, long reason)
{
	sqlite3_stmt *st = NULL;

	if (ca_prepare(
		    db,
		    "UPDATE issued SET state = 'revoked', revocation_reason = ? WHERE serial = ?",
		    &st) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, reason);
	sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
	return step_done(db, st) < 0 ? -1 : 0;
}

int ca_issued_release(sqlite3 *db, const char *serial)
{
	return text_exec(db,
			 "UPDATE issued SET state = 'confirmed', revocation_reason = NULL WHERE"
			 " serial = ?1",
			 serial);
}

int ca_issued_each(sqlite3 *db, void (*fn)(void *arg, const struct ca_issued_row *c), void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (ca_prepare(db,
		       "SELECT serial, usage, state, coalesce(ref, '-'),"
		       " strftime('%Y-%m-%dT%H:%M:%SZ', issued_at, 'unixepoch'), subject"
		       " FROM issued ORDER BY issued_at, serial",
		       &st) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ca_issued_row c = {
			.serial = (const char *)sqlite3_column_text(st, 0),
			.usage = (const char *)sqlite3_column_text(st, 1),
			.state = (const char *)sqlite3_column_text(st, 2),
			.ref = (const char *)sqlite3_column_text(st, 3),
			.issued = (const char *)sqlite3_column_text(st, 4),
			.subject = (const char *)sqlite3_column_text(st, 5),
		};

		fn(arg, &c);
	}
	ca_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Rolls back issuances that were never confirmed within timeout seconds. */
void ca_expire_unconfirmed(sqlite3 *db, int timeout)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "BEGIN IMMEDIATE;"
		 "UPDATE users SET state = 'active' WHERE state = 'pending' AND ref IN"
		 " (SELECT ref FROM transactions WHERE state = 'issued' AND"
		 "  created_at < strftime('%%s','now') - %d);"
		 "UPDATE issued SET state = 'rolledback' WHERE state = 'unconfirmed' AND tid IN"
		 " (SELECT tid FROM transactions WHERE state = 'issued' AND"
		 "  created_at < strftime('%%s','now') - %d);"
		 "UPDATE transactions SET state = 'expired' WHERE state = 'issued' AND"
		 " created_at < strftime('%%s','now') - %d;"
		 "COMMIT;",
		 timeout, timeout, timeout);
	if (ca_exec(db, sql) < 0)
		ca_exec(db, "ROLLBACK");
}
