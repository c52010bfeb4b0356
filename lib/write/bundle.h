/*
 * Partner bundles: the fingerprint sheets of one partner's zip.
 */
#ifndef PKIROLL_BUNDLE_H
#define PKIROLL_BUNDLE_H

#include <stdio.h>

#include "store/store_bundle.h"

/* The fingerprint sheet as text and as a printable HTML page, written to f
 * (the sheets of a large partner are written as they are made, never held
 * whole in memory). 0, or -1 when f reports an error. */
int sheet_text(const struct bundle_partner *p, FILE *f);
int sheet_html(const struct bundle_partner *p, FILE *f);

/* The sheet for machines: CSV (RFC 4180), one row per certificate, values
 * that a spreadsheet would run as a formula neutralised. 0 or -1. */
int sheet_csv(const struct bundle_partner *p, FILE *f);

/* README.txt: what each file of the zip is and how to check it. */
int sheet_readme(const struct bundle_partner *p, FILE *f);

#endif
