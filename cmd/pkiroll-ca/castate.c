/*
 * The CA's state directory and its SQLite file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "castate.h"
#include "x509/certinfo.h"
#include "base/fileio.h"
#include "cmp/cmp_server.h"
#include "x509/keys.h"
#include "mint.h"

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

int ca_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "pkiroll-ca: ca.db: %s\n", msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int ca_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	/* a statement of this connection with the same text, not in use */
	for (*st = sqlite3_next_stmt(db, NULL); *st != NULL; *st = sqlite3_next_stmt(db, *st))
		if (!sqlite3_stmt_busy(*st) && strcmp(sqlite3_sql(*st), sql) == 0) {
			sqlite3_clear_bindings(*st);
			return SQLITE_OK;
		}
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

void ca_done(sqlite3_stmt *st)
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

/* Writes a certificate or a key as a PEM file, 0600, atomically and synced. */
static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc = -1;

	if (b != NULL &&
	    (x ? PEM_write_bio_X509(b, x)
	       : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		rc = atomic_write(dir, name, data, (size_t)n, 0600, 1);
	BIO_free(b);
	return rc;
}

static X509_NAME *cn(const char *s)
{
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"pkiroll test PKI",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)s, -1, -1, 0);
	return n;
}

int ca_init(const char *dir, int key_type, int intermediate)
{
	EVP_PKEY *rk = NULL, *ik = NULL;
	X509 *root = NULL, *ica = NULL;
	X509_NAME *rn = cn("pkiroll test root CA"), *in = cn("pkiroll test issuing CA");
	int rc = -1;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "pkiroll-ca: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	chmod(dir, 0700);
	if ((rk = keys_generate(key_type)) == NULL ||
	    (root = ca_mint(NULL, rk, rn, rk, NULL, MINT_CA, 10L * 365 * 86400)) == NULL)
		goto fail;
	if (intermediate &&
	    ((ik = keys_generate(key_type)) == NULL ||
	     (ica = ca_mint(root, rk, in, ik, NULL, MINT_CA, 5L * 365 * 86400)) == NULL))
		goto fail;
	if (write_pem(dir, "root.key", NULL, rk) < 0 || write_pem(dir, "root.pem", root, NULL) < 0)
		goto fail;
	if (ica != NULL) {
		if (write_pem(dir, "issuing.key", NULL, ik) < 0 ||
		    write_pem(dir, "issuing.pem", ica, NULL) < 0)
			goto fail;
	} else {
		char p[4096];

		snprintf(p, sizeof(p), "%s/issuing.key", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/issuing.pem", dir);
		unlink(p);
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "pkiroll-ca: %s: cannot create the CA\n", dir);
out:
	ERR_clear_error();
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	X509_free(root);
	X509_free(ica);
	X509_NAME_free(rn);
	X509_NAME_free(in);
	return rc;
}

static EVP_PKEY *read_key(const char *dir, const char *name)
{
	char p[4096];
	FILE *f;
	EVP_PKEY *k = NULL;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "r")) != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	return k;
}

int ca_keys_load(const char *dir, struct ca_keys *k)
{
	X509 *ica = certinfo_read(dir, "issuing.pem", 1);

	memset(k, 0, sizeof(*k));
	k->root = certinfo_read(dir, "root.pem", 1);
	k->chain = sk_X509_new_null();
	k->trust = X509_STORE_new();
	if (k->root == NULL || k->chain == NULL || k->trust == NULL) {
		fprintf(stderr, "pkiroll-ca: %s: no CA here (run pkiroll-ca init --state %s)\n",
			dir, dir);
		X509_free(ica);
		ca_keys_free(k);
		return -1;
	}
	if (ica != NULL) {
		k->cert = ica;
		k->key = read_key(dir, "issuing.key");
		sk_X509_push(k->chain, ica);
		X509_up_ref(ica);
	} else {
		k->cert = k->root;
		X509_up_ref(k->root);
		k->key = read_key(dir, "root.key");
	}
	X509_add_cert(k->chain, k->root, X509_ADD_FLAG_UP_REF);
	X509_STORE_add_cert(k->trust, k->root);
	if (k->key == NULL) {
		fprintf(stderr, "pkiroll-ca: %s: cannot read the CA key\n", dir);
		ca_keys_free(k);
		return -1;
	}
	ERR_clear_error();
	return 0;
}

void ca_keys_free(struct ca_keys *k)
{
	EVP_PKEY_free(k->key);
	X509_free(k->cert);
	X509_free(k->root);
	sk_X509_pop_free(k->chain, X509_free);
	X509_STORE_free(k->trust);
	memset(k, 0, sizeof(*k));
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
