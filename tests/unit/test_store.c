/*
 * Store: migrations from an empty file, upsert idempotence and changes, no
 * codes in clear, status.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/store.h"
#include "t.h"

static sqlite3_int64 one_int(struct pkiroll_store *s, const char *sql)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	sqlite3_int64 v = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	store_done(s, st);
	return v;
}

static char *one_text(struct pkiroll_store *s, const char *sql)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	char *v = NULL;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	store_done(s, st);
	return v;
}

TEST(store_migrates_empty_file)
{
	pkiroll_store *s;
	char *mode;
	int err, v;

	t_writes("empty.db", "");
	err = pkiroll_store_open(t_ctx(), t_path("empty.db"), 0, &s);
	CHECK(err == PKIROLL_OK, "open of an empty file: %s", t_log());
	/* every migration applied (at least the ones this test knows) */
	v = pkiroll_store_schema_version(s);
	CHECK(v >= 11, "schema %d", v);
	mode = one_text(s, "PRAGMA journal_mode");
	CHECK(mode && strcmp(mode, "wal") == 0, "journal_mode %s", mode ? mode : "?");
	free(mode);
	CHECK(one_int(s, "PRAGMA foreign_keys") == 1, "foreign keys off");
	CHECK(one_int(s,
		      "SELECT count(*) FROM sqlite_master WHERE name IN ('runs',"
		      "'communities','certificates','partners','partner_communities','events')") ==
		      6,
	      "tables missing");
	CHECK(store_exec(s, "INSERT INTO events (at) VALUES (1); UPDATE events SET at = 2") < 0,
	      "events can be updated");
	pkiroll_store_close(s);

	/* reopening applies nothing */
	CHECK(pkiroll_store_open(t_ctx(), t_path("empty.db"), 0, &s) == PKIROLL_OK, "reopen");
	CHECK(pkiroll_store_schema_version(s) == v, "schema after reopen");
	pkiroll_store_close(s);
}

/* A COMMIT that fails leaves nothing open: what the failed transaction
 * wrote is not committed by the next one. */
TEST(store_end_rolls_back_a_failed_commit)
{
	pkiroll_store *s;

	t_writes("commit.db", "");
	CHECK(pkiroll_store_open(t_ctx(), t_path("commit.db"), 0, &s) == PKIROLL_OK, "open");
	CHECK(store_exec(s, "CREATE TABLE p (id INTEGER PRIMARY KEY);"
			    "CREATE TABLE c (pid INTEGER REFERENCES p (id)"
			    " DEFERRABLE INITIALLY DEFERRED)") == 0,
	      "tables");
	/* a deferred foreign key fails the COMMIT, not the INSERT */
	CHECK(store_exec(s, "BEGIN") == 0, "begin");
	CHECK(store_exec(s, "INSERT INTO c VALUES (7)") == 0, "insert");
	CHECK(store_end(s, 1, "test") < 0, "a COMMIT against a deferred key succeeded");
	CHECK(sqlite3_get_autocommit(s->db), "the failed transaction is still open");
	CHECK(store_exec(s, "BEGIN") == 0, "begin after a failed commit");
	CHECK(store_exec(s, "INSERT INTO p VALUES (7)") == 0, "insert p");
	CHECK(store_end(s, 1, "test") == 0, "commit");
	CHECK(one_int(s, "SELECT count(*) FROM c") == 0, "the failed transaction's row committed");
	pkiroll_store_close(s);
}

TEST(store_refuses_missing_and_newer)
{
	pkiroll_store *s;
	sqlite3 *db;

	CHECK(pkiroll_store_open(t_ctx(), t_path("no.db"), 0, &s) == PKIROLL_ERR_NOENT,
	      "missing store not NOENT");
	CHECK(sqlite3_open(t_path("new.db"), &db) == SQLITE_OK, "sqlite open");
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	CHECK(pkiroll_store_open(t_ctx(), t_path("new.db"), 0, &s) == PKIROLL_ERR_SCHEMA,
	      "newer schema accepted");
	CHECK(t_log_has("schema version 99 is newer"), "log: %s", t_log());
}

TEST(store_import_is_idempotent)
{
	struct pkiroll_import_stats st;
	pkiroll_store *s;
	sqlite3_int64 events;

	CHECK(pkiroll_store_open(t_ctx(), t_path("s.db"), 1, &s) == PKIROLL_OK, "open");
	CHECK(pkiroll_store_import(s, t_src("manifests/example.csv"), NULL, &st) == PKIROLL_OK,
	      "import: %s", t_log());
	CHECK(st.added == 10 && st.updated == 0 && st.bad == 0,
	      "first import %lu added %lu updated", st.added, st.updated);
	events = one_int(s, "SELECT count(*) FROM events");
	CHECK(one_int(s, "SELECT count(*) FROM partners") == 5, "partners %lld",
	      (long long)one_int(s, "SELECT count(*) FROM partners"));
	CHECK(pkiroll_store_import(s, t_src("manifests/example.csv"), NULL, &st) == PKIROLL_OK,
	      "second import");
	CHECK(st.added == 0 && st.updated == 0 && st.unchanged == 10,
	      "second import changed something: %lu added %lu updated %lu unchanged", st.added,
	      st.updated, st.unchanged);
	CHECK(one_int(s, "SELECT count(*) FROM events") == events, "second import wrote events");
	CHECK(one_int(s, "SELECT count(*) FROM communities WHERE state = 'pending'") == 10,
	      "not all pending");
	pkiroll_store_close(s);
}

TEST(store_import_reports_changes)
{
	struct pkiroll_import_stats st;
	pkiroll_store *s;
	char *subj;

	CHECK(pkiroll_store_open(t_ctx(), t_path("s.db"), 1, &s) == PKIROLL_OK, "open");
	t_writes("a.csv", "community,reference_number,authorization_code,partners,subject\n"
			  "acme,100,c1,P1;P2,\"CN=Acme,C=US\"\n"
			  "globex,200,c2,P1,\n");
	CHECK(pkiroll_store_import(s, t_path("a.csv"), NULL, &st) == PKIROLL_OK, "import 1");
	t_writes("b.csv", "community,reference_number,authorization_code,partners,subject\n"
			  "acme,100,c1,P2,\"CN=Acme EDI,C=US\"\n"
			  "initech,200,c3,,\n"
			  "hooli,300,c4,,\n");
	t_log_reset();
	CHECK(pkiroll_store_import(s, t_path("b.csv"), NULL, &st) == PKIROLL_OK, "import 2");
	CHECK(st.updated == 1 && st.added == 1 && st.bad == 1,
	      "%lu updated %lu added %lu bad, want 1/1/1", st.updated, st.added, st.bad);
	CHECK(t_log_has("community \"acme\" updated: subject CN=Acme,C=US -> CN=Acme EDI,C=US"),
	      "change not reported: %s", t_log());
	CHECK(t_log_has("b.csv:3: reference_number: already used by community \"globex\""),
	      "reference conflict not reported: %s", t_log());
	subj = one_text(s, "SELECT subject FROM communities WHERE name = 'acme'");
	CHECK(subj && strcmp(subj, "CN=Acme EDI,C=US") == 0, "subject %s", subj ? subj : "?");
	free(subj);
	CHECK(one_int(s, "SELECT count(*) FROM partner_communities pc JOIN communities c"
			 " ON c.id = pc.community_id WHERE c.name = 'acme'") == 1,
	      "partner not removed");
	CHECK(one_int(s, "SELECT count(*) FROM events e JOIN communities c ON c.id = e.community_id"
			 " WHERE c.name = 'acme'") == 2,
	      "change event missing");
	pkiroll_store_close(s);
}

TEST(store_new_codes_reset_needs_codes)
{
	struct pkiroll_import_stats st;
	pkiroll_store *s;
	char *state;

	CHECK(pkiroll_store_open(t_ctx(), t_path("s.db"), 1, &s) == PKIROLL_OK, "open");
	t_writes("a.csv", "community,reference_number,authorization_code\nacme,100,c1\n");
	CHECK(pkiroll_store_import(s, t_path("a.csv"), NULL, &st) == PKIROLL_OK, "import");
	CHECK(store_exec(s, "UPDATE communities SET state = 'needs_codes',"
			    " reason = 'codes consumed', retryable = 0") == 0,
	      "update");
	t_writes("b.csv", "community,reference_number,authorization_code\nacme,101,c9\n");
	CHECK(pkiroll_store_import(s, t_path("b.csv"), NULL, &st) == PKIROLL_OK, "import 2");
	state = one_text(s, "SELECT state || '/' || reason FROM communities");
	CHECK(state && strcmp(state, "pending/new codes from the manifest") == 0, "state %s",
	      state ? state : "?");
	free(state);
	pkiroll_store_close(s);
}

TEST(store_holds_no_codes)
{
	struct pkiroll_import_stats st;
	pkiroll_store *s;
	FILE *f;
	char *buf;
	long n;

	CHECK(pkiroll_store_open(t_ctx(), t_path("s.db"), 1, &s) == PKIROLL_OK, "open");
	CHECK(pkiroll_store_import(s, t_src("manifests/example.csv"), NULL, &st) == PKIROLL_OK,
	      "import");
	CHECK(store_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)") == 0, "checkpoint");
	pkiroll_store_close(s);
	f = fopen(t_path("s.db"), "rb");
	CHECK(f != NULL, "reopen file");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n);
	CHECK(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "read");
	fclose(f);
	CHECK(memmem(buf, (size_t)n, "30001001", 8) != NULL, "sanity: reference not found");
	CHECK(memmem(buf, (size_t)n, "AUTH-00", 7) == NULL,
	      "an authorization code is in the store");
	free(buf);
}

TEST(store_status_counts_and_expiry)
{
	struct pkiroll_import_stats st;
	struct pkiroll_status *status;
	pkiroll_store *s;
	time_t now = time(NULL);
	char sql[1024];

	CHECK(pkiroll_store_open(t_ctx(), t_path("s.db"), 1, &s) == PKIROLL_OK, "open");
	CHECK(pkiroll_store_import(s, t_src("manifests/example.csv"), NULL, &st) == PKIROLL_OK,
	      "import");
	snprintf(sql, sizeof(sql),
		 "UPDATE communities SET state = 'failed', reason = 'CA said no', retryable = 0"
		 " WHERE name = 'acme-edi';"
		 "UPDATE communities SET state = 'enrolled' WHERE name = 'globex-b2b';"
		 "INSERT INTO certificates (community_id, usage, der, serial, issuer, subject,"
		 " not_before, not_after, sha256, created_at)"
		 " SELECT id, 'signing', x'30', '0A', 'CN=CA', 'CN=G', %lld, %lld, 'h1', 0"
		 " FROM communities WHERE name = 'globex-b2b';"
		 "INSERT INTO certificates (community_id, usage, der, serial, issuer, subject,"
		 " not_before, not_after, sha256, created_at)"
		 " SELECT id, 'encryption', x'30', '0B', 'CN=CA', 'CN=G', %lld, %lld, 'h2', 0"
		 " FROM communities WHERE name = 'globex-b2b';",
		 (long long)now, (long long)now + 10 * 86400, (long long)now,
		 (long long)now + 90 * 86400);
	CHECK(store_exec(s, sql) == 0, "setup: %s", t_log());
	CHECK(pkiroll_status_get(s, now, 30, &status) == PKIROLL_OK, "status");
	CHECK(status->communities == 10 && status->count[PKIROLL_STATE_PENDING] == 8 &&
		      status->count[PKIROLL_STATE_FAILED] == 1 &&
		      status->count[PKIROLL_STATE_ENROLLED] == 1,
	      "counts wrong");
	CHECK(status->nattention == 1 && strcmp(status->attention[0].community, "acme-edi") == 0 &&
		      strcmp(status->attention[0].reason, "CA said no") == 0 &&
		      !status->attention[0].retryable,
	      "attention list wrong");
	CHECK(status->nexpiring == 1 && strcmp(status->expiring[0].serial, "0A") == 0,
	      "expiring: %zu", status->nexpiring);
	pkiroll_status_free(status);
	pkiroll_store_close(s);
}

TEST(fingerprints_known_vector)
{
	struct pkiroll_fingerprints fp;

	CHECK(pkiroll_fingerprints((const unsigned char *)"abc", 3, &fp) == PKIROLL_OK, "digest");
	CHECK(strcmp(fp.md5, "90:01:50:98:3C:D2:4F:B0:D6:96:3F:7D:28:E1:7F:72") == 0, "md5 %s",
	      fp.md5);
	CHECK(strcmp(fp.sha1, "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D") == 0,
	      "sha1 %s", fp.sha1);
	CHECK(strncmp(fp.sha256, "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23", 47) == 0 &&
		      strlen(fp.sha256) == 95,
	      "sha256 %s", fp.sha256);
}
