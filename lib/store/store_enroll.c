/*
 * Runs, steps and results in the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmp/cmp_client.h"
#include "x509/certinfo.h"
#include "store/store_deploy.h"
#include "store/store_enroll.h"

int store_community_get(struct pkiroll_store *s, const char *name, struct community *c)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT id, name, reference_number, subject, coalesce(ca_profile, ''), key_type,"
		   " enc_key_type, dual, state, coalesce(step, ''), retryable, attempts,"
		   " coalesce(next_attempt_at, 0), tx_id, tx_nonce, tx_pbm, coalesce(keystore, ''),"
		   " coalesce(keystore_dir, ''), renew_failures,"
		   " (SELECT serial FROM certificates WHERE community_id = communities.id"
		   "  AND usage = 'signing' AND superseded_by IS NULL ORDER BY id DESC LIMIT 1)"
		   " FROM communities WHERE name = ?");
	int rc;

	memset(c, 0, sizeof(*c));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		c->id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, c->name, sizeof(c->name));
		store_col_copy(st, 2, c->reference, sizeof(c->reference));
		store_col_copy(st, 3, c->subject, sizeof(c->subject));
		store_col_copy(st, 4, c->ca, sizeof(c->ca));
		c->key_type = base_key_type_from_name((const char *)sqlite3_column_text(st, 5));
		c->enc_key_type = base_key_type_from_name((const char *)sqlite3_column_text(st, 6));
		c->dual = sqlite3_column_int(st, 7);
		c->state = base_state_from_name((const char *)sqlite3_column_text(st, 8));
		c->step = cmp_step_from_name(store_col_text(st, 9));
		c->retryable = sqlite3_column_int(st, 10);
		c->attempts = sqlite3_column_int(st, 11);
		c->next_attempt_at = sqlite3_column_int64(st, 12);
		c->has_tx = store_col_blob(st, 13, c->tx_id, sizeof(c->tx_id)) == 16;
		c->tx_nonce_len = store_col_blob(st, 14, c->tx_nonce, sizeof(c->tx_nonce));
		c->tx_pbm_len = store_col_blob(st, 15, c->tx_pbm, sizeof(c->tx_pbm));
		store_col_copy(st, 16, c->keystore, sizeof(c->keystore));
		store_col_copy(st, 17, c->keystore_dir, sizeof(c->keystore_dir));
		c->renew_failures = sqlite3_column_int(st, 18);
		store_col_copy(st, 19, c->cur_serial, sizeof(c->cur_serial));
	}
	store_done(s, st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	store_sql_error(s, "community");
	return -1;
}

int store_run_begin(struct pkiroll_store *s, const char *command, const char *manifest,
		    sqlite3_int64 *run)
{
	sqlite3_stmt *st =
		store_prepare(s, "INSERT INTO runs (command, manifest, pid, started_at, status)"
				 " VALUES (?, ?, ?, ?, 'running')");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, command, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, manifest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)getpid());
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	store_done(s, st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, "run");
		return -1;
	}
	*run = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_run_end(struct pkiroll_store *s, sqlite3_int64 run, const char *status,
		  unsigned long total, unsigned long ok, unsigned long failed)
{
	sqlite3_stmt *st = store_prepare(
		s,
		"UPDATE runs SET finished_at = ?, status = ?, total = ?, succeeded = ?, failed = ?"
		" WHERE id = ?");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)total);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)ok);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)failed);
	sqlite3_bind_int64(st, 6, run);
	rc = sqlite3_step(st);
	store_done(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static char *current_state(struct pkiroll_store *s, sqlite3_int64 id)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT state FROM communities WHERE id = ?");
	char *v = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = base_strdup((const char *)sqlite3_column_text(st, 0));
	store_done(s, st);
	return v;
}

int store_step_save(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, int renewing,
		    int step, const unsigned char *tid, const unsigned char *nonce,
		    size_t nonce_len, const unsigned char *pbm, size_t pbm_len,
		    const char *keystore, int durable)
{
	sqlite3_stmt *st = NULL;
	const char *to = renewing ? "renewing" : "enrolling";
	char *from = NULL, why[128];
	int ok = 0, rc;

	/* set before BEGIN: SQLite reads it when the transaction starts */
	if ((durable && store_exec(s, "PRAGMA synchronous = FULL") < 0) ||
	    store_exec(s, "BEGIN IMMEDIATE") < 0)
		goto restore;
	if ((from = current_state(s, id)) == NULL)
		goto out;
	/* only pkiroll unretire leaves retired: the step is kept, not the state */
	if (strcmp(from, "retired") == 0)
		to = "retired";
	if (strcmp(from, to) != 0) {
		snprintf(why, sizeof(why), "%s started (run %lld)",
			 renewing ? "renewal" : "enrollment", (long long)run);
		if (store_event_add(s, run, id, from, to, why) < 0)
			goto out;
	}
	if (renewing) {
		/* a renewal's history is kept step by step */
		snprintf(why, sizeof(why), "renewal step: %s", cmp_step_name(step));
		if (store_event_add(s, run, id, to, to, why) < 0)
			goto out;
	}
	st = store_prepare(
		s, "UPDATE communities SET state = ?8, step = ?2,"
		   " tx_id = coalesce(?3, CASE WHEN ?2 = 'request' THEN NULL ELSE tx_id END),"
		   " tx_nonce = coalesce(?4, CASE WHEN ?2 = 'request' THEN NULL ELSE tx_nonce END),"
		   " tx_pbm = coalesce(?5, CASE WHEN ?2 = 'request' THEN NULL ELSE tx_pbm END),"
		   " keystore = coalesce(?6, keystore), updated_at = ?7 WHERE id = ?1");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, cmp_step_name(step), -1, SQLITE_STATIC);
	if (tid != NULL)
		sqlite3_bind_blob(st, 3, tid, 16, SQLITE_STATIC);
	if (nonce != NULL && nonce_len > 0)
		sqlite3_bind_blob(st, 4, nonce, (int)nonce_len, SQLITE_STATIC);
	if (pbm != NULL && pbm_len > 0)
		sqlite3_bind_blob(st, 5, pbm, (int)pbm_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, keystore, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 8, to, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
out:
	store_done(s, st);
	free(from);
	rc = store_end(s, ok, "step");
	if (durable && store_exec(s, "PRAGMA synchronous = NORMAL") < 0)
		rc = -1;
	return rc;
restore:
	if (durable)
		(void)store_exec(s, "PRAGMA synchronous = NORMAL");
	return -1;
}

/* The id of a CA certificate, recorded first if new. 0 on error. */
static sqlite3_int64 ca_cert_id(struct pkiroll_store *s, const unsigned char *der, size_t len)
{
	struct pkiroll_fingerprints fp;
	struct pkiroll_cert_info info;
	const unsigned char *p = der;
	sqlite3_stmt *st;
	sqlite3_int64 cid = 0;
	X509 *x = NULL;

	if (pkiroll_fingerprints(der, len, &fp) != PKIROLL_OK ||
	    (st = store_prepare(s, "SELECT id FROM ca_certificates WHERE sha256 = ?")) == NULL)
		return 0;
	sqlite3_bind_text(st, 1, fp.sha256, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		cid = sqlite3_column_int64(st, 0);
	store_done(s, st);
	if (cid > 0)
		return cid;
	/* new: parsed once, for its subject */
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len ||
	    certinfo_from_x509(x, &info) != PKIROLL_OK) {
		X509_free(x);
		return 0;
	}
	st = store_prepare(s, "INSERT INTO ca_certificates (sha256, subject, der, created_at)"
			      " VALUES (?, ?, ?, ?)");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, fp.sha256, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, info.subject, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, der, (int)len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) == SQLITE_DONE)
			cid = sqlite3_last_insert_rowid(s->db);
		store_done(s, st);
	}
	certinfo_clear(&info);
	X509_free(x);
	return cid;
}

/* Links a certificate to the CA certificates above it, in order. */
static int chain_save(struct pkiroll_store *s, sqlite3_int64 cert_id,
		      const struct enroll_outcome *o)
{
	for (int i = 0; i < o->nchain; i++) {
		sqlite3_int64 cid = ca_cert_id(s, o->chain[i], o->chain_len[i]);
		sqlite3_stmt *st;
		int rc;

		if (cid == 0 ||
		    (st = store_prepare(s, "INSERT INTO certificate_chain"
					   " (certificate_id, position, ca_certificate_id)"
					   " VALUES (?, ?, ?) ON CONFLICT DO NOTHING")) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, cert_id);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_int64(st, 3, cid);
		rc = sqlite3_step(st);
		store_done(s, st);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* Inserts a certificate as the current one of its usage, with its chain. */
static int cert_save(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id,
		     const struct outcome_cert *c, const char *usage,
		     const struct enroll_outcome *o)
{
	struct pkiroll_cert_info info = {0};
	const unsigned char *der = c->der;
	const unsigned char *p = c->der;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 new_id;
	int len = (int)c->len, ok = 0;

	/* what the worker read, else a parse here; fingerprints of these bytes */
	if (c->have_info) {
		info = c->info;
		info.subject = base_strdup(c->info.subject);
		info.issuer = base_strdup(c->info.issuer);
		info.serial = base_strdup(c->info.serial);
	} else {
		X509 *x = d2i_X509(NULL, &p, (long)c->len);
		int e = x != NULL ? certinfo_from_x509(x, &info) : PKIROLL_ERR_CRYPTO;

		X509_free(x);
		if (e != PKIROLL_OK)
			return -1;
	}
	if (info.subject == NULL || info.issuer == NULL || info.serial == NULL ||
	    pkiroll_fingerprints(der, c->len, &info.fp) != PKIROLL_OK) {
		certinfo_clear(&info);
		return -1;
	}
	st = store_prepare(s, "INSERT INTO certificates (community_id, run_id, usage, der, serial, "
			      "issuer, subject,"
			      " not_before, not_after, key_type, sha256, created_at)"
			      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			      " ON CONFLICT (sha256) DO NOTHING");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, run);
	sqlite3_bind_text(st, 3, usage, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, der, len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, info.serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, info.issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, info.subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)info.not_before);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)info.not_after);
	sqlite3_bind_text(st, 10, info.key_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, info.fp.sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	store_done(s, st);
	st = NULL;
	if (sqlite3_changes(s->db) == 0) {
		ok = 1; /* already recorded (a resumed run) */
		goto out;
	}
	new_id = sqlite3_last_insert_rowid(s->db);
	if (chain_save(s, new_id, o) < 0)
		goto out;
	st = store_prepare(
		s,
		"UPDATE certificates SET superseded_by = ?1 WHERE community_id = ?2 AND usage = ?3"
		" AND superseded_by IS NULL AND id != ?1");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, new_id);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_text(st, 3, usage, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
out:
	store_done(s, st);
	certinfo_clear(&info);
	return ok ? 0 : -1;
}

int store_result_save(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id,
		      const struct enroll_outcome *o)
{
	const char *to = pkiroll_state_name(o->state);
	sqlite3_stmt *st = NULL;
	char *from = NULL;
	int ok = 0, done = o->state == PKIROLL_STATE_ENROLLED;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((from = current_state(s, id)) == NULL)
		goto out;
	/* only pkiroll unretire leaves retired: what came back is recorded
	 * (certificates included), the state stays */
	if (strcmp(from, "retired") == 0)
		to = "retired";
	if (o->sign.der != NULL && cert_save(s, run, id, &o->sign, "signing", o) < 0)
		goto out;
	if (o->enc.der != NULL && cert_save(s, run, id, &o->enc, "encryption", o) < 0)
		goto out;
	st = store_prepare(s, "UPDATE communities SET state = ?2, reason = ?3, retryable = ?4,"
			      " attempts = attempts + ?5, next_attempt_at = ?6, updated_at = ?7,"
			      " keystore = coalesce(?8, keystore),"
			      " step = CASE WHEN ?9 THEN NULL ELSE step END,"
			      " tx_id = CASE WHEN ?9 THEN NULL ELSE tx_id END,"
			      " tx_nonce = CASE WHEN ?9 THEN NULL ELSE tx_nonce END,"
			      " tx_pbm = CASE WHEN ?9 THEN NULL ELSE tx_pbm END,"
			      " code_hash = ?10,"
			      " requested_subject = CASE WHEN ?11 THEN subject WHEN ?9 THEN NULL"
			      "  ELSE requested_subject END,"
			      " renew_failures = CASE WHEN ?12 = 2 THEN renew_failures + 1"
			      "  WHEN ?12 = 1 OR ?14 THEN 0 ELSE renew_failures END,"
			      " attention = CASE WHEN ?13 IS NOT NULL THEN ?13 WHEN ?14 THEN NULL"
			      "  ELSE attention END"
			      " WHERE id = ?1");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, o->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, o->retryable);
	sqlite3_bind_int(st, 5, o->count_attempt);
	if (o->next_attempt_at > 0)
		sqlite3_bind_int64(st, 6, o->next_attempt_at);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 8, o->keystore, -1, SQLITE_STATIC);
	/* keep the transaction when a later run can still finish it */
	sqlite3_bind_int(st, 9, done || o->state == PKIROLL_STATE_NEEDS_CODES || o->forget_tx);
	if (o->state == PKIROLL_STATE_NEEDS_CODES && o->code != NULL && o->code[0] != '\0') {
		unsigned char h[CODE_HASH_LEN];

		if (store_code_hash(o->code, NULL, h) == 0)
			sqlite3_bind_blob(st, 10, h, sizeof(h), SQLITE_TRANSIENT);
	}
	sqlite3_bind_int(st, 11, done && o->subject_changed);
	sqlite3_bind_int(st, 12, o->renew);
	sqlite3_bind_text(st, 13, o->attention, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 14, o->sign.der != NULL);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	if (o->attention != NULL && store_event_add(s, run, id, from, to, o->attention) < 0)
		goto out;
	/* new certificates in use: a deploy hook owes them to the gateway */
	if (done && o->sign.der != NULL && strcmp(to, "enrolled") == 0 &&
	    store_deploy_mark(s, id, o->renew == 1 ? "renewed" : "enrolled") < 0)
		goto out;
	if (o->renew == 1) {
		char why[200];

		snprintf(why, sizeof(why), "renewed: replaces signing certificate serial %.80s",
			 o->old_serial ? o->old_serial : "?");
		ok = store_event_add(s, run, id, from, to, why) == 0;
		goto out;
	}
	ok = store_event_add(s, run, id, from, to,
			     o->reason ? o->reason
			     : done && o->subject_changed
				     ? "certificates issued, with a subject the CA changed"
				     : "certificates issued") == 0;
out:
	store_done(s, st);
	free(from);
	return store_end(s, ok, "result");
}
