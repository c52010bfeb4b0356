/*
 * The manifest's duplicate detector: which names and reference numbers a
 * file has shown so far, with their lines, in a private temporary SQLite
 * file (not the store) so memory stays flat however long the manifest.
 */
#ifndef PKIROLL_SEEN_H
#define PKIROLL_SEEN_H

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
