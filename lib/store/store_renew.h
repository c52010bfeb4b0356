/*
 * The store's side of renewal: which enrolled communities are due, and
 * when each one is.
 */
#ifndef PKIROLL_STORE_RENEW_H
#define PKIROLL_STORE_RENEW_H

#include "store/store.h"

/*
 * When a certificate valid from not_before to not_after is renewed: the
 * start of its window before not_after, plus a stable offset inside the
 * window's first half, derived from the community's name, so that a fleet
 * enrolled on one day renews over several nights. spread 0: no offset.
 */
long long store_renew_after(const char *name, long long not_before, long long not_after,
			    const struct pkiroll_window *w, int spread);

/* One community due for renewal. */
struct renew_due {
	char name[256];
	long long renew_after; /* its renew-after date */
	long long not_after;   /* the earliest current certificate's */
	int resume;	       /* an interrupted renewal (state renewing) */
	int forced;	       /* named by --community */
};

/*
 * The communities due at now: enrolled ones whose earliest current
 * certificate is past its renew-after date (and past the backoff of a
 * failed renewal), interrupted renewals, and the forced names (whatever
 * their dates; one not enrolled is reported and left out). Earliest
 * first, at most limit (0: all). *out is malloc'd. 0, or -1 on error.
 */
int store_renew_due(struct pkiroll_store *s, long long now, const struct pkiroll_window *w,
		    int spread, const char *const *forced, int nforced, unsigned long limit,
		    struct renew_due **out, size_t *n);

#endif
