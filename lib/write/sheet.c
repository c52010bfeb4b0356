/*
 * Fingerprint sheets: the text and the printable HTML page a trading
 * partner reads out on the phone to check the certificates of a bundle.
 * Nothing here depends on the clock: the same bundle, the same bytes. The
 * sheet's date is the bundle's (its newest certificate's notBefore).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "base/base.h"
#include "write/bundle.h"
#include "x509/certinfo.h"
#include "x509/dn.h"

#define MAX_ORGS 4 /* organisations named on the "From" line; the rest counted */

/* t in UTC, ISO 8601: 2026-12-04T23:30:00Z. */
static void when(time_t t, char *out, size_t n)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The organisation (O=) of a certificate's subject, UTF-8, into out; ""
 * when it has none. */
static void organisation(const struct bundle_cert *c, char *out, size_t n)
{
	/* from the subject the store keeps (dn_format() of the certificate's):
	 * decoding the certificate would decode its public key too, through
	 * OpenSSL 3.0's decoders, which cost more than the rest of a bundle */
	char why[200];
	X509_NAME *name = c->subject ? dn_parse(c->subject, why, sizeof(why)) : NULL;
	int i = name ? X509_NAME_get_index_by_NID(name, NID_organizationName, -1) : -1;
	unsigned char *utf8 = NULL;
	int len;

	out[0] = '\0';
	if (i >= 0 && (len = ASN1_STRING_to_UTF8(
			       &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)))) >= 0)
		snprintf(out, n, "%.*s", len, (const char *)utf8);
	OPENSSL_free(utf8);
	X509_NAME_free(name);
}

/*
 * Who sent the bundle, for its "From" line: the organisations of its
 * communities' certificates, each once, the first MAX_ORGS of them, else
 * the number of communities. Into out.
 */
static void sender(const struct bundle_partner *p, char *out, size_t n)
{
	char orgs[MAX_ORGS][256], o[256];
	size_t norgs = 0, more = 0, used = 0;

	for (size_t i = 0; i < p->ncomm; i++) {
		size_t k;

		if (p->comm[i].ncert == 0)
			continue;
		organisation(&p->comm[i].cert[0], o, sizeof(o));
		for (k = 0; k < norgs && strcmp(orgs[k], o) != 0; k++)
			;
		if (o[0] == '\0' || k < norgs)
			continue;
		if (norgs < MAX_ORGS)
			memcpy(orgs[norgs++], o, sizeof(o));
		else
			more++;
	}
	out[0] = '\0';
	for (size_t k = 0; k < norgs && used < n; k++)
		used += (size_t)snprintf(out + used, n - used, "%s%s", k ? ", " : "", orgs[k]);
	if (more > 0 && used < n)
		used += (size_t)snprintf(out + used, n - used, " and %zu more", more);
	if (used < n)
		snprintf(out + used, n - used, "%s%zu communit%s below",
			 norgs ? ", for the " : "the ", p->ncomm, p->ncomm == 1 ? "y" : "ies");
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
	struct pkiroll_fingerprints fp;
	char nb[32], na[32];

	certinfo_fingerprints(&c->dg, &fp);
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
		c->key_type, fp.md5, fp.sha1, fp.sha256);
	if (c->replaces[0] != '\0')
		fprintf(f, "    replaces   serial %s, from %s on\n", c->replaces, nb);
}

/* The lines the person who phoned fills in and signs. */
static const char *const sign_lines[] = {
	"Confirmed by phone with ____________________________ (at the sender)",
	"Checked by ____________________________ on ________________",
	"Signature ____________________________",
};

int sheet_text(const struct bundle_partner *p, FILE *f)
{
	char file[600], date[32], from[1200], org[256];

	when(p->mtime, date, sizeof(date));
	sender(p, from, sizeof(from));
	fprintf(f,
		"Certificate fingerprints for %s\n"
		"\n"
		"  From         %s\n"
		"  Date         %s (the bundle's date, UTC)\n"
		"\n"
		"Before you trust these certificates, compare each fingerprint below with\n"
		"the one your own software shows for the file, and confirm them by phone\n"
		"with the sender. Each fingerprint is a hash (MD5, SHA-1, SHA-256) of the\n"
		"certificate's DER encoding; SHA-256 is the one to rely on.\n",
		shown(p->name), shown(from), date);
	for (size_t i = 0; i < p->ncomm; i++) {
		const struct bundle_community *c = &p->comm[i];

		fprintf(f, "\nCommunity: %s\n", shown(c->name));
		if (c->as2_id[0] != '\0')
			fprintf(f, "  AS2 id       %s\n", shown(c->as2_id));
		if (c->ncert > 0) {
			organisation(&c->cert[0], org, sizeof(org));
			if (org[0] != '\0')
				fprintf(f, "  Organisation %s\n", shown(org));
		}
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
	fputs("\n", f);
	for (size_t i = 0; i < sizeof(sign_lines) / sizeof(sign_lines[0]); i++)
		fprintf(f, "%s\n\n", sign_lines[i]);
	return ferror(f) ? -1 : 0;
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

static void row(FILE *f, const char *k, const char *v)
{
	fprintf(f, "<tr><th>%s</th><td>", k);
	esc(f, v);
	fputs("</td></tr>\n", f);
}

/*
 * A fingerprint row. A line may break only after a byte's colon (<wbr>),
 * never inside a byte: a printed "EC:3B:2" / "E:13" is misread on the
 * phone. The cell's CSS keeps word-break and overflow-wrap at normal.
 */
static void fp_row(FILE *f, const char *k, const char *fp)
{
	/* a SHA-256 prints as two lines of 16 bytes where the page is wide
	 * enough, the shorter ones on one line */
	fprintf(f, "<tr><th>%s</th><td class=\"fp\"><span%s>", k,
		strlen(fp) > 60 ? " class=\"long\"" : "");
	for (const char *c = fp; *c != '\0'; c++) {
		char one[2] = {*c, '\0'};

		esc(f, one);
		if (*c == ':')
			fputs("<wbr>", f);
	}
	fputs("</span></td></tr>\n", f);
}

static void html_cert(FILE *f, const struct bundle_cert *c, const char *file)
{
	struct pkiroll_fingerprints fp;
	char nb[32], na[32], valid[80];

	certinfo_fingerprints(&c->dg, &fp);
	when(c->not_before, nb, sizeof(nb));
	when(c->not_after, na, sizeof(na));
	snprintf(valid, sizeof(valid), "%s to %s", nb, na);
	fprintf(f, "<div class=\"cert\">\n<h3>%s certificate <small>", c->usage);
	esc(f, file);
	fputs("</small></h3>\n<table>\n", f);
	row(f, "Subject", c->subject);
	row(f, "Issuer", c->issuer);
	row(f, "Serial", c->serial);
	row(f, "Valid", valid);
	if (c->replaces[0] != '\0') {
		char rep[160];

		snprintf(rep, sizeof(rep), "serial %s, from %s on", c->replaces, nb);
		row(f, "Replaces", rep);
	}
	row(f, "Key", c->key_type);
	fp_row(f, "MD5", fp.md5);
	fp_row(f, "SHA-1", fp.sha1);
	fp_row(f, "SHA-256", fp.sha256);
	fputs("</table>\n</div>\n", f);
}

/*
 * The page's style. Printing: @page leaves the paper size to the printer
 * (A4 or Letter) with margins that suit both; nothing forces a page break,
 * so page 1 starts with the title; a certificate's table is not split
 * across pages. Fingerprints break between bytes only (fp_row()).
 */
static const char style[] =
	"@page { size: auto; margin: 16mm 15mm; }\n"
	"body { font-family: sans-serif; font-size: 10.5pt; color: #000; margin: 0; }\n"
	"@media screen { body { margin: 2em; max-width: 50em; } }\n"
	"h1 { font-size: 15pt; margin: 0 0 0.5em 0; }\n"
	"h2 { font-size: 12.5pt; margin: 0.8em 0 0.3em 0; }\n"
	"h3 { font-size: 11pt; margin: 0.6em 0 0.2em 0; }\n"
	"h2, h3 { break-after: avoid; page-break-after: avoid; }\n"
	"table { border-collapse: collapse; margin-bottom: 0.6em; }\n"
	"th { text-align: left; padding: 0.15em 1em 0.15em 0; vertical-align: top;"
	" white-space: nowrap; }\n"
	"td { padding: 0.15em 0; }\n"
	"td.fp { font-family: monospace; font-size: 10pt; white-space: normal;"
	" word-break: normal; overflow-wrap: normal; }\n"
	"td.fp span.long { display: inline-block; max-width: 48.5ch; }\n"
	"div.cert, div.sign { break-inside: avoid; page-break-inside: avoid; }\n"
	"section { border-top: 1px solid #888; }\n"
	"small { font-weight: normal; color: #444; }\n"
	"span.nb { white-space: nowrap; }\n"
	"div.sign p { margin: 1.6em 0 0 0; }\n";

int sheet_html(const struct bundle_partner *p, FILE *f)
{
	char file[600], date[32], from[1200], org[256];

	when(p->mtime, date, sizeof(date));
	sender(p, from, sizeof(from));
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
	      "Certificate fingerprints for ",
	      f);
	esc(f, p->name);
	fprintf(f,
		"</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>Certificate fingerprints for ",
		style);
	esc(f, p->name);
	fputs("</h1>\n<table>\n", f);
	row(f, "From", from);
	fprintf(f, "<tr><th>Date</th><td>%s <small>(the bundle's date, UTC)</small></td></tr>\n",
		date);
	fputs("</table>\n<p>Before you trust these certificates, compare each fingerprint with "
	      "the one your own software shows for the file, and confirm them by phone with the "
	      "sender. Each fingerprint is a hash of the certificate's DER encoding; "
	      "<span class=\"nb\">SHA-256</span> is the one to rely on.</p>\n",
	      f);
	for (size_t i = 0; i < p->ncomm; i++) {
		const struct bundle_community *c = &p->comm[i];

		fputs("<section>\n<h2>", f);
		esc(f, c->name);
		fputs("</h2>\n", f);
		org[0] = '\0';
		if (c->ncert > 0)
			organisation(&c->cert[0], org, sizeof(org));
		if (c->as2_id[0] != '\0' || org[0] != '\0') {
			fputs("<table>\n", f);
			if (c->as2_id[0] != '\0')
				row(f, "AS2 id", c->as2_id);
			if (org[0] != '\0')
				row(f, "Organisation", org);
			fputs("</table>\n", f);
		}
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
		fputs("<div class=\"cert\">\n<table>\n", f);
		row(f, "Subject", p->ca[i].subject);
		fp_row(f, "MD5", p->ca[i].fp.md5);
		fp_row(f, "SHA-1", p->ca[i].fp.sha1);
		fp_row(f, "SHA-256", p->ca[i].fp.sha256);
		fputs("</table>\n</div>\n", f);
	}
	if (p->nca > 0)
		fputs("</section>\n", f);
	if (p->nmissing > 0)
		fprintf(f, "<p>Not in this bundle (no certificate yet): %lu communit%s.</p>\n",
			p->nmissing, p->nmissing == 1 ? "y" : "ies");
	fputs("<section>\n<div class=\"sign\">\n", f);
	for (size_t i = 0; i < sizeof(sign_lines) / sizeof(sign_lines[0]); i++)
		fprintf(f, "<p>%s</p>\n", sign_lines[i]);
	fputs("</div>\n</section>\n</body>\n</html>\n", f);
	return ferror(f) ? -1 : 0;
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
	struct pkiroll_fingerprints fp;
	char nb[32], na[32];

	certinfo_fingerprints(&c->dg, &fp);
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
	csv_field(f, fp.md5, 0);
	csv_field(f, fp.sha1, 0);
	csv_field(f, fp.sha256, 0);
	csv_field(f, c->replaces, 1);
}

int sheet_csv(const struct bundle_partner *p, FILE *f)
{
	char file[600];

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
	return ferror(f) ? -1 : 0;
}

/* ---- README.txt ---- */

int sheet_readme(const struct bundle_partner *p, FILE *f)
{

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
	return ferror(f) ? -1 : 0;
}
