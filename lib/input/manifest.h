/*
 * The manifest: a CSV file with one community per row, read as a stream.
 */
#ifndef PKIROLL_MANIFEST_H
#define PKIROLL_MANIFEST_H

#include "base/base.h"

#define MANIFEST_MAX_FIELD 4096	  /* bytes in one field */
#define MANIFEST_MAX_NAME 255	  /* bytes in a community or partner name: the pipeline's bound */
#define MANIFEST_MAX_SUBJECT 1023 /* bytes of a subject DN as written back */

/* One validated row. Strings live until the next manifest_next_row(). */
struct manifest_row {
	unsigned long line; /* physical line where the row starts */
	int bad;	    /* an error was reported for this row */
	const char *community;
	const char *reference;
	const char *authcode; /* the code, or env:NAME / file:PATH */
	const char *subject;  /* normalised RFC 4514 string */
	const char *ca;	      /* NULL: default profile */
	const char *email;
	const char *notes;
	const char *as2_id;	      /* the community's AS2 name; NULL: its name */
	const char *cem_response_url; /* where partners answer CEM; NULL: the config's */
	int key_type;
	int enc_key_type;
	int dual;
	size_t npartners;
	const char *const *partners;
	const char *const *partner_as2; /* per partner: its AS2 id ("Name=AS2ID"), or NULL */
};

struct manifest;

/*
 * Opens a manifest and reads its header. Returns NULL with *err set on a
 * fatal problem (logged). The result is the caller's to close.
 */
struct manifest *manifest_open(pkiroll_ctx *ctx, const char *path,
			       const struct pkiroll_manifest_opts *opts, int *err);

/*
 * Reads the next row. Returns 1 with *row set (check row->bad), 0 at the
 * end, -1 on a fatal error or a --strict stop (see manifest_error()).
 */
int manifest_next_row(struct manifest *m, const struct manifest_row **row);

/* The pkiroll_err of the last -1 from manifest_next_row(). */
int manifest_error(const struct manifest *m);

/* Counters so far. */
void manifest_stats(const struct manifest *m, struct pkiroll_manifest_stats *stats);

void manifest_close(struct manifest *m);

/*
 * Reads rows without validating them again (a second pass over a file
 * that was validated already): only the structure, and the community,
 * reference, authorization_code and ca fields; nothing is reported.
 */
void manifest_set_raw(struct manifest *m);

/* Rows and bad rows so far. */
void manifest_stats_rows(const struct manifest *m, unsigned long *rows, unsigned long *bad);

/*
 * The authorization code a manifest value stands for: the value itself, or
 * the content of env:NAME or file:PATH (its first line). The code goes to
 * out (the caller cleanses it after use). A code file must be a regular
 * file that only its owner can read, unless insecure_files is set. Returns
 * 0, or -1 with err set (never containing the code).
 */
int manifest_resolve_code(const char *value, int insecure_files, char *out, size_t outlen,
			  char *err, size_t errlen);

/* Did a manifest in this process name the environment variable name (its
 * first len bytes) as a code source (env:NAME)? 1 or 0. */
int manifest_code_env_named(const char *name, size_t len);

#endif
