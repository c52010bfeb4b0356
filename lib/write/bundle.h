/*
 * Partner bundles: the fingerprint sheets of one partner's zip.
 */
#ifndef PKIROLL_BUNDLE_H
#define PKIROLL_BUNDLE_H

#include "store/store_bundle.h"

/* The fingerprint sheet as text and as a printable HTML page, into a new
 * buffer (*out, the caller frees). 0 or -1. */
int sheet_text(const struct bundle_partner *p, char **out, size_t *len);
int sheet_html(const struct bundle_partner *p, char **out, size_t *len);

/* The sheet for machines: CSV (RFC 4180), one row per certificate, values
 * that a spreadsheet would run as a formula neutralised. 0 or -1. */
int sheet_csv(const struct bundle_partner *p, char **out, size_t *len);

/* README.txt: what each file of the zip is and how to check it. */
int sheet_readme(const struct bundle_partner *p, char **out, size_t *len);

#endif
