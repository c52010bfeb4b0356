/*
 * Streaming manifest reader on libcsv. Lines are fed to the parser one at a
 * time so every row knows the physical line it starts on; the lines of the
 * current record are kept (bounded) so that an unbalanced quote can be
 * reported for its row and the lines after it parsed again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <csv.h>
#include <openssl/crypto.h>

#include "x509/dn.h"
#include "base/fileio.h"
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
	COL__MAX
};

static const char *const col_names[COL__MAX] = {
	"community", "reference_number", "authorization_code",	"partners", "subject",
	"ca",	     "key_type",	 "encryption_key_type", "dual",	    "email",
	"notes",
};

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
	char *partner_buf;

	struct seen *seen;
	struct pkiroll_manifest_stats stats;
};

static void row_error(struct manifest *m, const char *col, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void row_error(struct manifest *m, const char *col, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (col != NULL)
		ctx_log(m->ctx, PKIROLL_LOG_ERROR, "%s:%lu: %s: %s", m->path, m->row_start, col,
			buf);
	else
		ctx_log(m->ctx, PKIROLL_LOG_ERROR, "%s:%lu: %s", m->path, m->row_start, buf);
	m->row_bad = 1;
}

static void row_warn(struct manifest *m, const char *col, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void row_warn(struct manifest *m, const char *col, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ctx_log(m->ctx, PKIROLL_LOG_WARN, "%s:%lu: %s: warning: %s", m->path, m->row_start, col,
		buf);
	m->stats.warnings++;
}

/* Name of file column i for messages. */
static const char *col_label(const struct manifest *m, int i)
{
	static char buf[32];

	if (!m->header_done)
		return "header";
	if (i < m->ncols && i < MAX_FIELDS && m->colmap[i] >= 0)
		return col_names[m->colmap[i]];
	snprintf(buf, sizeof(buf), "column %d", i + 1);
	return buf;
}

static void clear_fields(struct manifest *m)
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
		row_error(m, col_label(m, i), "field longer than 4 KiB (%zu bytes)", len);
		return;
	}
	if (s != NULL && memchr(s, '\0', len) != NULL) {
		row_error(m, col_label(m, i), "NUL byte in field");
		return;
	}
	if (s != NULL && !utf8_valid(s, len)) {
		row_error(m, col_label(m, i), "invalid UTF-8");
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

static void parser_free(struct manifest *m)
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
	parser_free(m);
	if (csv_init(&m->csv, CSV_STRICT) != 0)
		return -1;
	m->csv_ready = 1;
	csv_set_delim(&m->csv, (unsigned char)m->opts.delimiter);
	csv_set_space_func(&m->csv, is_space);
	csv_set_term_func(&m->csv, is_term);
	return 0;
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
 * The record starting at row_start has a quote that never closes: report
 * it, then parse every line after its first one again.
 */
static int recover_unbalanced(struct manifest *m)
{
	char *first_nl = memchr(m->rec, '\n', m->rec_len);
	size_t skip = first_nl ? (size_t)(first_nl - m->rec) + 1 : m->rec_len;

	row_error(m, col_label(m, m->nfields), "unbalanced quote (the quoted field never closes)");
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
static int next_record(struct manifest *m)
{
	clear_fields(m);
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
				if (recover_unbalanced(m) < 0)
					return -1;
			} else if (csv_fini(&m->csv, on_field, on_row, m) != 0) {
				row_error(m, NULL, "malformed quoting at the end of the file");
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
			row_error(m, NULL, "line longer than %d KiB", MAX_LINE / 1024);
			m->row_broken = 1;
			if (parser_reset(m) < 0)
				return -1;
			m->row_done = 1;
			m->at_boundary = 1;
			return 1;
		}
		rec_append(m);
		skip = m->lineno == 1 && m->linelen >= 3 && memcmp(m->line, "\xef\xbb\xbf", 3) == 0
			       ? 3
			       : 0;
		if (csv_parse(&m->csv, m->line + skip, m->linelen - skip, on_field, on_row, m) !=
		    m->linelen - skip) {
			if (m->err)
				return -1;
			/* strict mode: a quote where RFC 4180 allows none */
			row_error(m, col_label(m, m->nfields),
				  "stray or unbalanced quote (RFC 4180 2.5-2.7)");
			m->row_broken = 1;
			if (parser_reset(m) < 0)
				return -1;
			m->row_done = 1;
			m->at_boundary = 1;
			return 1;
		}
		if (m->err)
			return -1;
		if (!m->row_done && m->csv.quoted && m->csv.pstate == LIBCSV_FIELD_BEGUN &&
		    m->csv.entry_pos > MANIFEST_MAX_FIELD) {
			/* a quoted field this long is an unclosed quote */
			if (recover_unbalanced(m) < 0)
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
	r = next_record(m);
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
			if (ascii_casecmp(name, col_names[c]) == 0)
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
				m->row_start, col_names[c]);
			return PKIROLL_ERR_MANIFEST;
		}
		m->colmap[i] = c;
	}
	for (c = COL_COMMUNITY; c <= COL_AUTHCODE; c++) {
		if (!seen[c]) {
			ctx_log(m->ctx, PKIROLL_LOG_ERROR,
				"%s:%lu: header: required column \"%s\" is missing", m->path,
				m->row_start, col_names[c]);
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

/* The field of a column in the current record, or NULL. */
static const struct field *field(const struct manifest *m, enum col want)
{
	for (int k = 0; k < m->ncols && k < m->nfields; k++)
		if (m->colmap[k] == (int)want)
			return &m->fields[k];
	return NULL;
}

/* Field value, NULL when absent, empty or bad. */
static const char *value(const struct manifest *m, enum col c)
{
	const struct field *f = field(m, c);

	return f != NULL && f->data != NULL && f->len > 0 ? f->data : NULL;
}

/* Reports a required field that is empty (not one already reported bad). */
static const char *required(struct manifest *m, enum col c)
{
	const struct field *f = field(m, c);
	const char *v = value(m, c);

	if (v == NULL && (f == NULL || !f->bad))
		row_error(m, col_names[c], "missing required field");
	return v;
}

static void check_formula(struct manifest *m, enum col c, const char *v)
{
	if (v != NULL && strchr("=+-@", v[0]) != NULL)
		row_warn(m, col_names[c],
			 "\"%.40s\" starts with '%c' and may run as a spreadsheet formula", v,
			 v[0]);
}

static int has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/*
 * A file: code: regular (a FIFO would hang the run, a directory reads as
 * empty) and private, as ssh wants a private key, unless the caller says
 * otherwise. NULL if fine, else why not (err).
 */
static const char *code_file_refused(const struct stat *st, int insecure, const char *path,
				     char *err, size_t errlen)
{
	if (!insecure && (st->st_mode & 077) != 0) {
		snprintf(
			err, errlen,
			"%s: readable or writable by group or others (mode %03o): chmod 600 it, or "
			"give --insecure-code-files",
			path, (unsigned)(st->st_mode & 0777));
		return err;
	}
	return NULL;
}

static void code_file_check(struct manifest *m, const char *path)
{
	struct stat st;
	char err[1200];
	int enoent, fd = file_open_regular(path, &st, &enoent, err, sizeof(err));

	if (fd < 0) {
		/* a code file may be put in place after the check */
		if (enoent)
			row_warn(m, col_names[COL_AUTHCODE], "%s", err);
		else
			row_error(m, col_names[COL_AUTHCODE], "%s", err);
		return;
	}
	close(fd);
	if (code_file_refused(&st, m->opts.insecure_code_files, path, err, sizeof(err)) != NULL)
		row_error(m, col_names[COL_AUTHCODE], "%s", err);
}

static void check_authcode(struct manifest *m, const char *v)
{
	if (strncmp(v, "env:", 4) == 0) {
		const char *n = v + 4;

		if (*n == '\0' ||
		    strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
			    strlen(n) ||
		    (*n >= '0' && *n <= '9')) {
			row_error(m, col_names[COL_AUTHCODE], "env: needs a variable name");
			return;
		}
		if (getenv(n) == NULL)
			row_warn(m, col_names[COL_AUTHCODE],
				 "environment variable %s is not set here", n);
	} else if (strncmp(v, "file:", 5) == 0) {
		if (v[5] == '\0') {
			row_error(m, col_names[COL_AUTHCODE], "file: needs a path");
			return;
		}
		code_file_check(m, v + 5);
	} else if (has_control(v)) {
		row_error(m, col_names[COL_AUTHCODE], "control character in code");
	}
}

/* 1 if v is new in this manifest, else 0 (reported) or -1. */
static int check_unique(struct manifest *m, int kind, enum col c, const char *v)
{
	unsigned long first = 0;
	int r = seen_add(m->seen, kind, v, m->row_start, &first);

	if (r < 0)
		m->err = PKIROLL_ERR_IO;
	else if (r == 0)
		row_error(m, col_names[c], "duplicate \"%s\" (first on line %lu)", v, first);
	return r;
}

/* Splits partners into m->partners (deduplicated, trimmed). */
static void split_partners(struct manifest *m, const char *v)
{
	char *p, *tok, *save = NULL;
	size_t n = 0;

	free(m->partner_buf);
	m->partner_buf = NULL;
	m->row.npartners = 0;
	if (v == NULL)
		return;
	if ((m->partner_buf = strdup(v)) == NULL) {
		m->err = PKIROLL_ERR_NOMEM;
		return;
	}
	for (p = m->partner_buf; (tok = strtok_r(p, ";", &save)) != NULL; p = NULL) {
		char *e;
		size_t k;

		while (*tok == ' ')
			tok++;
		e = tok + strlen(tok);
		while (e > tok && e[-1] == ' ')
			*--e = '\0';
		if (*tok == '\0')
			continue;
		if (has_control(tok) || strpbrk(tok, "/\\") != NULL) {
			row_error(m, col_names[COL_PARTNERS],
				  "partner \"%.40s\" has a control character, '/' or '\\'", tok);
			continue;
		}
		check_formula(m, COL_PARTNERS, tok);
		for (k = 0; k < n; k++)
			if (strcmp(m->partners[k], tok) == 0)
				break;
		if (k < n)
			continue;
		if (n == MAX_PARTNERS) {
			row_error(m, col_names[COL_PARTNERS], "more than %d partners",
				  MAX_PARTNERS);
			break;
		}
		m->partners[n++] = tok;
	}
	m->row.npartners = n;
}

static int parse_key_type(struct manifest *m, enum col c, int dflt)
{
	const char *v = value(m, c);
	int t;

	if (v == NULL)
		return dflt;
	if ((t = key_type_from_name(v)) < 0)
		row_error(m, col_names[c],
			  "unknown key type \"%.40s\" (rsa2048, rsa3072, rsa4096, p256, p384)", v);
	return t;
}

static void validate_row(struct manifest *m)
{
	struct manifest_row *row = &m->row;
	const char *v, *subj;
	char err[256];
	X509_NAME *dn;

	memset(row, 0, sizeof(*row));
	free(m->subject);
	m->subject = NULL;
	row->line = m->row_start;
	row->partners = m->partners;
	if (m->row_broken) {
		row->bad = 1;
		return;
	}

	if (m->nfields != m->ncols) {
		/* the columns do not line up: checking them would only add noise */
		row_error(m, NULL, "wrong number of fields: %d, the header has %d", m->nfields,
			  m->ncols);
		row->bad = 1;
		return;
	}

	/* Phase: required fields. */
	row->community = required(m, COL_COMMUNITY);
	row->reference = required(m, COL_REFERENCE);
	row->authcode = required(m, COL_AUTHCODE);

	if (row->community != NULL) {
		if (has_control(row->community))
			row_error(m, col_names[COL_COMMUNITY], "control character in name");
		if (strlen(row->community) > MANIFEST_MAX_NAME)
			row_error(m, col_names[COL_COMMUNITY], "longer than %d bytes",
				  MANIFEST_MAX_NAME);
		check_formula(m, COL_COMMUNITY, row->community);
		if (check_unique(m, 0, COL_COMMUNITY, row->community) == 1 &&
		    strlen(row->community) <= MANIFEST_MAX_NAME) {
			/* two names, one keystore directory: the keys of one would go */
			char dir[FILE_SAFE_NAME_MAX];
			unsigned long first = 0;
			int r;

			file_safe_name(row->community, 0, dir, sizeof(dir));
			if ((r = seen_add(m->seen, 2, dir, m->row_start, &first)) < 0)
				m->err = PKIROLL_ERR_IO;
			else if (r == 0)
				row_error(
					m, col_names[COL_COMMUNITY],
					"its keystore directory \"%s\" is that of the community on "
					"line %lu",
					dir, first);
		}
	}
	if (row->reference != NULL) {
		for (v = row->reference; *v != '\0'; v++)
			if ((unsigned char)*v <= ' ' || (unsigned char)*v >= 0x7f)
				break;
		if (*v != '\0' || strlen(row->reference) > 128)
			row_error(m, col_names[COL_REFERENCE],
				  "must be printable ASCII without spaces, at most 128 characters");
		else
			check_unique(m, 1, COL_REFERENCE, row->reference);
	}
	if (row->authcode != NULL)
		check_authcode(m, row->authcode);

	/* Phase: optional fields. */
	split_partners(m, value(m, COL_PARTNERS));
	subj = value(m, COL_SUBJECT);
	if (subj != NULL) {
		if ((dn = dn_parse(subj, err, sizeof(err))) == NULL)
			row_error(m, col_names[COL_SUBJECT], "unparsable DN: %s", err);
	} else if (row->community != NULL) {
		dn = X509_NAME_new();
		if (dn != NULL &&
		    !X509_NAME_add_entry_by_NID(dn, NID_commonName, MBSTRING_UTF8,
						(const unsigned char *)row->community, -1, -1, 0)) {
			row_error(m, col_names[COL_COMMUNITY],
				  "cannot be a commonName (at most 64 characters); give a subject");
			X509_NAME_free(dn);
			dn = NULL;
		}
	} else {
		dn = NULL;
	}
	if (dn != NULL) {
		m->subject = dn_format(dn);
		if (m->subject != NULL && strlen(m->subject) > MANIFEST_MAX_SUBJECT)
			row_error(m, col_names[subj != NULL ? COL_SUBJECT : COL_COMMUNITY],
				  "the subject is longer than %d bytes", MANIFEST_MAX_SUBJECT);
		row->subject = m->subject;
		X509_NAME_free(dn);
	}
	row->ca = value(m, COL_CA);
	if (row->ca != NULL && has_control(row->ca))
		row_error(m, col_names[COL_CA], "control character in profile name");
	row->key_type = parse_key_type(m, COL_KEY_TYPE, KEY_RSA2048);
	row->enc_key_type = parse_key_type(m, COL_ENC_KEY_TYPE, KEY_RSA2048);
	row->dual = 1;
	if ((v = value(m, COL_DUAL)) != NULL) {
		if (ascii_casecmp(v, "yes") == 0 || ascii_casecmp(v, "true") == 0 ||
		    strcmp(v, "1") == 0)
			row->dual = 1;
		else if (ascii_casecmp(v, "no") == 0 || ascii_casecmp(v, "false") == 0 ||
			 strcmp(v, "0") == 0)
			row->dual = 0;
		else
			row_error(m, col_names[COL_DUAL], "\"%.20s\" is not yes or no", v);
	}
	row->email = value(m, COL_EMAIL);
	if (row->email != NULL) {
		const char *at = strchr(row->email, '@');

		if (at == NULL || at == row->email || at[1] == '\0' ||
		    strchr(at + 1, '@') != NULL || strpbrk(row->email, " ,;<>") != NULL)
			row_error(m, col_names[COL_EMAIL], "\"%.60s\" is not an e-mail address",
				  row->email);
	}
	row->notes = value(m, COL_NOTES);
	row->bad = m->row_bad;
}

int manifest_next_row(struct manifest *m, const struct manifest_row **row)
{
	int r;

	if (m->err)
		return -1;
	r = next_record(m);
	if (r <= 0)
		return r;
	validate_row(m);
	if (m->err)
		return -1;
	m->stats.rows++;
	if (m->row.bad) {
		m->stats.bad++;
		if (m->opts.strict) {
			m->err = PKIROLL_ERR_STRICT;
			return -1;
		}
	} else {
		m->stats.good++;
	}
	*row = &m->row;
	return 1;
}

int manifest_error(const struct manifest *m)
{
	return m->err;
}

void manifest_stats(const struct manifest *m, struct pkiroll_manifest_stats *stats)
{
	*stats = m->stats;
}

void manifest_stats_rows(const struct manifest *m, unsigned long *rows, unsigned long *bad)
{
	*rows = m->stats.rows;
	*bad = m->stats.bad;
}

void manifest_close(struct manifest *m)
{
	if (m == NULL)
		return;
	clear_fields(m);
	parser_free(m);
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

int manifest_resolve_code(const char *value, int insecure_files, char *out, size_t outlen,
			  char *err, size_t errlen)
{
	const char *src = value;
	char buf[1024];
	size_t n = 0;

	if (strncmp(value, "env:", 4) == 0) {
		if ((src = getenv(value + 4)) == NULL) {
			snprintf(err, errlen, "environment variable %s is not set", value + 4);
			return -1;
		}
	} else if (strncmp(value, "file:", 5) == 0) {
		struct stat st;
		ssize_t r;
		int fd = file_open_regular(value + 5, &st, NULL, err, errlen);

		if (fd < 0)
			return -1;
		if (code_file_refused(&st, insecure_files, value + 5, err, errlen) != NULL) {
			close(fd);
			return -1;
		}
		while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				snprintf(err, errlen, "%s: %s", value + 5, strerror(errno));
				close(fd);
				OPENSSL_cleanse(buf, sizeof(buf));
				return -1;
			}
			n += (size_t)r;
		}
		close(fd);
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		src = buf;
	}
	n = strlen(src);
	if (n == 0 || n >= outlen) {
		snprintf(err, errlen, "authorization code is %s", n == 0 ? "empty" : "too long");
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	memcpy(out, src, n + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int pkiroll_manifest_open_check(pkiroll_ctx *ctx, const char *path,
				const struct pkiroll_manifest_opts *opts)
{
	int err = PKIROLL_OK;
	struct manifest *m = manifest_open(ctx, path, opts, &err);

	manifest_close(m);
	return m != NULL ? PKIROLL_OK : err;
}

int pkiroll_manifest_check(pkiroll_ctx *ctx, const char *path,
			   const struct pkiroll_manifest_opts *opts,
			   struct pkiroll_manifest_stats *stats)
{
	struct manifest *m;
	const struct manifest_row *row;
	int err, r;

	memset(stats, 0, sizeof(*stats));
	if ((m = manifest_open(ctx, path, opts, &err)) == NULL)
		return err;
	while ((r = manifest_next_row(m, &row)) > 0)
		;
	err = r < 0 ? manifest_error(m) : PKIROLL_OK;
	manifest_stats(m, stats);
	manifest_close(m);
	return err;
}
