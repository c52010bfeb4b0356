/*
 * Manifest reader: every error class of manifests/bad.csv, quoting, BOM,
 * CRLF, delimiters, line numbers, strict mode.
 */
#include <stdlib.h>
#include <string.h>

#include "input/manifest.h"
#include "t.h"

/* Reads a whole manifest; returns the check's result. */
static int check_file(const char *path, const struct pkiroll_manifest_opts *o,
		      struct pkiroll_manifest_stats *st)
{
	return pkiroll_manifest_check(t_ctx(), path, o, st);
}

TEST(manifest_example_is_all_good)
{
	struct pkiroll_manifest_stats st;
	int err = check_file(t_src("manifests/example.csv"), NULL, &st);

	CHECK(err == PKIROLL_OK, "check returned %d", err);
	CHECK(st.rows == 10 && st.good == 10 && st.bad == 0,
	      "example.csv: %lu rows %lu good %lu bad, want 10/10/0", st.rows, st.good, st.bad);
	CHECK(st.warnings == 0, "example.csv: %lu warnings", st.warnings);
}

TEST(manifest_bad_every_error_class)
{
	static const char *const want[] = {
		"bad.csv:1: header: warning: unknown column \"colour\"",
		"bad.csv:3: community: missing required field",
		"bad.csv:4: reference_number: duplicate \"40000001\" (first on line 2)",
		"bad.csv:5: community: duplicate \"good-one\" (first on line 2)",
		"bad.csv:6: key_type: unknown key type \"dsa1024\"",
		"bad.csv:7: subject: unparsable DN",
		"bad.csv:8: subject: unparsable DN: C:",
		"bad.csv:9: dual: \"maybe\" is not yes or no",
		"bad.csv:10: email: \"not-an-address\" is not an e-mail address",
		"bad.csv:11: wrong number of fields: 3, the header has 10",
		"bad.csv:12: community: warning: \"=formula\" starts with '='",
		"bad.csv:12: partners: warning: \"@evil\" starts with '@'",
		"bad.csv:13: notes: invalid UTF-8",
		"bad.csv:14: authorization_code: NUL byte in field",
		"bad.csv:15: notes: field longer than 4 KiB",
		"bad.csv:18: subject: unbalanced quote",
	};
	struct pkiroll_manifest_stats st;
	int err = check_file(t_src("manifests/bad.csv"), NULL, &st);

	CHECK(err == PKIROLL_OK, "check returned %d", err);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(t_log_has(want[i]), "missing diagnostic: %s", want[i]);
	CHECK(st.good == 4 && st.bad == 13,
	      "bad.csv: %lu good %lu bad, want 4 good (incl. rows after the broken ones) 13 bad",
	      st.good, st.bad);
	/* the NUL row's code must not be echoed */
	CHECK(!t_log_has("CODE-"), "an authorization code appeared in a diagnostic");
}

/* Opens text as a manifest and returns the first data row (or NULL). */
static struct manifest *open_text(const char *text, const struct pkiroll_manifest_opts *o)
{
	int err;

	return manifest_open(t_ctx(), t_writes("m.csv", text), o, &err);
}

TEST(manifest_quoting)
{
	struct manifest *m = open_text("community,reference_number,authorization_code,notes\n"
				       "\"Acme, Inc.\",1,\"x,y\",\"say \"\"hi\"\"\nsecond line\"\n"
				       "next,2,z,\n",
				       NULL);
	const struct manifest_row *r;

	CHECK(m != NULL, "open failed: %s", t_log());
	CHECK(manifest_next_row(m, &r) == 1 && !r->bad, "row 1 bad: %s", t_log());
	CHECK(strcmp(r->community, "Acme, Inc.") == 0, "community \"%s\"", r->community);
	CHECK(strcmp(r->authcode, "x,y") == 0, "code not kept with its comma");
	CHECK(strcmp(r->notes, "say \"hi\"\nsecond line") == 0, "notes \"%s\"", r->notes);
	CHECK(strcmp(r->subject, "CN=Acme\\, Inc.") == 0, "default subject \"%s\"", r->subject);
	CHECK(r->line == 2, "row 1 line %lu", r->line);
	CHECK(manifest_next_row(m, &r) == 1 && !r->bad, "row 2 bad");
	CHECK(r->line == 4, "row after a two-line row starts on line %lu, want 4", r->line);
	CHECK(manifest_next_row(m, &r) == 0, "expected the end");
	manifest_close(m);
}

TEST(manifest_bom_crlf_semicolon)
{
	struct manifest *m = open_text("\xef\xbb\xbf"
				       "Community;Reference_Number;AUTHORIZATION_CODE;Partners\r\n"
				       "acme;1;c1;\"A ; B;A\"\r\n"
				       "\r\n"
				       "globex;2;\"c;2\";\r\n",
				       NULL);
	const struct manifest_row *r;

	CHECK(m != NULL, "open failed: %s", t_log());
	CHECK(manifest_next_row(m, &r) == 1 && !r->bad, "row 1 bad: %s", t_log());
	CHECK(strcmp(r->community, "acme") == 0, "BOM not stripped: \"%s\"", r->community);
	CHECK(r->npartners == 2 && strcmp(r->partners[0], "A") == 0 &&
		      strcmp(r->partners[1], "B") == 0,
	      "partners split/trim/dedup wrong (%zu)", r->npartners);
	CHECK(manifest_next_row(m, &r) == 1 && !r->bad, "row 2 bad: %s", t_log());
	CHECK(strcmp(r->authcode, "c;2") == 0, "CRLF or quoted delimiter: \"%s\"", r->authcode);
	CHECK(r->line == 4, "blank line not counted: line %lu", r->line);
	CHECK(r->npartners == 0, "empty partners gave %zu", r->npartners);
	manifest_close(m);
}

TEST(manifest_tab_and_forced_delimiter)
{
	struct pkiroll_manifest_opts o = {.delimiter = ','};
	struct manifest *m = open_text("community\treference_number\tauthorization_code\n"
				       "a b\t1\tx\n",
				       NULL);
	const struct manifest_row *r;

	CHECK(m != NULL, "tab header not detected: %s", t_log());
	CHECK(manifest_next_row(m, &r) == 1 && !r->bad && strcmp(r->community, "a b") == 0,
	      "tab row: %s", t_log());
	manifest_close(m);
	/* forcing ',' on a tab file: the one header column is unknown */
	t_log_reset();
	m = open_text("community\treference_number\tauthorization_code\n", &o);
	CHECK(m == NULL, "forced delimiter ignored");
	CHECK(t_log_has("required column \"community\" is missing"), "log: %s", t_log());
}

TEST(manifest_header_problems)
{
	struct pkiroll_manifest_stats st;

	CHECK(check_file(t_writes("e.csv", ""), NULL, &st) == PKIROLL_ERR_MANIFEST,
	      "empty file accepted");
	CHECK(t_log_has("e.csv:1: header: empty file"), "log: %s", t_log());
	CHECK(check_file(t_writes("h.csv", "community,authorization_code\nx,y\n"), NULL, &st) ==
		      PKIROLL_ERR_MANIFEST,
	      "missing column accepted");
	CHECK(t_log_has("required column \"reference_number\" is missing"), "log: %s", t_log());
	CHECK(check_file(t_writes("d.csv",
				  "community,community,reference_number,authorization_code\n"),
			 NULL, &st) == PKIROLL_ERR_MANIFEST,
	      "duplicate column accepted");
	CHECK(check_file(t_path("nonexistent.csv"), NULL, &st) == PKIROLL_ERR_NOENT,
	      "missing file not NOENT");
}

TEST(manifest_strict_stops)
{
	struct pkiroll_manifest_opts o = {.strict = 1};
	struct pkiroll_manifest_stats st;
	int err = check_file(t_src("manifests/bad.csv"), &o, &st);

	CHECK(err == PKIROLL_ERR_STRICT, "strict returned %d", err);
	CHECK(st.bad == 1 && st.good == 1, "strict read %lu good %lu bad, want 1/1", st.good,
	      st.bad);
	CHECK(!t_log_has("bad.csv:4:"), "strict went past the first bad row");
}

TEST(manifest_stray_quote_and_long_line)
{
	struct pkiroll_manifest_stats st;
	char *big = malloc(300 * 1024 + 200);
	size_t n;

	CHECK(check_file(t_writes("q.csv", "community,reference_number,authorization_code\n"
					   "a\"b,1,x\n"
					   "ok,2,y\n"),
			 NULL, &st) == PKIROLL_OK,
	      "read failed");
	CHECK(st.good == 1 && st.bad == 1, "stray quote: %lu good %lu bad", st.good, st.bad);
	CHECK(t_log_has("q.csv:2: community: stray or unbalanced quote"), "log: %s", t_log());

	CHECK(big != NULL, "malloc");
	n = (size_t)sprintf(big, "community,reference_number,authorization_code\nx,1,");
	memset(big + n, 'a', 300 * 1024);
	n += 300 * 1024;
	n += (size_t)sprintf(big + n, "\nok,2,y\n");
	t_write("l.csv", big, n);
	free(big);
	CHECK(check_file(t_path("l.csv"), NULL, &st) == PKIROLL_OK, "read failed");
	CHECK(st.good == 1 && st.bad == 1, "long line: %lu good %lu bad", st.good, st.bad);
	CHECK(t_log_has("l.csv:2: line longer than 256 KiB"), "log: %s", t_log());
}

/* An unclosed quote that a later row's quote closes: the broken row is
 * reported on its own line and field, every row after it is read. */
TEST(manifest_unclosed_quote_keeps_next_rows)
{
	static const char *const want[] = {"good-a", "good-c", "good-d"};
	struct manifest *m = open_text("community,reference_number,authorization_code,partners,"
				       "subject\n"
				       "good-a,1,C1,P,\"CN=A,O=X\"\n"
				       "bad-b,2,\"C2,P,CN=B\n"
				       "good-c,3,C3,P,\"CN=C,O=X\"\n"
				       "good-d,4,C4,P,\"CN=D,O=X\"\n",
				       NULL);
	const struct manifest_row *r;
	size_t ngood = 0, nbad = 0;

	CHECK(m != NULL, "open failed: %s", t_log());
	while (manifest_next_row(m, &r) == 1) {
		if (r->bad) {
			nbad++;
			CHECK(r->line == 3, "bad row on line %lu, want 3", r->line);
			continue;
		}
		CHECK(ngood < 3 && strcmp(r->community, want[ngood]) == 0, "good row %zu is \"%s\"",
		      ngood, r->community);
		ngood++;
	}
	CHECK(ngood == 3 && nbad == 1, "%zu good %zu bad, want 3 good 1 bad", ngood, nbad);
	CHECK(t_log_has("m.csv:3: authorization_code: unbalanced quote"), "log: %s", t_log());
	manifest_close(m);
}

TEST(manifest_code_references)
{
	struct pkiroll_manifest_stats st;

	setenv("PKIROLL_T_CODE", "secret", 1);
	CHECK(check_file(t_writes("r.csv", "community,reference_number,authorization_code\n"
					   "a,1,env:PKIROLL_T_CODE\n"
					   "b,2,env:1BAD\n"
					   "c,3,file:\n"
					   "d,4,file:/nonexistent/code\n"),
			 NULL, &st) == PKIROLL_OK,
	      "read");
	CHECK(st.good == 2 && st.bad == 2, "%lu good %lu bad, want 2/2", st.good, st.bad);
	CHECK(t_log_has("r.csv:3: authorization_code: env: needs a variable name"), "log: %s",
	      t_log());
	CHECK(t_log_has("r.csv:5: authorization_code: warning: /nonexistent/code"), "log: %s",
	      t_log());
}

TEST(manifest_key_types_and_dual)
{
	struct manifest *m = open_text(
		"community,reference_number,authorization_code,key_type,encryption_key_type,dual\n"
		"a,1,x,P384,rsa4096,No\n"
		"b,2,y,,,\n",
		NULL);
	const struct manifest_row *r;

	CHECK(m != NULL, "open");
	CHECK(manifest_next_row(m, &r) == 1 && !r->bad, "row 1: %s", t_log());
	CHECK(r->key_type == KEY_P384 && r->enc_key_type == KEY_RSA4096 && r->dual == 0,
	      "row 1 parsed %d %d %d", r->key_type, r->enc_key_type, r->dual);
	CHECK(manifest_next_row(m, &r) == 1 && !r->bad, "row 2: %s", t_log());
	CHECK(r->key_type == KEY_RSA2048 && r->enc_key_type == KEY_RSA2048 && r->dual == 1,
	      "defaults %d %d %d", r->key_type, r->enc_key_type, r->dual);
	manifest_close(m);
}

/* Text from outside is shown with control and bidi characters escaped, the
 * rest (UTF-8 letters, a backslash) as it is, and cut at a character. */
TEST(text_display_escapes_controls_and_bidi)
{
	char out[256];

	pkiroll_text_display("bad\n  Globex accepted\r\t\x1b[2J\x7f", out, sizeof(out));
	CHECK(strcmp(out, "bad\\n  Globex accepted\\r\\t\\x1B[2J\\x7F") == 0, "C0: %s", out);
	pkiroll_text_display("a\xc2\x85"
			     "b\xe2\x80\xae"
			     "c\xe2\x81\xa6"
			     "d\xe2\x80\x8f"
			     "e\xd8\x9c",
			     out, sizeof(out));
	CHECK(strcmp(out, "a\\u0085b\\u202Ec\\u2066d\\u200Fe\\u061C") == 0, "C1, bidi: %s", out);
	pkiroll_text_display("M\xc3\xbcller \xe2\x82\xac \\, ok", out, sizeof(out));
	CHECK(strcmp(out, "M\xc3\xbcller \xe2\x82\xac \\, ok") == 0, "kept: %s", out);
	pkiroll_text_display("x\xff\xc3", out, sizeof(out));
	CHECK(strcmp(out, "x\\xFF\\xC3") == 0, "not UTF-8: %s", out);
	pkiroll_text_display("ab\xe2\x82\xac", out, 5);
	CHECK(strcmp(out, "ab") == 0, "cut inside a character: %s", out);
	pkiroll_text_display(NULL, out, sizeof(out));
	CHECK(out[0] == '\0', "NULL: %s", out);
}
