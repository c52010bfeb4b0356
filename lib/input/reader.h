/*
 * The manifest reader's state, shared by the CSV reader (csv.c) and row
 * validation (manifest.c). Private to lib/input.
 */
#ifndef PKIROLL_INPUT_READER_H
#define PKIROLL_INPUT_READER_H

#include <csv.h>

#include "input/manifest.h"
#include "input/seen.h"

#define MAX_LINE (256 * 1024)	/* one physical line */
#define MAX_RECORD (512 * 1024) /* lines kept for recovery */
#define MAX_FIELDS 64
#define MAX_PARTNERS 256
#define LIBCSV_FIELD_BEGUN 2 /* libcsv's pstate inside a field */

enum col {
	COL_COMMUNITY = 0,
	COL_REFERENCE,
	COL_AUTHCODE,
	COL_PARTNERS,
	COL_SUBJECT,
	COL_CA,
	COL_KEY_TYPE,
	COL_ENC_KEY_TYPE,
	COL_DUAL,
	COL_EMAIL,
	COL_NOTES,
	COL_AS2_ID,
	COL_CEM_URL,
	COL__MAX
};

extern const char *const csv_col_names[COL__MAX];

struct field {
	char *data; /* NUL-terminated copy, NULL when the field was bad */
	size_t len;
	int bad; /* reported already */
};

struct manifest {
	pkiroll_ctx *ctx;
	char *path;
	FILE *fp;
	struct pkiroll_manifest_opts opts;
	struct csv_parser csv;
	int csv_ready;
	int err;

	/* header */
	int header_done;
	int ncols;
	int colmap[MAX_FIELDS]; /* file column -> enum col, or -1 */

	/* input lines */
	char *line;
	size_t linelen;
	unsigned long lineno;
	int eof;
	char *replay; /* lines to parse again after a recovery */
	size_t replay_len, replay_pos;
	unsigned long replay_lineno;

	/* the record being parsed */
	int at_boundary;
	unsigned long row_start;
	char *rec;
	size_t rec_len;
	int rec_overflow;
	struct field fields[MAX_FIELDS];
	int nfields;
	int row_done;
	int row_bad;
	int row_broken; /* structure unknown: no field checks */

	/* the row handed out */
	struct manifest_row row;
	char *subject;
	const char *partners[MAX_PARTNERS];
	const char *partner_as2[MAX_PARTNERS]; /* "Name=AS2ID": the AS2 id, else NULL */
	char *partner_buf;

	struct seen *seen;
	int raw; /* manifest_set_raw() */
	struct pkiroll_manifest_stats stats;
};

/* Reports a row error (FILE:LINE: column: reason) and marks the row bad. */
void csv_row_error(struct manifest *m, const char *col, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Reports a row warning. */
void csv_row_warn(struct manifest *m, const char *col, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Name of file column i for messages. */
const char *csv_col_label(const struct manifest *m, int i);
/* Frees the current record's fields. */
void csv_clear_fields(struct manifest *m);
void csv_parser_free(struct manifest *m);
/* The next record into m->fields: 1, 0 at the end, -1 on error. */
int csv_next_record(struct manifest *m);

#endif
