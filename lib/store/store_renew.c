/*
 * Renewal selection: the renew-after date of each enrolled community.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_renew.h"

/* FNV-1a: stable across runs and machines, which is all the spread needs. */
static unsigned long long name_hash(const char *name)
{
	unsigned long long h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

long long store_renew_after(const char *name, long long not_before, long long not_after,
			    const struct pkiroll_window *w, int spread)
{
	long long win = w->pct > 0 ? (not_after - not_before) * w->pct / 100 : w->secs;
	long long off = 0;

	if (win < 0)
		win = 0;
	if (spread && win / 2 > 0)
		off = (long long)(name_hash(name) % (unsigned long long)(win / 2));
	return not_after - win + off;
}

static int by_date(const void *a, const void *b)
{
	const struct renew_due *x = a, *y = b;

	/* interrupted ones first: they were due before */
	if (x->resume != y->resume)
		return y->resume - x->resume;
	return x->renew_after < y->renew_after ? -1 : x->renew_after > y->renew_after;
}

static int is_forced(const char *name, const char *const *forced, int nforced)
{
	for (int i = 0; i < nforced; i++)
		if (strcmp(forced[i], name) == 0)
			return 1;
	return 0;
}

int store_renew_due(struct pkiroll_store *s, long long now, const struct pkiroll_window *w,
		    int spread, const char *const *forced, int nforced, unsigned long limit,
		    struct renew_due **out, size_t *n)
{
	/* the earliest current certificate decides; bare columns follow min() */
	sqlite3_stmt *st = store_prepare(
		s, "SELECT c.name, c.state, coalesce(c.next_attempt_at, 0), min(x.not_after),"
		   " x.not_before FROM communities c JOIN certificates x ON x.community_id = c.id"
		   " AND x.superseded_by IS NULL WHERE c.state IN ('enrolled', 'renewing')"
		   " GROUP BY c.id");
	struct renew_due *v = NULL;
	size_t cap = 0, cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = store_col_text(st, 0);
		int renewing = strcmp(store_col_text(st, 1), "renewing") == 0;
		long long next = sqlite3_column_int64(st, 2);
		long long after = store_renew_after(name, sqlite3_column_int64(st, 4),
						    sqlite3_column_int64(st, 3), w, spread);
		int force = nforced > 0 && is_forced(name, forced, nforced);

		if (nforced > 0 && !force && !renewing)
			continue; /* --community names the ones to renew */
		if (!renewing && !force && (now < after || (next > 0 && now < next)))
			continue;
		if (BASE_GROW(v, cap, cnt + 1) < 0) {
			free(v);
			store_done(s, st);
			return -1;
		}
		memset(&v[cnt], 0, sizeof(v[cnt]));
		store_col_copy(st, 0, v[cnt].name, sizeof(v[cnt].name));
		v[cnt].renew_after = after;
		v[cnt].not_after = sqlite3_column_int64(st, 3);
		v[cnt].resume = renewing;
		v[cnt].forced = force;
		cnt++;
	}
	store_done(s, st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, "renewal selection");
		free(v);
		return -1;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), by_date);
	if (limit > 0 && cnt > limit)
		cnt = limit;
	*out = v;
	*n = cnt;
	return 0;
}
