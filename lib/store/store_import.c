/*
 * Manifest -> store: the upsert of communities and their partners.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "input/manifest.h"
#include "store/store.h"
#include "store/store_lifecycle.h"

struct importer {
	struct pkiroll_store *s;
	const char *path;
	int insecure_code_files;
	sqlite3_stmt *find, *insert, *update, *find_ref;
	sqlite3_stmt *partner_add, *link_add, *links, *link_del;
	sqlite3_stmt *ksdir_holder, *ksdir_set;
	char ksdir[FILE_SAFE_NAME_MAX]; /* a new community's keystore directory */
};

static int same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void bind_row(sqlite3_stmt *st, const struct manifest_row *row)
{
	sqlite3_bind_text(st, 1, row->community, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, row->reference, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, row->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, row->ca, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, base_key_type_name(row->key_type), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, base_key_type_name(row->enc_key_type), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, row->dual);
	sqlite3_bind_text(st, 8, row->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, row->notes, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 13, row->as2_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 14, row->cem_response_url, -1, SQLITE_STATIC);
}

/*
 * Gives community id its keystore directory name, once: the recorded
 * keystore path's last component if it has one and nobody else holds it,
 * else file_safe_name(). A name another community holds is refused (the
 * two would share keys): 0 done, 'x' refused (logged), -1 store error.
 */
static int keystore_dir_assign(struct importer *im, sqlite3_int64 id,
			       const struct manifest_row *row, const char *recorded)
{
	char want[FILE_SAFE_NAME_MAX];
	const char *slash = recorded != NULL ? strrchr(recorded, '/') : NULL;
	int tries, rc;

	for (tries = recorded != NULL && *recorded != '\0' ? 0 : 1; tries < 2; tries++) {
		if (tries == 0)
			snprintf(want, sizeof(want), "%s", slash != NULL ? slash + 1 : recorded);
		else
			file_safe_name(row->community, 0, want, sizeof(want));
		sqlite3_reset(im->ksdir_holder);
		sqlite3_bind_text(im->ksdir_holder, 1, want, -1, SQLITE_STATIC);
		sqlite3_bind_int64(im->ksdir_holder, 2, id);
		rc = sqlite3_step(im->ksdir_holder);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW)
			return -1;
		if (tries == 1) {
			ctx_log(im->s->ctx, PKIROLL_LOG_ERROR,
				"%s:%lu: community: its keystore directory \"%s\" is already that "
				"of "
				"community \"%s\" in the store",
				im->path, row->line, want,
				(const char *)sqlite3_column_text(im->ksdir_holder, 0));
			sqlite3_reset(im->ksdir_holder);
			return 'x';
		}
	}
	sqlite3_reset(im->ksdir_holder);
	if (id < 0) {
		/* a new community: the insert sets it */
		snprintf(im->ksdir, sizeof(im->ksdir), "%s", want);
		return 0;
	}
	sqlite3_reset(im->ksdir_set);
	sqlite3_bind_text(im->ksdir_set, 1, want, -1, SQLITE_STATIC);
	sqlite3_bind_int64(im->ksdir_set, 2, id);
	rc = sqlite3_step(im->ksdir_set);
	sqlite3_reset(im->ksdir_set);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Another community in the store that holds this reference number. */
static char *ref_holder(struct importer *im, const char *ref, sqlite3_int64 self)
{
	char *name = NULL;

	sqlite3_reset(im->find_ref);
	sqlite3_bind_text(im->find_ref, 1, ref, -1, SQLITE_STATIC);
	sqlite3_bind_int64(im->find_ref, 2, self);
	if (sqlite3_step(im->find_ref) == SQLITE_ROW)
		name = base_strdup(store_col_text(im->find_ref, 0));
	sqlite3_reset(im->find_ref);
	return name;
}

/*
 * Makes the community's partner links equal to the row's. Returns 1 when
 * something changed, 0 when not, -1 on error.
 */
static int sync_partners(struct importer *im, sqlite3_int64 id, const struct manifest_row *row)
{
	int changed = 0, rc;

	/* Phase: drop links that the row no longer names. */
	sqlite3_reset(im->links);
	sqlite3_bind_int64(im->links, 1, id);
	while ((rc = sqlite3_step(im->links)) == SQLITE_ROW) {
		const char *name = store_col_text(im->links, 1);
		size_t k;

		for (k = 0; k < row->npartners; k++)
			if (strcmp(row->partners[k], name) == 0)
				break;
		if (k < row->npartners)
			continue;
		sqlite3_reset(im->link_del);
		sqlite3_bind_int64(im->link_del, 1, sqlite3_column_int64(im->links, 0));
		sqlite3_bind_int64(im->link_del, 2, id);
		if (sqlite3_step(im->link_del) != SQLITE_DONE)
			return -1;
		changed = 1;
	}
	sqlite3_reset(im->links);
	if (rc != SQLITE_DONE)
		return -1;

	/* Phase: add the ones that are missing. */
	for (size_t k = 0; k < row->npartners; k++) {
		sqlite3_reset(im->partner_add);
		sqlite3_bind_text(im->partner_add, 1, row->partners[k], -1, SQLITE_STATIC);
		sqlite3_bind_text(im->partner_add, 2, row->partner_as2 ? row->partner_as2[k] : NULL,
				  -1, SQLITE_STATIC);
		if (sqlite3_step(im->partner_add) != SQLITE_DONE)
			return -1;
		sqlite3_reset(im->link_add);
		sqlite3_bind_text(im->link_add, 1, row->partners[k], -1, SQLITE_STATIC);
		sqlite3_bind_int64(im->link_add, 2, id);
		if (sqlite3_step(im->link_add) != SQLITE_DONE)
			return -1;
		if (sqlite3_changes(im->s->db) > 0)
			changed = 1;
	}
	return changed;
}

/* Adds the text of one changed field to buf. */
static void note_change(char *buf, size_t len, const char *field, const char *old, const char *new)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s %s -> %s", used ? "; " : "", field,
		 old ? old : "(none)", new ? new : "(none)");
}

/*
 * Upserts one good row. Returns 'a' added, 'u' updated, '=' unchanged,
 * 'x' refused (logged), or -1 on a store error.
 */
/* A community the store does not have yet: 'a', 'x' (refused, said), -1. */
static int insert_new(struct importer *im, const struct manifest_row *row)
{
	struct pkiroll_store *s = im->s;
	char reason[2300];
	sqlite3_int64 id;
	char *holder;
	int p;

	if ((holder = ref_holder(im, row->reference, -1)) != NULL) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"%s:%lu: reference_number: already used by community \"%s\" in the "
			"store",
			im->path, row->line, holder);
		free(holder);
		return 'x';
	}
	sqlite3_reset(im->insert);
	bind_row(im->insert, row);
	if ((p = keystore_dir_assign(im, -1, row, NULL)) != 0)
		return p;
	sqlite3_bind_text(im->insert, 11, im->ksdir, -1, SQLITE_STATIC);
	if (sqlite3_step(im->insert) != SQLITE_DONE)
		return -1;
	id = sqlite3_last_insert_rowid(s->db);
	snprintf(reason, sizeof(reason), "imported from %s:%lu", im->path, row->line);
	if (store_event_add(s, 0, id, NULL, "pending", reason) < 0 ||
	    sync_partners(im, id, row) < 0)
		return -1;
	return 'a';
}

/* What the row changes in the found community's fields, into changes. */
static void diff_fields(struct importer *im, const struct manifest_row *row, char *changes,
			size_t len)
{
	if (!same(store_col_text(im->find, 2), row->subject))
		note_change(changes, len, "subject", store_col_text(im->find, 2), row->subject);
	if (!same(store_col_text(im->find, 3), row->ca))
		note_change(changes, len, "ca", store_col_text(im->find, 3), row->ca);
	if (!same(store_col_text(im->find, 4), base_key_type_name(row->key_type)))
		note_change(changes, len, "key_type", store_col_text(im->find, 4),
			    base_key_type_name(row->key_type));
	if (!same(store_col_text(im->find, 5), base_key_type_name(row->enc_key_type)))
		note_change(changes, len, "encryption_key_type", store_col_text(im->find, 5),
			    base_key_type_name(row->enc_key_type));
	if (sqlite3_column_int(im->find, 6) != row->dual)
		note_change(changes, len, "dual", row->dual ? "no" : "yes",
			    row->dual ? "yes" : "no");
	if (!same(store_col_text(im->find, 7), row->email))
		note_change(changes, len, "email", store_col_text(im->find, 7), row->email);
	if (!same(store_col_text(im->find, 8), row->notes))
		note_change(changes, len, "notes", "...", "...");
	if (!same(store_col_text(im->find, 14), row->as2_id))
		note_change(changes, len, "as2_id", store_col_text(im->find, 14), row->as2_id);
	if (!same(store_col_text(im->find, 15), row->cem_response_url))
		note_change(changes, len, "cem_response_url", store_col_text(im->find, 15),
			    row->cem_response_url);
}

static int upsert(struct importer *im, const struct manifest_row *row)
{
	struct pkiroll_store *s = im->s;
	char changes[2048] = "", reason[2300];
	const char *state, *to;
	sqlite3_int64 id;
	char *holder;
	int rc, p;

	sqlite3_reset(im->find);
	sqlite3_bind_text(im->find, 1, row->community, -1, SQLITE_STATIC);
	rc = sqlite3_step(im->find);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(im->find);
		return insert_new(im, row);
	}
	if (rc != SQLITE_ROW)
		return -1;

	/* Phase: an existing community; what changed? */
	id = sqlite3_column_int64(im->find, 0);
	if (sqlite3_column_type(im->find, 12) == SQLITE_NULL) {
		/* recorded before keystore directories were (schema 4) */
		char *ks = base_strdup(store_col_text(im->find, 13));

		sqlite3_reset(im->find);
		p = keystore_dir_assign(im, id, row, ks);
		free(ks);
		if (p != 0)
			return p;
		sqlite3_bind_text(im->find, 1, row->community, -1, SQLITE_STATIC);
		if (sqlite3_step(im->find) != SQLITE_ROW)
			return -1;
	}
	state = store_col_text(im->find, 10);
	to = state;
	if (!same(store_col_text(im->find, 1), row->reference)) {
		if ((holder = ref_holder(im, row->reference, id)) != NULL) {
			ctx_log(s->ctx, PKIROLL_LOG_ERROR,
				"%s:%lu: reference_number: already used by community \"%s\" in the "
				"store",
				im->path, row->line, holder);
			free(holder);
			sqlite3_reset(im->find);
			return 'x';
		}
		note_change(changes, sizeof(changes), "reference_number",
			    store_col_text(im->find, 1), row->reference);
		if (strcmp(state, "needs_codes") == 0)
			to = "pending"; /* new activation codes */
	}
	if (strcmp(state, "needs_codes") == 0 && to == state &&
	    sqlite3_column_bytes(im->find, 11) == CODE_HASH_LEN) {
		/* same reference number: has the authorization code changed? */
		unsigned char h[CODE_HASH_LEN];
		char code[512], why[256];

		if (manifest_resolve_code(row->authcode, im->insecure_code_files, code,
					  sizeof(code), why, sizeof(why)) == 0 &&
		    store_code_hash(code, sqlite3_column_blob(im->find, 11), h) == 0 &&
		    memcmp(h, sqlite3_column_blob(im->find, 11), CODE_HASH_LEN) != 0) {
			note_change(changes, sizeof(changes), "authorization_code", "refused",
				    "new");
			to = "pending";
		}
		OPENSSL_cleanse(code, sizeof(code));
	}
	diff_fields(im, row, changes, sizeof(changes));
	to = base_strdup(to);
	state = base_strdup(state);
	sqlite3_reset(im->find);
	if (to == NULL || state == NULL) {
		free((char *)to);
		free((char *)state);
		return -1;
	}

	/* Phase: write what changed. */
	rc = '=';
	if (changes[0] != '\0') {
		sqlite3_reset(im->update);
		bind_row(im->update, row);
		sqlite3_bind_text(im->update, 11, to, -1, SQLITE_STATIC);
		sqlite3_bind_int64(im->update, 12, id);
		if (sqlite3_step(im->update) != SQLITE_DONE)
			rc = -1;
		rc = rc < 0 ? -1 : 'u';
	}
	if (rc >= 0 && (p = sync_partners(im, id, row)) != 0) {
		if (p < 0)
			rc = -1;
		else {
			note_change(changes, sizeof(changes), "partners", "...", "...");
			rc = 'u';
		}
	}
	if (rc == 'u') {
		snprintf(reason, sizeof(reason), "%s:%lu: %s", im->path, row->line, changes);
		ctx_log(s->ctx, PKIROLL_LOG_INFO, "community \"%s\" updated: %s", row->community,
			changes);
		if (strcmp(state, "enrolled") == 0 && strstr(changes, "subject") != NULL)
			ctx_log(s->ctx, PKIROLL_LOG_WARN,
				"community \"%s\": the new subject applies from the next renewal",
				row->community);
		if (store_event_add(s, 0, id, state, to, reason) < 0)
			rc = -1;
	}
	free((char *)to);
	free((char *)state);
	return rc;
}

static void importer_free(struct importer *im)
{
	store_done(im->s, im->find);
	store_done(im->s, im->insert);
	store_done(im->s, im->update);
	store_done(im->s, im->find_ref);
	store_done(im->s, im->partner_add);
	store_done(im->s, im->link_add);
	store_done(im->s, im->links);
	store_done(im->s, im->link_del);
	store_done(im->s, im->ksdir_holder);
	store_done(im->s, im->ksdir_set);
}

static int importer_init(struct importer *im)
{
	struct pkiroll_store *s = im->s;

	im->find = store_prepare(
		s, "SELECT id, reference_number, subject, ca_profile, key_type,"
		   " enc_key_type, dual, email, notes, updated_at, state, code_hash,"
		   " keystore_dir, keystore, as2_id, cem_response_url FROM communities"
		   " WHERE name = ?");
	im->insert = store_prepare(
		s, "INSERT INTO communities (name, reference_number, subject, ca_profile,"
		   " key_type, enc_key_type, dual, email, notes, created_at, updated_at,"
		   " keystore_dir, as2_id, cem_response_url)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?13, ?14)");
	im->update =
		store_prepare(s, "UPDATE communities SET reference_number = ?2, subject = ?3,"
				 " ca_profile = ?4, key_type = ?5, enc_key_type = ?6, dual = ?7,"
				 " email = ?8, notes = ?9, updated_at = ?10, state = ?11,"
				 " as2_id = ?13, cem_response_url = ?14,"
				 " reason = CASE WHEN state = ?11 THEN reason ELSE 'new codes from "
				 "the manifest' END,"
				 " code_hash = CASE WHEN state = ?11 THEN code_hash ELSE NULL END"
				 " WHERE id = ?12 AND name = ?1");
	im->find_ref = store_prepare(
		s, "SELECT name FROM communities WHERE reference_number = ? AND id != ?");
	im->partner_add = store_prepare(
		s,
		"INSERT INTO partners (name, as2_id) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE"
		" SET as2_id = coalesce(excluded.as2_id, as2_id)");
	im->link_add = store_prepare(
		s, "INSERT INTO partner_communities (partner_id, community_id)"
		   " SELECT id, ?2 FROM partners WHERE name = ?1 ON CONFLICT DO NOTHING");
	im->links = store_prepare(
		s, "SELECT p.id, p.name FROM partner_communities pc"
		   " JOIN partners p ON p.id = pc.partner_id WHERE pc.community_id = ?");
	im->link_del = store_prepare(
		s, "DELETE FROM partner_communities WHERE partner_id = ? AND community_id = ?");
	im->ksdir_holder =
		store_prepare(s, "SELECT name FROM communities WHERE keystore_dir = ? AND id != ?");
	im->ksdir_set = store_prepare(s, "UPDATE communities SET keystore_dir = ? WHERE id = ?");
	return im->find && im->insert && im->update && im->find_ref && im->partner_add &&
			       im->link_add && im->links && im->link_del && im->ksdir_holder &&
			       im->ksdir_set
		       ? 0
		       : -1;
}

/* A name the manifest lists (for retire_missing). */
static int seen_name(struct pkiroll_store *s, const char *name)
{
	sqlite3_stmt *st = store_prepare(
		s, "INSERT INTO temp.import_seen (name) VALUES (?) ON CONFLICT DO NOTHING");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	store_done(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Retires every community the manifest no longer lists, each said in a
 * line. A manifest with bad rows retires nothing: a row that could not be
 * read may be the one that lists it.
 */
static long count_of(struct pkiroll_store *s, const char *sql)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	long n = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	store_done(s, st);
	return n;
}

static int retire_missing(struct pkiroll_store *s, const char *path,
			  const struct pkiroll_manifest_opts *opts,
			  struct pkiroll_import_stats *stats)
{
	sqlite3_stmt *st;
	char why[1100];
	long n, total, max;
	int rc;

	if (stats->bad > 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"--retire-missing: %lu bad row%s in %s; nothing retired (a bad row may be "
			"the one that lists a community)",
			stats->bad, stats->bad == 1 ? "" : "s", path);
		stats->retire_refused = 1;
		return 0;
	}
	/* Phase: a manifest that lists nobody is a mistake, not a plan */
	if (stats->added + stats->updated + stats->unchanged == 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"--retire-missing: %s has no good row; nothing retired (it would retire "
			"every community)",
			path);
		stats->retire_refused = 1;
		return 0;
	}
	n = count_of(s, "SELECT count(*) FROM communities WHERE state != 'retired' AND name NOT IN"
			" (SELECT name FROM temp.import_seen)");
	total = count_of(s, "SELECT count(*) FROM communities WHERE state != 'retired'");
	if (n < 0 || total < 0)
		return -1;
	max = opts->max_retire >= 0 ? opts->max_retire : total / 10 > 1 ? total / 10 : 1;
	if (n > max && !opts->force) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"--retire-missing: %ld of %ld communities are not in %s, more than the "
			"limit of %ld; nothing retired (--dry-run shows them; --max-retire N or "
			"--force to go on)",
			n, total, path, max);
		stats->retire_refused = 1;
		return 0;
	}
	if (opts->dry_run) {
		if ((st = store_prepare(s, "SELECT name FROM communities WHERE state != 'retired'"
					   " AND name NOT IN (SELECT name FROM temp.import_seen)"
					   " ORDER BY name")) == NULL)
			return -1;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			stats->retired++;
			ctx_log(s->ctx, PKIROLL_LOG_INFO, "would retire \"%s\": not in %s",
				(const char *)sqlite3_column_text(st, 0), path);
		}
		store_done(s, st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	snprintf(why, sizeof(why), "retired: no longer in %s (import --retire-missing)", path);
	for (;;) {
		sqlite3_int64 id;
		char name[256], from[32];

		if ((st = store_prepare(s, "SELECT id, name, state FROM communities"
					   " WHERE state != 'retired' AND name NOT IN"
					   " (SELECT name FROM temp.import_seen) ORDER BY name"
					   " LIMIT 1")) == NULL)
			return -1;
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			store_done(s, st);
			return rc == SQLITE_DONE ? 0 : -1;
		}
		id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, name, sizeof(name));
		store_col_copy(st, 2, from, sizeof(from));
		store_done(s, st);
		if (store_retire(s, 0, id, from, why) < 0)
			return -1;
		stats->retired++;
		ctx_log(s->ctx, PKIROLL_LOG_INFO, "community \"%s\" retired: not in %s", name,
			path);
	}
}

int pkiroll_store_import(pkiroll_store *s, const char *path,
			 const struct pkiroll_manifest_opts *opts,
			 struct pkiroll_import_stats *stats)
{
	return store_import(s, path, opts, stats, NULL);
}

int store_import(struct pkiroll_store *s, const char *path,
		 const struct pkiroll_manifest_opts *opts, struct pkiroll_import_stats *stats,
		 struct lineset *refused)
{
	struct importer im = {.s = s,
			      .path = path,
			      .insecure_code_files = opts != NULL && opts->insecure_code_files};
	const struct manifest_row *row;
	struct manifest *m = NULL;
	int err, r, u;

	memset(stats, 0, sizeof(*stats));
	if ((m = manifest_open(s->ctx, path, opts, &err)) == NULL)
		return err;
	err = PKIROLL_ERR_STORE;
	if (importer_init(&im) < 0 || store_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;

	if (opts != NULL && opts->retire_missing &&
	    store_exec(s, "CREATE TEMP TABLE IF NOT EXISTS import_seen (name TEXT PRIMARY KEY);"
			  "DELETE FROM temp.import_seen;") < 0)
		goto fail;
	/* Phase: every row in one transaction. */
	while ((r = manifest_next_row(m, &row)) > 0) {
		stats->rows++;
		if (opts != NULL && opts->retire_missing && !row->bad &&
		    seen_name(s, row->community) < 0)
			goto fail;
		if (row->bad) {
			stats->bad++;
			if (refused != NULL && base_lineset_add(refused, row->line) < 0)
				goto fail;
			continue;
		}
		switch ((u = upsert(&im, row))) {
		case 'a':
			stats->added++;
			break;
		case 'u':
			stats->updated++;
			break;
		case '=':
			stats->unchanged++;
			break;
		case 'x':
			stats->bad++;
			if (refused != NULL && base_lineset_add(refused, row->line) < 0)
				goto fail;
			break;
		default:
			store_sql_error(s, row->community);
			goto fail;
		}
	}
	if (r < 0) {
		err = manifest_error(m);
		store_exec(s, "ROLLBACK");
		goto out;
	}
	if (opts != NULL && opts->retire_missing && retire_missing(s, path, opts, stats) < 0)
		goto fail;
	if (opts != NULL && opts->dry_run) {
		/* the plan only */
		store_exec(s, "ROLLBACK");
		err = PKIROLL_OK;
		goto out;
	}
	if (store_exec(s, "COMMIT") < 0)
		goto out;
	err = PKIROLL_OK;
	goto out;
fail:
	store_exec(s, "ROLLBACK");
out:
	importer_free(&im);
	manifest_close(m);
	return err;
}
