/*
 * Fingerprint sheets: the text and the printable HTML page a trading
 * partner reads out on the phone to check the certificates of a bundle.
 * Nothing here depends on the clock: the same bundle, the same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "write/bundle.h"

static void when(time_t t, char *out, size_t n)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* Text from outside (names, subjects, issuers), escaped for display: a few
 * at a time per call. */
static const char *shown(const char *s)
{
	static char buf[8][4096];
	static int next;

	next = (next + 1) % 8;
	return text_escape_display(s, buf[next], sizeof(buf[next]));
}

/* ---- text ---- */

static void text_cert(FILE *f, const struct bundle_cert *c, const char *file)
{
	char nb[32], na[32];

	when(c->not_before, nb, sizeof(nb));
	when(c->not_after, na, sizeof(na));
	fprintf(f,
		"  %s certificate (%s)\n"
		"    subject    %s\n"
		"    issuer     %s\n"
		"    serial     %s\n"
		"    valid      %s to %s\n"
		"    key        %s\n"
		"    MD5        %s\n"
		"    SHA-1      %s\n"
		"    SHA-256    %s\n",
		c->usage, shown(file), shown(c->subject), shown(c->issuer), c->serial, nb, na,
		c->key_type, c->fp.md5, c->fp.sha1, c->fp.sha256);
	if (c->replaces[0] != '\0')
		fprintf(f, "    replaces   serial %s, from %s on\n", c->replaces, nb);
}

int sheet_text(const struct bundle_partner *p, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	char file[600];

	if (f == NULL)
		return -1;
	fprintf(f,
		"Certificate fingerprints for %s\n"
		"\n"
		"Before you trust these certificates, compare each fingerprint below with\n"
		"the one your own software shows for the file, and confirm them by phone\n"
		"with the sender. Each fingerprint is a hash (MD5, SHA-1, SHA-256) of the\n"
		"certificate's DER encoding; SHA-256 is the one to rely on.\n",
		shown(p->name));
	for (size_t i = 0; i < p->ncomm; i++) {
		const struct bundle_community *c = &p->comm[i];

		fprintf(f, "\nCommunity: %s\n", shown(c->name));
		for (int k = 0; k < c->ncert; k++) {
			snprintf(file, sizeof(file), "%s/%s.cer", c->dir, c->cert[k].usage);
			text_cert(f, &c->cert[k], file);
		}
		for (int k = 0; k < c->nprev; k++) {
			snprintf(file, sizeof(file),
				 "%s/previous/%s.cer (replaced, valid until "
				 "it expires)",
				 c->dir, c->prev[k].usage);
			text_cert(f, &c->prev[k], file);
		}
	}
	if (p->nca > 0)
		fprintf(f, "\nCA certificates (ca/chain.pem, ca/chain.p7b)\n");
	for (size_t i = 0; i < p->nca; i++)
		fprintf(f,
			"  %s\n"
			"    MD5        %s\n"
			"    SHA-1      %s\n"
			"    SHA-256    %s\n",
			shown(p->ca[i].subject), p->ca[i].fp.md5, p->ca[i].fp.sha1,
			p->ca[i].fp.sha256);
	if (p->nmissing > 0)
		fprintf(f,
			"\nNot in this bundle (no certificate yet): %lu communit%s; a later "
			"bundle\n"
			"will carry them.\n",
			p->nmissing, p->nmissing == 1 ? "y" : "ies");
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- HTML ---- */

/* Writes s with the five HTML special characters escaped, after the
 * control and bidirectional characters. */
static void esc(FILE *f, const char *s)
{
	for (s = shown(s); *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static void row(FILE *f, const char *k, const char *v, int fp)
{
	fprintf(f, "<tr><th>%s</th><td%s>", k, fp ? " class=\"fp\"" : "");
	esc(f, v);
	fputs("</td></tr>\n", f);
}

static void html_cert(FILE *f, const struct bundle_cert *c, const char *file)
{
	char nb[32], na[32], valid[80];

	when(c->not_before, nb, sizeof(nb));
	when(c->not_after, na, sizeof(na));
	snprintf(valid, sizeof(valid), "%s to %s", nb, na);
	fprintf(f, "<h3>%s certificate <small>", c->usage);
	esc(f, file);
	fputs("</small></h3>\n<table>\n", f);
	row(f, "Subject", c->subject, 0);
	row(f, "Issuer", c->issuer, 0);
	row(f, "Serial", c->serial, 0);
	row(f, "Valid", valid, 0);
	if (c->replaces[0] != '\0') {
		char rep[160];

		snprintf(rep, sizeof(rep), "serial %s, from %s on", c->replaces, nb);
		row(f, "Replaces", rep, 0);
	}
	row(f, "Key", c->key_type, 0);
	row(f, "MD5", c->fp.md5, 1);
	row(f, "SHA-1", c->fp.sha1, 1);
	row(f, "SHA-256", c->fp.sha256, 1);
	fputs("</table>\n", f);
}

int sheet_html(const struct bundle_partner *p, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	char file[600];

	if (f == NULL)
		return -1;
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
	      "Certificate fingerprints for ",
	      f);
	esc(f, p->name);
	fputs("</title>\n<style>\n"
	      "body { font-family: sans-serif; margin: 2em; color: #000; }\n"
	      "table { border-collapse: collapse; margin-bottom: 1em; }\n"
	      "th { text-align: left; padding: 0.2em 1em 0.2em 0; vertical-align: top; }\n"
	      "td { padding: 0.2em 0; }\n"
	      "td.fp { font-family: monospace; font-size: 1.05em; word-break: break-all; }\n"
	      "section { page-break-inside: avoid; border-top: 1px solid #888; }\n"
	      "small { font-weight: normal; color: #444; }\n"
	      "@media print { body { margin: 0; } }\n"
	      "</style>\n</head>\n<body>\n<h1>Certificate fingerprints for ",
	      f);
	esc(f, p->name);
	fputs("</h1>\n<p>Before you trust these certificates, compare each fingerprint with the "
	      "one your own software shows for the file, and confirm them by phone with the "
	      "sender. Each fingerprint is a hash of the certificate's DER encoding; SHA-256 is "
	      "the one to rely on.</p>\n",
	      f);
	for (size_t i = 0; i < p->ncomm; i++) {
		const struct bundle_community *c = &p->comm[i];

		fputs("<section>\n<h2>", f);
		esc(f, c->name);
		fputs("</h2>\n", f);
		for (int k = 0; k < c->ncert; k++) {
			snprintf(file, sizeof(file), "%s/%s.cer", c->dir, c->cert[k].usage);
			html_cert(f, &c->cert[k], file);
		}
		for (int k = 0; k < c->nprev; k++) {
			snprintf(file, sizeof(file),
				 "%s/previous/%s.cer (replaced, valid until "
				 "it expires)",
				 c->dir, c->prev[k].usage);
			html_cert(f, &c->prev[k], file);
		}
		fputs("</section>\n", f);
	}
	if (p->nca > 0)
		fputs("<section>\n<h2>CA certificates <small>ca/chain.pem, "
		      "ca/chain.p7b</small></h2>\n",
		      f);
	for (size_t i = 0; i < p->nca; i++) {
		fputs("<table>\n", f);
		row(f, "Subject", p->ca[i].subject, 0);
		row(f, "MD5", p->ca[i].fp.md5, 1);
		row(f, "SHA-1", p->ca[i].fp.sha1, 1);
		row(f, "SHA-256", p->ca[i].fp.sha256, 1);
		fputs("</table>\n", f);
	}
	if (p->nca > 0)
		fputs("</section>\n", f);
	if (p->nmissing > 0)
		fprintf(f, "<p>Not in this bundle (no certificate yet): %lu communit%s.</p>\n",
			p->nmissing, p->nmissing == 1 ? "y" : "ies");
	fputs("</body>\n</html>\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- CSV ---- */

/* One CSV field: quoted when it must be (RFC 4180 2.6, 2.7), and a value
 * that starts as a spreadsheet formula would (=, +, -, @, tab, CR) gets a
 * leading apostrophe, so that opening the sheet runs nothing. */
static void csv_field(FILE *f, const char *v, int last)
{
	int quote;

	v = shown(v);
	quote = strpbrk(v, ",\"\r\n") != NULL;

	if (quote)
		fputc('"', f);
	if (strchr("=+-@\t\r", v[0]) != NULL && v[0] != '\0')
		fputc('\'', f);
	for (const char *c = v; *c != '\0'; c++) {
		if (*c == '"')
			fputc('"', f);
		fputc(*c, f);
	}
	if (quote)
		fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

static void csv_cert(FILE *f, const char *community, const char *status,
		     const struct bundle_cert *c, const char *file)
{
	char nb[32], na[32];

	when(c->not_before, nb, sizeof(nb));
	when(c->not_after, na, sizeof(na));
	csv_field(f, community, 0);
	csv_field(f, c->usage, 0);
	csv_field(f, status, 0);
	csv_field(f, file, 0);
	csv_field(f, c->subject, 0);
	csv_field(f, c->issuer, 0);
	csv_field(f, c->serial, 0);
	csv_field(f, nb, 0);
	csv_field(f, na, 0);
	csv_field(f, c->key_type, 0);
	csv_field(f, c->fp.md5, 0);
	csv_field(f, c->fp.sha1, 0);
	csv_field(f, c->fp.sha256, 0);
	csv_field(f, c->replaces, 1);
}

int sheet_csv(const struct bundle_partner *p, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	char file[600];

	if (f == NULL)
		return -1;
	fputs("community,usage,status,file,subject,issuer,serial,not_before,not_after,key_type,"
	      "md5,sha1,sha256,replaces_serial\r\n",
	      f);
	for (size_t i = 0; i < p->ncomm; i++) {
		const struct bundle_community *c = &p->comm[i];

		for (int k = 0; k < c->ncert; k++) {
			snprintf(file, sizeof(file), "%s/%s.cer", c->dir, c->cert[k].usage);
			csv_cert(f, c->name, "current", &c->cert[k], file);
		}
		for (int k = 0; k < c->nprev; k++) {
			snprintf(file, sizeof(file), "%s/previous/%s.cer", c->dir,
				 c->prev[k].usage);
			csv_cert(f, c->name, "previous", &c->prev[k], file);
		}
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- README.txt ---- */

int sheet_readme(const struct bundle_partner *p, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);

	if (f == NULL)
		return -1;
	fprintf(f,
		"Certificates for %s\r\n"
		"\r\n"
		"This archive holds only public material: certificates, never a private\r\n"
		"key. For each community you exchange messages with:\r\n"
		"\r\n"
		"  COMMUNITY/signing.cer, .pem      the certificate that verifies its\r\n"
		"                                   signatures (DER and PEM, the same)\r\n"
		"  COMMUNITY/encryption.cer, .pem   the certificate to encrypt to it\r\n"
		"  COMMUNITY/previous/...           after a renewal, the certificates it\r\n"
		"                                   replaced, while they are still valid\r\n"
		"  ca/chain.pem, ca/chain.p7b       the CA certificates above them\r\n"
		"  fingerprints.txt, .html          the fingerprints to confirm by phone\r\n"
		"  fingerprints.csv                 the same, one row per certificate\r\n"
		"  SHA256SUMS                       a checksum of every other file\r\n"
		"\r\n"
		"How to check it:\r\n"
		"\r\n"
		"  1. The files arrived whole:  sha256sum -c SHA256SUMS\r\n"
		"  2. Each certificate is the sender's: compare its fingerprint, e.g.\r\n"
		"       openssl x509 -in COMMUNITY/signing.cer -inform DER -noout \\\r\n"
		"         -fingerprint -sha256\r\n"
		"     with fingerprints.txt, and read the SHA-256 fingerprints out on the\r\n"
		"     phone with the sender before you trust them.\r\n"
		"  3. It chains to the CA:\r\n"
		"       openssl verify -CAfile ca/chain.pem COMMUNITY/signing.pem\r\n"
		"\r\n"
		"A certificate that says \"replaces serial X\" takes over from the one\r\n"
		"under previous/ from the date given; keep both until the old one expires.\r\n",
		shown(p->name));
	return fclose(f) == 0 ? 0 : -1;
}
