/*
 * Manifest rows: each record from the CSV reader (csv.c) validated field by
 * field, every problem reported as FILE:LINE: column: reason; and the
 * authorization codes a row stands for.
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
#include "input/reader.h"

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
		csv_row_error(m, csv_col_names[c], "missing required field");
	return v;
}

static void check_formula(struct manifest *m, enum col c, const char *v)
{
	if (v != NULL && strchr("=+-@", v[0]) != NULL)
		csv_row_warn(m, csv_col_names[c],
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
			csv_row_warn(m, csv_col_names[COL_AUTHCODE], "%s", err);
		else
			csv_row_error(m, csv_col_names[COL_AUTHCODE], "%s", err);
		return;
	}
	close(fd);
	if (code_file_refused(&st, m->opts.insecure_code_files, path, err, sizeof(err)) != NULL)
		csv_row_error(m, csv_col_names[COL_AUTHCODE], "%s", err);
}

/* The environment variables a manifest named as codes (env:NAME) in this
 * process: a hook's environment leaves them out. */
static char code_env[64][128];
static int ncode_env;

int manifest_code_env_named(const char *name, size_t len)
{
	for (int i = 0; i < ncode_env; i++)
		if (strlen(code_env[i]) == len && strncmp(code_env[i], name, len) == 0)
			return 1;
	return 0;
}

static void code_env_note(const char *name)
{
	if (manifest_code_env_named(name, strlen(name)) || strlen(name) >= sizeof(code_env[0]))
		return;
	if (ncode_env < (int)(sizeof(code_env) / sizeof(code_env[0])))
		snprintf(code_env[ncode_env++], sizeof(code_env[0]), "%s", name);
}

static void check_authcode(struct manifest *m, const char *v)
{
	if (strncmp(v, "env:", 4) == 0) {
		const char *n = v + 4;

		code_env_note(n);

		if (*n == '\0' ||
		    strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
			    strlen(n) ||
		    (*n >= '0' && *n <= '9')) {
			csv_row_error(m, csv_col_names[COL_AUTHCODE], "env: needs a variable name");
			return;
		}
		if (getenv(n) == NULL)
			csv_row_warn(m, csv_col_names[COL_AUTHCODE],
				     "environment variable %s is not set here", n);
	} else if (strncmp(v, "file:", 5) == 0) {
		if (v[5] == '\0') {
			csv_row_error(m, csv_col_names[COL_AUTHCODE], "file: needs a path");
			return;
		}
		code_file_check(m, v + 5);
	} else if (has_control(v)) {
		csv_row_error(m, csv_col_names[COL_AUTHCODE], "control character in code");
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
		csv_row_error(m, csv_col_names[c], "duplicate \"%s\" (first on line %lu)", v,
			      first);
	return r;
}

/* An AS2 name (RFC 4130 6.2): 1 to 128 printable ASCII characters. */
static int as2_ok(const char *v)
{
	size_t n = strlen(v);

	if (n < 1 || n > 128)
		return 0;
	for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e)
			return 0;
	return 1;
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
		char *e, *as2 = strchr(tok, '=');
		size_t k;

		/* "Name=AS2ID": the partner's AS2 id after the '=' */
		if (as2 != NULL) {
			char *ae;

			*as2++ = '\0';
			while (*as2 == ' ')
				as2++;
			ae = as2 + strlen(as2);
			while (ae > as2 && ae[-1] == ' ')
				*--ae = '\0';
			if (*as2 == '\0' || !as2_ok(as2)) {
				csv_row_error(m, csv_col_names[COL_PARTNERS],
					      "partner AS2 id \"%.40s\": 1 to 128 printable ASCII "
					      "characters",
					      as2);
				continue;
			}
		}
		while (*tok == ' ')
			tok++;
		e = tok + strlen(tok);
		while (e > tok && e[-1] == ' ')
			*--e = '\0';
		if (*tok == '\0')
			continue;
		if (has_control(tok) || strpbrk(tok, "/\\") != NULL) {
			csv_row_error(m, csv_col_names[COL_PARTNERS],
				      "partner \"%.40s\" has a control character, '/' or '\\'",
				      tok);
			continue;
		}
		/* the store, bundles and sheets hold a name as long as a community's */
		if (strlen(tok) > MANIFEST_MAX_NAME) {
			csv_row_error(m, csv_col_names[COL_PARTNERS],
				      "partner \"%.40s...\" is %zu bytes, longer than %d", tok,
				      strlen(tok), MANIFEST_MAX_NAME);
			continue;
		}
		check_formula(m, COL_PARTNERS, tok);
		for (k = 0; k < n; k++)
			if (strcmp(m->partners[k], tok) == 0)
				break;
		if (k < n)
			continue;
		if (n == MAX_PARTNERS) {
			csv_row_error(m, csv_col_names[COL_PARTNERS], "more than %d partners",
				      MAX_PARTNERS);
			break;
		}
		m->partner_as2[n] = as2;
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
	if ((t = base_key_type_from_name(v)) < 0)
		csv_row_error(m, csv_col_names[c],
			      "unknown key type \"%.40s\" (rsa2048, rsa3072, rsa4096, p256, p384)",
			      v);
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
	row->partner_as2 = m->partner_as2;
	if (m->row_broken) {
		row->bad = 1;
		return;
	}

	if (m->nfields != m->ncols) {
		/* the columns do not line up: checking them would only add noise */
		csv_row_error(m, NULL, "wrong number of fields: %d, the header has %d", m->nfields,
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
			csv_row_error(m, csv_col_names[COL_COMMUNITY], "control character in name");
		if (strlen(row->community) > MANIFEST_MAX_NAME)
			csv_row_error(m, csv_col_names[COL_COMMUNITY], "longer than %d bytes",
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
				csv_row_error(
					m, csv_col_names[COL_COMMUNITY],
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
			csv_row_error(
				m, csv_col_names[COL_REFERENCE],
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
			csv_row_error(m, csv_col_names[COL_SUBJECT], "unparsable DN: %s", err);
	} else if (row->community != NULL) {
		dn = X509_NAME_new();
		if (dn != NULL &&
		    !X509_NAME_add_entry_by_NID(dn, NID_commonName, MBSTRING_UTF8,
						(const unsigned char *)row->community, -1, -1, 0)) {
			csv_row_error(
				m, csv_col_names[COL_COMMUNITY],
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
			csv_row_error(m, csv_col_names[subj != NULL ? COL_SUBJECT : COL_COMMUNITY],
				      "the subject is longer than %d bytes", MANIFEST_MAX_SUBJECT);
		row->subject = m->subject;
		X509_NAME_free(dn);
	}
	row->ca = value(m, COL_CA);
	if (row->ca != NULL && has_control(row->ca))
		csv_row_error(m, csv_col_names[COL_CA], "control character in profile name");
	row->key_type = parse_key_type(m, COL_KEY_TYPE, KEY_RSA2048);
	row->enc_key_type = parse_key_type(m, COL_ENC_KEY_TYPE, KEY_RSA2048);
	row->dual = 1;
	if ((v = value(m, COL_DUAL)) != NULL) {
		if (base_ascii_casecmp(v, "yes") == 0 || base_ascii_casecmp(v, "true") == 0 ||
		    strcmp(v, "1") == 0)
			row->dual = 1;
		else if (base_ascii_casecmp(v, "no") == 0 || base_ascii_casecmp(v, "false") == 0 ||
			 strcmp(v, "0") == 0)
			row->dual = 0;
		else
			csv_row_error(m, csv_col_names[COL_DUAL], "\"%.20s\" is not yes or no", v);
	}
	row->email = value(m, COL_EMAIL);
	if (row->email != NULL) {
		const char *at = strchr(row->email, '@');

		if (at == NULL || at == row->email || at[1] == '\0' ||
		    strchr(at + 1, '@') != NULL || strpbrk(row->email, " ,;<>") != NULL)
			csv_row_error(m, csv_col_names[COL_EMAIL],
				      "\"%.60s\" is not an e-mail address", row->email);
	}
	row->notes = value(m, COL_NOTES);
	row->as2_id = value(m, COL_AS2_ID);
	if (row->as2_id != NULL && !as2_ok(row->as2_id))
		csv_row_error(m, csv_col_names[COL_AS2_ID], "1 to 128 printable ASCII characters");
	row->cem_response_url = value(m, COL_CEM_URL);
	if (row->cem_response_url != NULL &&
	    ((strncmp(row->cem_response_url, "http://", 7) != 0 &&
	      strncmp(row->cem_response_url, "https://", 8) != 0 &&
	      strncmp(row->cem_response_url, "mailto:", 7) != 0) ||
	     strlen(row->cem_response_url) > 1024 || has_control(row->cem_response_url) ||
	     strchr(row->cem_response_url, ' ') != NULL))
		csv_row_error(m, csv_col_names[COL_CEM_URL],
			      "\"%.60s\" is not an http(s) or mailto URL", row->cem_response_url);
	row->bad = m->row_bad;
}

void manifest_set_raw(struct manifest *m)
{
	m->raw = 1;
}

/* A row's fields as they are, for the raw second pass. */
static void raw_row(struct manifest *m)
{
	struct manifest_row *row = &m->row;

	memset(row, 0, sizeof(*row));
	row->line = m->row_start;
	row->partners = m->partners;
	row->partner_as2 = m->partner_as2;
	row->bad = m->row_broken || m->row_bad || m->nfields != m->ncols;
	if (row->bad)
		return;
	row->community = value(m, COL_COMMUNITY);
	row->reference = value(m, COL_REFERENCE);
	row->authcode = value(m, COL_AUTHCODE);
	row->ca = value(m, COL_CA);
	row->bad = row->community == NULL || row->authcode == NULL;
}

int manifest_next_row(struct manifest *m, const struct manifest_row **row)
{
	int r;

	if (m->err)
		return -1;
	r = csv_next_record(m);
	if (r <= 0)
		return r;
	if (m->raw)
		raw_row(m);
	else
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

int manifest_resolve_code(const char *value, int insecure_files, char *out, size_t outlen,
			  char *err, size_t errlen)
{
	const char *src = value;
	char buf[1024];
	size_t n = 0;

	if (strncmp(value, "env:", 4) == 0) {
		code_env_note(value + 4);
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

int pkiroll_code_resolve(const char *value, int insecure, char *out, size_t outlen, char *why,
			 size_t whylen)
{
	return manifest_resolve_code(value, insecure, out, outlen, why, whylen);
}

int pkiroll_secret_file_open(const char *path, int insecure, char *why, size_t whylen)
{
	struct stat st;
	int fd = file_open_regular(path, &st, NULL, why, whylen);

	if (fd >= 0 && code_file_refused(&st, insecure, path, why, whylen) != NULL) {
		close(fd);
		return -1;
	}
	return fd;
}
