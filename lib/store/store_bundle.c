/*
 * What partner bundles read from the store and record in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "store/store_bundle.h"

void store_bundle_cert_clear(struct bundle_cert *c)
{
	free(c->subject);
	free(c->issuer);
	free(c->serial);
	memset(c, 0, sizeof(*c));
}

void store_bundle_partner_clear(struct bundle_partner *p)
{
	for (size_t i = 0; i < p->ncomm; i++)
		for (int k = 0; k < p->comm[i].ncert; k++)
			store_bundle_cert_clear(&p->comm[i].cert[k]);
	for (size_t i = 0; i < p->ncomm; i++) {
		for (int k = 0; k < p->comm[i].nprev; k++)
			store_bundle_cert_clear(&p->comm[i].prev[k]);
		free(p->comm[i].prev);
		free(p->comm[i].cert);
		free(p->comm[i].dir);
		free(p->comm[i].name);
		free(p->comm[i].as2_id);
	}
	for (size_t i = 0; i < p->nca; i++) {
		free(p->ca[i].der);
		free(p->ca[i].subject);
	}
	free(p->comm);
	free(p->ca);
	memset(p, 0, sizeof(*p));
}

/* Adds the CA certificates above one certificate, skipping known ones. */
static int chain_add(struct pkiroll_store *s, struct bundle_partner *p, long long cert_id)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT ca.der, ca.subject, ca.sha256"
					    " FROM certificate_chain cc JOIN ca_certificates ca"
					    " ON ca.id = cc.ca_certificate_id"
					    " WHERE cc.certificate_id = ? ORDER BY cc.position");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cert_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(st, 2);
		struct bundle_ca *ca;
		size_t i;

		for (i = 0; i < p->nca; i++)
			if (sha != NULL && strcmp(p->ca[i].fp.sha256, sha) == 0)
				break;
		if (i < p->nca)
			continue;
		if (BASE_GROW(p->ca, p->capca, p->nca + 1) < 0)
			break;
		ca = &p->ca[p->nca];
		memset(ca, 0, sizeof(*ca));
		if ((ca->der = store_col_blob_dup(st, 0, &ca->len)) == NULL ||
		    (ca->subject = store_col_dup(st, 1)) == NULL ||
		    pkiroll_fingerprints(ca->der, ca->len, &ca->fp) != PKIROLL_OK) {
			free(ca->der);
			free(ca->subject);
			break;
		}
		p->nca++;
	}
	store_done(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* A certificate from columns 1..9 (id, usage, der, serial, issuer, subject,
 * not_before, not_after, key_type). 0 or -1. */
static int cert_fill(sqlite3_stmt *st, struct bundle_cert *x)
{
	x->id = sqlite3_column_int64(st, 1);
	store_col_copy(st, 2, x->usage, sizeof(x->usage));
	x->not_before = (time_t)sqlite3_column_int64(st, 7);
	x->not_after = (time_t)sqlite3_column_int64(st, 8);
	store_col_copy(st, 9, x->key_type, sizeof(x->key_type));
	if (sqlite3_column_bytes(st, 3) <= 0 ||
	    certinfo_digests(sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3),
			     &x->dg) < 0 ||
	    (x->serial = store_col_dup(st, 4)) == NULL ||
	    (x->issuer = store_col_dup(st, 5)) == NULL ||
	    (x->subject = store_col_dup(st, 6)) == NULL) {
		store_bundle_cert_clear(x);
		return -1;
	}
	return 0;
}

/* The certificate that cur replaced: its serial into cur->replaces, and
 * the certificate itself into c->prev while it is still valid at now. */
static int prev_load(struct pkiroll_store *s, struct bundle_community *c, struct bundle_cert *cur,
		     time_t now)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT '', y.id, y.usage, y.der, y.serial, y.issuer, y.subject, y.not_before,"
		   " y.not_after, coalesce(y.key_type, '')"
		   " FROM certificates y WHERE y.superseded_by = ? AND y.revoked_at IS NULL"
		   " ORDER BY y.id DESC LIMIT 1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cur->id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_col_copy(st, 4, cur->replaces, sizeof(cur->replaces));
		if ((time_t)sqlite3_column_int64(st, 8) > now && c->nprev < 2) {
			if (c->prev == NULL && (c->prev = calloc(2, sizeof(*c->prev))) == NULL)
				rc = SQLITE_NOMEM;
			else if (cert_fill(st, &c->prev[c->nprev]) == 0)
				c->nprev++;
		}
	}
	store_done(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_bundle_partner_load(struct pkiroll_store *s, struct bundle_partner *p, time_t now)
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT c.name, x.id, x.usage, x.der, x.serial, x.issuer, x.subject,"
		   " x.not_before, x.not_after, coalesce(x.key_type, ''),"
		   " coalesce(c.as2_id, '')"
		   " FROM partner_communities pc JOIN communities c ON c.id = pc.community_id"
		   " LEFT JOIN certificates x ON x.community_id = c.id AND x.superseded_by IS NULL"
		   " AND x.not_after > ?2 AND x.revoked_at IS NULL"
		   " WHERE pc.partner_id = ?1 AND c.state != 'retired'"
		   " ORDER BY c.name, x.usage DESC, x.id");
	struct bundle_community *c = NULL;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		struct bundle_cert *x;

		if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
			p->nmissing++;
			continue;
		}
		if (c == NULL || strcmp(c->name, name) != 0) {
			if (BASE_GROW(p->comm, p->capcomm, p->ncomm + 1) < 0)
				break;
			c = &p->comm[p->ncomm];
			memset(c, 0, sizeof(*c));
			if ((c->name = store_col_dup(st, 0)) == NULL ||
			    (c->as2_id = store_col_dup(st, 10)) == NULL) {
				free(c->name);
				break;
			}
			p->ncomm++;
		}
		if (c->ncert == 2)
			continue; /* one current certificate per usage */
		if ((x = realloc(c->cert, (size_t)(c->ncert + 1) * sizeof(*x))) == NULL)
			break;
		c->cert = x;
		x = &c->cert[c->ncert];
		memset(x, 0, sizeof(*x));
		if (cert_fill(st, x) < 0)
			break;
		c->ncert++;
		if (x->not_before > p->mtime)
			p->mtime = x->not_before;
	}
	store_done(s, st);
	if (rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < p->ncomm; i++)
		for (int k = 0; k < p->comm[i].ncert; k++)
			if (chain_add(s, p, p->comm[i].cert[k].id) < 0 ||
			    prev_load(s, &p->comm[i], &p->comm[i].cert[k], now) < 0)
				return -1;
	return 0;
}

int store_bundle_cert_der(struct pkiroll_store *s, long long id, unsigned char **der, size_t *len)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT der FROM certificates WHERE id = ?");
	int rc;

	*der = NULL;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*der = store_col_blob_dup(st, 0, len);
	else if (rc == SQLITE_DONE)
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "store %s: certificate %lld is no longer there",
			s->path, id);
	else
		store_sql_error(s, "a certificate's DER");
	store_done(s, st);
	return *der != NULL ? 0 : -1;
}

int store_bundle_stale(struct pkiroll_store *s, long long partner_id)
{
	/* stale: the last bundle holds a certificate replaced or revoked since
	 * (each entry looked up in the small index of such certificates, not in
	 * the certificates), or one of a community retired since (from the few
	 * retired communities to their certificates to the bundle) */
	sqlite3_stmt *st = store_prepare(
		s, "SELECT EXISTS (SELECT 1 FROM bundle_certificates bc"
		   " WHERE bc.bundle_id = (SELECT max(id) FROM bundles WHERE partner_id = ?1)"
		   " AND EXISTS (SELECT 1 FROM certificates d INDEXED BY certificates_dead"
		   "  WHERE d.id = bc.certificate_id"
		   "  AND (d.superseded_by IS NOT NULL OR d.revoked_at IS NOT NULL)))"
		   " OR EXISTS (SELECT 1 FROM communities c CROSS JOIN certificates k"
		   "  ON k.community_id = c.id CROSS JOIN bundle_certificates b2"
		   "  ON b2.certificate_id = k.id"
		   "  AND b2.bundle_id = (SELECT max(id) FROM bundles WHERE partner_id = ?1)"
		   "  WHERE c.state = 'retired')");
	int rc, v = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, partner_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	store_done(s, st);
	return v;
}

int store_bundle_last_sha(struct pkiroll_store *s, long long partner_id, const char *path,
			  char out[65])
{
	sqlite3_stmt *st = store_prepare(
		s, "SELECT sha256 FROM bundles WHERE partner_id = ? AND path = ? ORDER BY id DESC"
		   " LIMIT 1");

	out[0] = '\0';
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, partner_id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		store_col_copy(st, 0, out, 65);
	store_done(s, st);
	return 0;
}

int store_bundle_record(struct pkiroll_store *s, const struct bundle_partner *p, const char *path,
			const char *sha)
{
	sqlite3_stmt *st;
	sqlite3_int64 bid;
	int ok = 0;

	if (store_exec(s, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((st = store_prepare(s, "INSERT INTO bundles (partner_id, path, sha256, created_at)"
				   " VALUES (?, ?, ?, ?)")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, p->id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	ok = sqlite3_step(st) == SQLITE_DONE;
	store_done(s, st);
	bid = sqlite3_last_insert_rowid(s->db);
	for (size_t i = 0; ok && i < p->ncomm; i++)
		for (int k = 0; ok && k < p->comm[i].ncert; k++) {
			if ((st = store_prepare(s, "INSERT INTO bundle_certificates"
						   " (bundle_id, certificate_id) VALUES (?, ?)"
						   " ON CONFLICT DO NOTHING")) == NULL) {
				ok = 0;
				break;
			}
			sqlite3_bind_int64(st, 1, bid);
			sqlite3_bind_int64(st, 2, p->comm[i].cert[k].id);
			ok = sqlite3_step(st) == SQLITE_DONE;
			store_done(s, st);
		}
out:
	return store_end(s, ok, "bundle");
}

int store_bundle_partners(struct pkiroll_store *s, struct store_partner **out, size_t *nout)
{
	sqlite3_stmt *st = store_prepare(s, "SELECT id, name FROM partners ORDER BY id");
	struct store_partner *list = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (BASE_GROW(list, cap, n + 1) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		memset(&list[n], 0, sizeof(list[n]));
		list[n].id = sqlite3_column_int64(st, 0);
		store_col_copy(st, 1, list[n].name, sizeof(list[n].name));
		n++;
	}
	store_done(s, st);
	if (rc != SQLITE_DONE) {
		free(list);
		store_sql_error(s, "partners");
		return -1;
	}
	*out = list;
	*nout = n;
	return 0;
}
