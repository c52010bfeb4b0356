/*
 * The manifest's CSV reader on libcsv. Lines are fed to the parser one at a
 * time so every row knows the physical line it starts on; the lines of the
 * current record are kept (bounded) so that an unbalanced quote can be
 * reported for its row and the lines after it parsed again. Row validation
 * is manifest.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "input/reader.h"

const char *const csv_col_names[COL__MAX] = {
	"community", "reference_number", "authorization_code",	"partners", "subject",
	"ca",	     "key_type",	 "encryption_key_type", "dual",	    "email",
	"notes",     "as2_id",		 "cem_response_url",
};

/* "FILE:LINE: column: [warning: ]text" at level. */
static void report(struct manifest *m, enum pkiroll_level level, const char *col, const char *fmt,
		   va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	ctx_log(m->ctx, level, "%s:%lu: %s%s%s%s", m->path, m->row_start, col ? col : "",
		col ? ": " : "", level == PKIROLL_LOG_WARN ? "warning: " : "", buf);
}

void csv_row_error(struct manifest *m, const char *col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(m, PKIROLL_LOG_ERROR, col, fmt, ap);
	va_end(ap);
	m->row_bad = 1;
}

void csv_row_warn(struct manifest *m, const char *col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(m, PKIROLL_LOG_WARN, col, fmt, ap);
	va_end(ap);
	m->stats.warnings++;
}

/* Name of file column i for messages. */
const char *csv_col_label(const struct manifest *m, int i)
{
	static char buf[32];

	if (!m->header_done)
		return "header";
	if (i < m->ncols && i < MAX_FIELDS && m->colmap[i] >= 0)
		return csv_col_names[m->colmap[i]];
	snprintf(buf, sizeof(buf), "column %d", i + 1);
	return buf;
}

void csv_clear_fields(struct manifest *m)
{
	for (int i = 0; i < m->nfields && i < MAX_FIELDS; i++) {
		if (m->fields[i].data != NULL) {
			OPENSSL_cleanse(m->fields[i].data, m->fields[i].len);
			free(m->fields[i].data);
		}
		m->fields[i].data = NULL;
		m->fields[i].len = 0;
		m->fields[i].bad = 0;
	}
	m->nfields = 0;
}

/* libcsv field callback. */
static void on_field(void *s, size_t len, void *arg)
{
	struct manifest *m = arg;
	int i = m->nfields++;

	if (i >= MAX_FIELDS)
		return;
	m->fields[i].bad = 1;
	if (len > MANIFEST_MAX_FIELD) {
		csv_row_error(m, csv_col_label(m, i), "field longer than 4 KiB (%zu bytes)", len);
		return;
	}
	if (s != NULL && memchr(s, '\0', len) != NULL) {
		csv_row_error(m, csv_col_label(m, i), "NUL byte in field");
		return;
	}
	if (s != NULL && !base_utf8_valid(s, len)) {
		csv_row_error(m, csv_col_label(m, i), "invalid UTF-8");
		return;
	}
	if ((m->fields[i].data = malloc(len + 1)) == NULL) {
		m->err = PKIROLL_ERR_NOMEM;
		return;
	}
	if (len > 0)
		memcpy(m->fields[i].data, s, len);
	m->fields[i].data[len] = '\0';
	m->fields[i].len = len;
	m->fields[i].bad = 0;
}

/* libcsv row callback. */
static void on_row(int c, void *arg)
{
	struct manifest *m = arg;

	(void)c;
	m->row_done = 1;
	m->at_boundary = 1;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\r';
}

static int is_term(unsigned char c)
{
	return c == '\n';
}

void csv_parser_free(struct manifest *m)
{
	if (!m->csv_ready)
		return;
	if (m->csv.entry_buf != NULL)
		OPENSSL_cleanse(m->csv.entry_buf, m->csv.entry_size);
	csv_free(&m->csv);
	m->csv_ready = 0;
}

static int parser_reset(struct manifest *m)
{
	csv_parser_free(m);
	if (csv_init(&m->csv, CSV_STRICT) != 0)
		return -1;
	m->csv_ready = 1;
	csv_set_delim(&m->csv, (unsigned char)m->opts.delimiter);
	csv_set_space_func(&m->csv, is_space);
	csv_set_term_func(&m->csv, is_term);
	return 0;
}

/* A row given up after its error was reported: the parser starts afresh
 * at the next line. 1 (a row, broken), or -1. */
static int row_abandoned(struct manifest *m)
{
	m->row_broken = 1;
	if (parser_reset(m) < 0)
		return -1;
	m->row_done = 1;
	m->at_boundary = 1;
	return 1;
}

/*
 * Reads one physical line (with its newline) into m->line, from the replay
 * buffer first. Returns 1, 0 at EOF, -1 when the line is longer than
 * MAX_LINE (the rest of it is skipped).
 */
static int read_line(struct manifest *m)
{
	int c, toolong = 0;

	m->linelen = 0;
	if (m->replay != NULL && m->replay_pos < m->replay_len) {
		char *nl = memchr(m->replay + m->replay_pos, '\n', m->replay_len - m->replay_pos);
		size_t n = nl ? (size_t)(nl - (m->replay + m->replay_pos)) + 1
			      : m->replay_len - m->replay_pos;

		memcpy(m->line, m->replay + m->replay_pos, n);
		m->linelen = n;
		m->replay_pos += n;
		m->lineno = m->replay_lineno++;
		if (m->replay_pos == m->replay_len) {
			free(m->replay);
			m->replay = NULL;
		}
		return 1;
	}
	if (m->eof)
		return 0;
	while ((c = getc_unlocked(m->fp)) != EOF) {
		if (m->linelen < MAX_LINE)
			m->line[m->linelen++] = (char)c;
		else
			toolong = 1;
		if (c == '\n')
			break;
	}
	if (c == EOF) {
		m->eof = 1;
		if (ferror(m->fp)) {
			ctx_log(m->ctx, PKIROLL_LOG_ERROR, "%s: read: %s", m->path,
				strerror(errno));
			m->err = PKIROLL_ERR_IO;
			return 0;
		}
		if (m->linelen == 0)
			return 0;
	}
	m->lineno++;
	return toolong ? -1 : 1;
}

static void rec_append(struct manifest *m)
{
	if (m->rec_overflow)
		return;
	if (m->rec_len + m->linelen > MAX_RECORD) {
		m->rec_overflow = 1;
		return;
	}
	memcpy(m->rec + m->rec_len, m->line, m->linelen);
	m->rec_len += m->linelen;
}

/*
 * The record starting at row_start has a quote that does not close on its
 * line (why says how that showed): report it, then parse every line after
 * its first one again, so the rows it swallowed are read.
 */
static int recover_unbalanced(struct manifest *m, const char *why)
{
	char *first_nl = memchr(m->rec, '\n', m->rec_len);
	size_t skip = first_nl ? (size_t)(first_nl - m->rec) + 1 : m->rec_len;

	csv_row_error(m, csv_col_label(m, m->nfields), "unbalanced quote (%s)", why);
	m->row_broken = 1;
	if (parser_reset(m) < 0)
		return -1;
	if (m->rec_overflow) {
		ctx_log(m->ctx, PKIROLL_LOG_ERROR,
			"%s:%lu: the unbalanced quote swallowed more than %d KiB; "
			"lines up to %lu are skipped",
			m->path, m->row_start, MAX_RECORD / 1024, m->lineno);
	} else if (m->rec_len > skip) {
		size_t n = m->rec_len - skip;
		size_t left = m->replay ? m->replay_len - m->replay_pos : 0;
		char *r = malloc(n + left);

		if (r == NULL)
			return -1;
		memcpy(r, m->rec + skip, n);
		if (left > 0)
			memcpy(r + n, m->replay + m->replay_pos, left);
		free(m->replay);
		m->replay = r;
		m->replay_len = n + left;
		m->replay_pos = 0;
		m->replay_lineno = m->row_start + 1;
	}
	m->row_done = 1;
	m->at_boundary = 1;
	return 0;
}

/*
 * Feeds lines until one record is complete. Returns 1 with the record in
 * m->fields, 0 at the end of input, -1 on a fatal error.
 */
int csv_next_record(struct manifest *m)
{
	csv_clear_fields(m);
	m->row_done = 0;
	m->row_bad = 0;
	m->row_broken = 0;
	while (!m->row_done) {
		int r = read_line(m);
		size_t skip;

		if (m->err)
			return -1;
		if (r == 0) {
			if (m->at_boundary)
				return 0;
			/* end of input inside a record */
			if (m->csv.quoted && m->csv.pstate == LIBCSV_FIELD_BEGUN) {
				if (recover_unbalanced(m, "the quoted field never closes") < 0)
					return -1;
			} else if (csv_fini(&m->csv, on_field, on_row, m) != 0) {
				csv_row_error(m, NULL, "malformed quoting at the end of the file");
				m->row_done = 1;
				m->row_broken = 1;
			}
			m->at_boundary = 1;
			return 1;
		}
		if (m->at_boundary) {
			const char *p = m->line;

			if (r > 0 && (m->linelen == 1 || (m->linelen == 2 && p[0] == '\r')))
				continue; /* blank line between records */
			m->at_boundary = 0;
			m->row_start = m->lineno;
			m->rec_len = 0;
			m->rec_overflow = 0;
		}
		if (r < 0) {
			csv_row_error(m, NULL, "line longer than %d KiB", MAX_LINE / 1024);
			return row_abandoned(m);
		}
		rec_append(m);
		skip = m->lineno == 1 && m->linelen >= 3 && memcmp(m->line, "\xef\xbb\xbf", 3) == 0
			       ? 3
			       : 0;
		if (csv_parse(&m->csv, m->line + skip, m->linelen - skip, on_field, on_row, m) !=
		    m->linelen - skip) {
			if (m->err)
				return -1;
			/*
			 * Strict mode: a quote where RFC 4180 allows none. On
			 * a later line of the record it is the next row's
			 * quote closing a field this row left open.
			 */
			if (m->lineno > m->row_start) {
				char why[96];

				snprintf(why, sizeof(why),
					 "the quoted field opened here runs into line %lu",
					 m->lineno);
				return recover_unbalanced(m, why) < 0 ? -1 : 1;
			}
			csv_row_error(m, csv_col_label(m, m->nfields),
				      "stray or unbalanced quote (RFC 4180 2.5-2.7)");
			return row_abandoned(m);
		}
		if (m->err)
			return -1;
		if (!m->row_done && m->csv.quoted && m->csv.pstate == LIBCSV_FIELD_BEGUN &&
		    m->csv.entry_pos > MANIFEST_MAX_FIELD) {
			/* a quoted field this long is an unclosed quote */
			if (recover_unbalanced(m, "the quoted field never closes") < 0)
				return -1;
		}
	}
	return 1;
}

static char detect_delimiter(const char *line, size_t len)
{
	size_t n[3] = {0, 0, 0};
	int quoted = 0;

	for (size_t i = 0; i < len; i++) {
		if (line[i] == '"')
			quoted = !quoted;
		else if (!quoted && line[i] == ',')
			n[0]++;
		else if (!quoted && line[i] == ';')
			n[1]++;
		else if (!quoted && line[i] == '\t')
			n[2]++;
	}
	if (n[2] > n[0] && n[2] >= n[1])
		return '\t';
	if (n[1] > n[0])
		return ';';
	return ',';
}

static int read_header(struct manifest *m)
{
	int seen[COL__MAX] = {0};
	int r, c;

	/* Phase: find the delimiter from the first line. */
	if (m->opts.delimiter == 0) {
		r = read_line(m);
		if (r <= 0) {
			ctx_log(m->ctx, PKIROLL_LOG_ERROR, "%s:1: header: %s", m->path,
				r == 0 ? "empty file, a header row is required"
				       : "header line too long");
			return PKIROLL_ERR_MANIFEST;
		}
		m->opts.delimiter = detect_delimiter(m->line, m->linelen);
		/* parse this line again through the normal path */
		if ((m->replay = malloc(m->linelen)) == NULL)
			return PKIROLL_ERR_NOMEM;
		memcpy(m->replay, m->line, m->linelen);
		m->replay_len = m->linelen;
		m->replay_pos = 0;
		m->replay_lineno = 1;
	}
	if (parser_reset(m) < 0)
		return PKIROLL_ERR_NOMEM;

	/* Phase: map the header's names to columns. */
	r = csv_next_record(m);
	if (r < 0)
		return m->err ? m->err : PKIROLL_ERR_MANIFEST;
	if (r == 0 || m->row_bad || m->nfields == 0) {
		ctx_log(m->ctx, PKIROLL_LOG_ERROR, "%s:%lu: header: %s", m->path,
			m->row_start ? m->row_start : 1,
			r == 0 ? "empty file, a header row is required" : "unreadable header row");
		return PKIROLL_ERR_MANIFEST;
	}
	if (m->nfields > MAX_FIELDS) {
		ctx_log(m->ctx, PKIROLL_LOG_ERROR, "%s:%lu: header: more than %d columns", m->path,
			m->row_start, MAX_FIELDS);
		return PKIROLL_ERR_MANIFEST;
	}
	m->ncols = m->nfields;
	for (int i = 0; i < m->ncols; i++) {
		const char *name = m->fields[i].data;

		m->colmap[i] = -1;
		for (c = 0; c < COL__MAX; c++)
			if (base_ascii_casecmp(name, csv_col_names[c]) == 0)
				break;
		if (c == COL__MAX) {
			ctx_log(m->ctx, PKIROLL_LOG_WARN,
				"%s:%lu: header: warning: unknown column \"%s\" is ignored",
				m->path, m->row_start, name);
			m->stats.warnings++;
			continue;
		}
		if (seen[c]++) {
			ctx_log(m->ctx, PKIROLL_LOG_ERROR,
				"%s:%lu: header: column \"%s\" appears twice", m->path,
				m->row_start, csv_col_names[c]);
			return PKIROLL_ERR_MANIFEST;
		}
		m->colmap[i] = c;
	}
	for (c = COL_COMMUNITY; c <= COL_AUTHCODE; c++) {
		if (!seen[c]) {
			ctx_log(m->ctx, PKIROLL_LOG_ERROR,
				"%s:%lu: header: required column \"%s\" is missing", m->path,
				m->row_start, csv_col_names[c]);
			return PKIROLL_ERR_MANIFEST;
		}
	}
	m->header_done = 1;
	return PKIROLL_OK;
}

struct manifest *manifest_open(pkiroll_ctx *ctx, const char *path,
			       const struct pkiroll_manifest_opts *opts, int *err)
{
	struct manifest *m = calloc(1, sizeof(*m));
	char why[1200];
	int enoent;

	*err = PKIROLL_ERR_NOMEM;
	if (m == NULL)
		return NULL;
	m->ctx = ctx;
	m->at_boundary = 1;
	if (opts != NULL)
		m->opts = *opts;
	if (m->opts.delimiter != 0 && m->opts.delimiter != ',' && m->opts.delimiter != ';' &&
	    m->opts.delimiter != '\t') {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "delimiter must be ',', ';' or tab");
		*err = PKIROLL_ERR_USAGE;
		goto fail;
	}
	if ((m->path = strdup(path)) == NULL || (m->line = malloc(MAX_LINE)) == NULL ||
	    (m->rec = malloc(MAX_RECORD)) == NULL)
		goto fail;
	if ((m->fp = file_fopen_regular(path, &enoent, why, sizeof(why))) == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s", why);
		*err = enoent ? PKIROLL_ERR_NOENT : PKIROLL_ERR_IO;
		goto fail;
	}
	if ((m->seen = seen_new()) == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: cannot create the duplicate index", path);
		*err = PKIROLL_ERR_IO;
		goto fail;
	}
	if ((*err = read_header(m)) != PKIROLL_OK)
		goto fail;
	return m;
fail:
	manifest_close(m);
	return NULL;
}

void manifest_close(struct manifest *m)
{
	if (m == NULL)
		return;
	csv_clear_fields(m);
	csv_parser_free(m);
	if (m->fp != NULL)
		fclose(m->fp);
	if (m->line != NULL)
		OPENSSL_cleanse(m->line, MAX_LINE);
	if (m->rec != NULL)
		OPENSSL_cleanse(m->rec, MAX_RECORD);
	if (m->replay != NULL)
		OPENSSL_cleanse(m->replay, m->replay_len);
	free(m->line);
	free(m->rec);
	free(m->replay);
	free(m->subject);
	free(m->partner_buf);
	free(m->path);
	seen_free(m->seen);
	free(m);
}
