/*
 * pkiroll status [COMMUNITY] [--json] [--days N]: what the store says.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

const char help_status[] =
	"usage: pkiroll status [COMMUNITY] [--json] [--days N] [--all | --brief]\n"
	"       pkiroll status --check [--warn AGE] [--crit AGE]\n"
	"\n"
	"With COMMUNITY: its history, every certificate it had (usage, serial,\n"
	"validity, fingerprints; current, replaced by which serial, or revoked) and\n"
	"every event with its reason. Exit 2 when there is no such community.\n"
	"\n"
	"Without:\n"
	"Counts of communities per state, the communities that need attention\n"
	"(failed, needs_codes, a renewal that failed, a warning, a deploy hook\n"
	"still pending) with their reasons, and the current certificates that\n"
	"expire within N days (default 30; expired ones marked EXPIRED, revoked\n"
	"ones left out).\n"
	"\n"
	"Then every community: state, reason, the serial and expiry of its current\n"
	"signing and encryption certificates, its keystore directory and when\n"
	"pkiroll renew takes it (renew_within from the configuration; up to 200\n"
	"communities; --all for more, --brief for none).\n"
	"\n"
	"  --json    one JSON object on stdout: total, states, attention, expiring\n"
	"            and communities (every community); each certificate with\n"
	"            not_after, days_left and expired\n"
	"  --days N  expiry window in days\n"
	"  --all     list every community however many\n"
	"  --brief   counts, attention and expiry only\n"
	"\n"
	"--check: one line for Nagios, Icinga or Zabbix (the monitoring plugin\n"
	"convention), \"PKIROLL STATE - summary | perfdata\", and its exit code:\n"
	"  2 CRITICAL  a current certificate (not revoked, community not retired)\n"
	"              has expired, or expires within --crit (default 7d)\n"
	"  1 WARNING   a community needs attention (failed, needs_codes, a\n"
	"              renewal that failed, a warning, a deploy hook pending), or\n"
	"              a current certificate\n"
	"              expires within --warn (default 30d)\n"
	"  0 OK        neither\n"
	"  3 UNKNOWN   the store or the configuration cannot be read, or a bad\n"
	"              option\n"
	"AGE: 30d, 12h, 2w, 900s, or a number of days. The perfdata: communities\n"
	"per state, attention, expired, and soonest_expiry_days (with --warn and\n"
	"--crit in days) of the current certificate that expires first.\n";

/* Text from the store that came from outside (names, subjects, a CA's or a
 * partner's reason), escaped for the terminal: a few at a time per printf,
 * NULL as NULL. */
static const char *shown(const char *s)
{
	static char buf[8][4096];
	static int next;

	if (s == NULL)
		return NULL;
	next = (next + 1) % 8;
	return pkiroll_text_display(s, buf[next], sizeof(buf[next]));
}

static void utc(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void day(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

/* now, once: every days_left of one answer counts from the same second */
static time_t g_now;

/* Whole days from now to t, rounded down (negative once t has passed). */
static long long days_left(time_t t)
{
	long long d = (long long)t - (long long)g_now;

	return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

/* A certificate as every JSON answer gives it: serial, not_after,
 * days_left, expired (and revoked, when known). */
static json_t *cert_json(const char *serial, time_t not_after, int revoked)
{
	json_t *o = json_object();
	char when[32];

	utc(not_after, when, sizeof(when));
	if (serial != NULL)
		json_object_set_new(o, "serial", json_string(serial));
	json_object_set_new(o, "not_after", json_string(when));
	json_object_set_new(o, "days_left", json_integer(days_left(not_after)));
	json_object_set_new(o, "expired", json_boolean(not_after <= g_now));
	if (revoked >= 0)
		json_object_set_new(o, "revoked", json_boolean(revoked));
	return o;
}

/* the configuration: its renew_within gives the renew-after dates */
static const struct pkiroll_config *cfg;
/* the store the row callbacks read the CEM answers from */
static pkiroll_store *g_store;

/* a partner's CEM answer, into a JSON object */
static int cem_json(void *arg, const char *partner, const char *state, const char *reason)
{
	json_t *o = json_pack("{s:s}", "state", state);

	if (reason != NULL)
		json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(arg, partner, o);
	return 0;
}

/* the CEM answers of one community, counted for the list */
struct cem_count {
	int partners, accepted, rejected, asked;
};

static int cem_count(void *arg, const char *partner, const char *state, const char *reason)
{
	struct cem_count *c = arg;

	(void)partner;
	(void)reason;
	c->partners++;
	c->accepted += strcmp(state, "accepted") == 0;
	c->rejected += strcmp(state, "rejected") == 0;
	c->asked += strcmp(state, "not asked") != 0;
	return 0;
}

static int cem_text(void *arg, const char *partner, const char *state, const char *reason)
{
	(void)arg;
	printf("  %-24s %s%s%s\n", shown(partner), state, reason ? ": " : "",
	       reason ? shown(reason) : "");
	return 0;
}

/* The communities of status --json, written one at a time as they are
 * read (the whole list held as JSON took about 4 KB per community). */
struct json_rows {
	size_t n;
	int err;
};

/* o as the element of an array nested two deep in the answer, as
 * json_dumpf would have indented it there; frees o. */
static void row_emit(struct json_rows *w, json_t *o)
{
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(o);
	if (text == NULL) {
		w->err = 1;
		return;
	}
	fputs(w->n++ == 0 ? "\n    " : ",\n    ", stdout);
	for (const char *c = text; *c != '\0'; c++) {
		putchar(*c);
		if (*c == '\n')
			fputs("    ", stdout);
	}
	free(text);
}

static int row_json(void *arg, const struct pkiroll_status_row *r)
{
	json_t *o = json_object();
	char when[32];

	json_object_set_new(o, "community", json_string(r->community));
	json_object_set_new(
		o, "state",
		json_string(pkiroll_state_name(r->state) ? pkiroll_state_name(r->state) : "?"));
	if (r->reason)
		json_object_set_new(o, "reason", json_string(r->reason));
	if (r->sign_serial)
		json_object_set_new(o, "signing",
				    cert_json(r->sign_serial, r->sign_not_after, r->sign_revoked));
	if (r->enc_serial)
		json_object_set_new(o, "encryption",
				    cert_json(r->enc_serial, r->enc_not_after, r->enc_revoked));
	if (r->keystore)
		json_object_set_new(o, "keystore", json_string(r->keystore));
	if (r->subject)
		json_object_set_new(o, "subject", json_string(r->subject));
	if (r->requested_subject)
		json_object_set_new(o, "subject_requested", json_string(r->requested_subject));
	if (r->renew_after) {
		utc(r->renew_after, when, sizeof(when));
		json_object_set_new(o, "renew_after", json_string(when));
	}
	{
		json_t *cem = json_object();

		if (g_store != NULL)
			pkiroll_status_cem(g_store, r->community, cem_json, cem);
		if (json_object_size(cem) > 0)
			json_object_set_new(o, "cem", cem);
		else
			json_decref(cem);
	}
	row_emit(arg, o);
	return 0;
}

/* A date of the list, with what happened to its certificate. */
static void cert_day(const char *serial, time_t t, int revoked, char *buf, size_t len)
{
	char d[16];

	day(t, d, sizeof(d));
	snprintf(buf, len, "%s%s", d,
		 serial == NULL ? ""
		 : revoked	? " REVOKED"
		 : t <= g_now	? " EXPIRED"
				: "");
}

static int row_text(void *arg, const struct pkiroll_status_row *r)
{
	char s[32], e[32];

	(void)arg;
	cert_day(r->sign_serial, r->sign_not_after, r->sign_revoked, s, sizeof(s));
	cert_day(r->enc_serial, r->enc_not_after, r->enc_revoked, e, sizeof(e));
	printf("  %-24s %-11s signing %-32s %-10s encryption %-32s %-10s%s%s", shown(r->community),
	       pkiroll_state_name(r->state), r->sign_serial ? r->sign_serial : "-", s,
	       r->enc_serial ? r->enc_serial : "-", e, r->reason ? "  " : "",
	       r->reason ? shown(r->reason) : "");
	if (r->requested_subject)
		printf("  subject changed by the CA: %s (asked for %s)",
		       r->subject ? shown(r->subject) : "?", shown(r->requested_subject));
	if (r->renew_after && r->state == PKIROLL_STATE_ENROLLED) {
		char ra[16];

		day(r->renew_after, ra, sizeof(ra));
		printf("  renews after %s", ra);
	}
	if (g_store != NULL) {
		struct cem_count c = {0};

		pkiroll_status_cem(g_store, r->community, cem_count, &c);
		if (c.asked > 0 && c.accepted == c.partners)
			printf("  CEM: all %d partners accepted (rolled over)", c.partners);
		else if (c.asked > 0)
			printf("  CEM: %d of %d partners accepted, %d rejected", c.accepted,
			       c.partners, c.rejected);
	}
	putchar('\n');
	return 0;
}

static int print_json(pkiroll_store *store, const char *db, const struct pkiroll_status *st,
		      unsigned days)
{
	json_t *root = json_object(), *states = json_object();
	json_t *att = json_array(), *exp = json_array();
	struct json_rows w = {0};
	char *text, *end;
	int rc;

	json_object_set_new(root, "store", json_string(db));
	json_object_set_new(root, "total", json_integer((json_int_t)st->communities));
	for (int i = 0; i < PKIROLL_STATE__MAX; i++)
		json_object_set_new(states, pkiroll_state_name(i),
				    json_integer((json_int_t)st->count[i]));
	json_object_set_new(root, "states", states);
	for (size_t i = 0; i < st->nattention; i++) {
		const struct pkiroll_status_item *it = &st->attention[i];

		json_array_append_new(
			att,
			json_pack("{s:s, s:s, s:s, s:s?, s:b}", "community",
				  it->community ? it->community : "", "kind", it->kind, "state",
				  pkiroll_state_name(it->state) ? pkiroll_state_name(it->state)
								: "?",
				  "reason", it->reason, "retryable", it->retryable));
	}
	json_object_set_new(root, "attention", att);
	json_object_set_new(root, "expiring_days", json_integer(days));
	for (size_t i = 0; i < st->nexpiring; i++) {
		const struct pkiroll_status_cert *c = &st->expiring[i];

		json_t *o = json_pack("{s:s, s:s}", "community", c->community ? c->community : "",
				      "usage", c->usage ? c->usage : ""),
		       *x = cert_json(c->serial ? c->serial : "", c->not_after, -1);

		json_object_update(o, x);
		json_decref(x);
		json_array_append_new(exp, o);
	}
	json_object_set_new(root, "expiring", exp);
	/* the answer without its last brace, then the communities streamed
	 * into it: the same bytes as dumping it whole */
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL || (end = strrchr(text, '}')) == NULL) {
		free(text);
		return EXIT_FATAL;
	}
	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	fwrite(text, 1, (size_t)(end - text), stdout);
	free(text);
	fputs(",\n  \"communities\": [", stdout);
	rc = pkiroll_status_each(store, &cfg->renew_within, row_json, &w);
	fputs(w.n > 0 ? "\n  ]\n}\n" : "]\n}\n", stdout);
	return rc == PKIROLL_OK && !w.err && fflush(stdout) == 0 ? EXIT_DONE : EXIT_FATAL;
}

/* ---- one community's history ---- */

static const char *cert_status(const struct pkiroll_history_cert *c)
{
	return c->revoked_at ? "revoked" : c->current ? "current" : "replaced";
}

static int hist_cert_json(void *arg, const struct pkiroll_history_cert *c)
{
	json_t *o = json_object();
	char nb[32], na[32];

	utc(c->not_before, nb, sizeof(nb));
	utc(c->not_after, na, sizeof(na));
	json_object_set_new(o, "usage", json_string(c->usage));
	json_object_set_new(o, "serial", json_string(c->serial));
	json_object_set_new(o, "status", json_string(cert_status(c)));
	json_object_set_new(o, "subject", json_string(c->subject));
	json_object_set_new(o, "issuer", json_string(c->issuer));
	json_object_set_new(o, "not_before", json_string(nb));
	json_object_set_new(o, "not_after", json_string(na));
	json_object_set_new(o, "days_left", json_integer(days_left(c->not_after)));
	json_object_set_new(o, "expired", json_boolean(c->not_after <= g_now));
	json_object_set_new(o, "key_type", json_string(c->key_type));
	json_object_set_new(o, "md5", json_string(c->fp.md5));
	json_object_set_new(o, "sha1", json_string(c->fp.sha1));
	json_object_set_new(o, "sha256", json_string(c->fp.sha256));
	if (c->replaced_by)
		json_object_set_new(o, "replaced_by", json_string(c->replaced_by));
	if (c->revoked_at) {
		utc(c->revoked_at, nb, sizeof(nb));
		json_object_set_new(o, "revoked_at", json_string(nb));
		if (c->revoked_reason)
			json_object_set_new(o, "revocation_reason", json_string(c->revoked_reason));
	}
	json_array_append_new(json_object_get(arg, "certificates"), o);
	return 0;
}

static int hist_event_json(void *arg, const struct pkiroll_history_event *e)
{
	json_t *o = json_object();
	char at[32];

	utc(e->at, at, sizeof(at));
	json_object_set_new(o, "at", json_string(at));
	if (e->run)
		json_object_set_new(o, "run", json_integer(e->run));
	if (e->from)
		json_object_set_new(o, "from", json_string(e->from));
	if (e->to)
		json_object_set_new(o, "to", json_string(e->to));
	if (e->reason)
		json_object_set_new(o, "reason", json_string(e->reason));
	json_array_append_new(json_object_get(arg, "events"), o);
	return 0;
}

static int hist_cert_text(void *arg, const struct pkiroll_history_cert *c)
{
	char nb[16], na[16], rv[16];

	(void)arg;
	day(c->not_before, nb, sizeof(nb));
	day(c->not_after, na, sizeof(na));
	printf("  %-10s serial %s  %s to %s  %s  %s", c->usage, c->serial, nb, na, c->key_type,
	       cert_status(c));
	if (c->replaced_by)
		printf(" (replaced by %s)", c->replaced_by);
	if (c->revoked_at) {
		day(c->revoked_at, rv, sizeof(rv));
		printf(" (%s%s%s)", rv, c->revoked_reason ? ", " : "",
		       c->revoked_reason ? shown(c->revoked_reason) : "");
	}
	printf("\n             subject %s\n             SHA-256 %s\n             SHA-1   %s\n"
	       "             MD5     %s\n",
	       shown(c->subject), c->fp.sha256, c->fp.sha1, c->fp.md5);
	return 0;
}

static int hist_event_text(void *arg, const struct pkiroll_history_event *e)
{
	char at[32];

	(void)arg;
	utc(e->at, at, sizeof(at));
	printf("  %s  %s -> %s  %s\n", at, e->from ? e->from : "-", e->to ? e->to : "-",
	       e->reason ? shown(e->reason) : "");
	return 0;
}

static int print_history(pkiroll_store *store, const char *name, int json)
{
	json_t *root = NULL;
	int state = -1, r;

	if (json) {
		root = json_object();
		json_object_set_new(root, "community", json_string(name));
		json_object_set_new(root, "certificates", json_array());
		json_object_set_new(root, "events", json_array());
		r = pkiroll_status_history(store, name, &state, hist_cert_json, hist_event_json,
					   root);
		if (r == 1) {
			json_t *cem = json_object();

			pkiroll_status_cem(store, name, cem_json, cem);
			json_object_set_new(root, "cem", cem);
		}
	} else {
		printf("community %s\ncertificates, oldest first:\n", shown(name));
		r = pkiroll_status_history(store, name, &state, hist_cert_text, NULL, NULL);
		if (r == 1) {
			printf("events:\n");
			r = pkiroll_status_history(store, name, &state, NULL, hist_event_text,
						   NULL);
			printf("partners (CEM answers on the current certificates):\n");
			pkiroll_status_cem(store, name, cem_text, NULL);
			printf("state now: %s\n", pkiroll_state_name(state));
		}
	}
	if (r == 0)
		cli_error("status: no community \"%s\" in the store", name);
	if (r == 1 && json) {
		json_object_set_new(root, "state", json_string(pkiroll_state_name(state)));
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	}
	json_decref(root);
	return r == 1 ? EXIT_DONE : r == 0 ? EXIT_USAGE : EXIT_FATAL;
}

/* What an attention item is, for a person: its state, or the kind when
 * that says more ("renewal failed" of an enrolled community). */
static const char *attention_label(const struct pkiroll_status_item *it)
{
	if (strcmp(it->kind, "renewal_failed") == 0)
		return "renewal failed";
	if (strcmp(it->kind, "warning") == 0)
		return "warning";
	if (strcmp(it->kind, "deploy_pending") == 0)
		return "deploy pending";
	return pkiroll_state_name(it->state) ? pkiroll_state_name(it->state) : it->kind;
}

static void print_text(const char *db, const struct pkiroll_status *st, unsigned days)
{
	char when[32];

	printf("store %s: %lu communities\n", db, st->communities);
	for (int i = 0; i < PKIROLL_STATE__MAX; i++)
		if (st->count[i] > 0)
			printf("  %-12s %lu\n", pkiroll_state_name(i), st->count[i]);
	if (st->nattention > 0) {
		printf("\nneed attention:\n");
		for (size_t i = 0; i < st->nattention; i++) {
			const struct pkiroll_status_item *it = &st->attention[i];

			printf("  %s  %s%s: %s\n", shown(it->community), attention_label(it),
			       it->retryable ? "" : " (no retry)",
			       it->reason ? shown(it->reason) : "no reason recorded");
		}
	}
	printf("\ncertificates expiring within %u days: %zu\n", days, st->nexpiring);
	for (size_t i = 0; i < st->nexpiring; i++) {
		const struct pkiroll_status_cert *c = &st->expiring[i];

		utc(c->not_after, when, sizeof(when));
		printf("  %s  %s  serial %s  not after %s%s\n", shown(c->community), c->usage,
		       c->serial, when, c->not_after <= g_now ? "  EXPIRED" : "");
	}
}

/* ---- status --check: the monitoring plugin ---- */

/* The monitoring plugin convention's exit codes (Nagios, Icinga, Zabbix). */
enum { CHECK_OK = 0, CHECK_WARNING, CHECK_CRITICAL, CHECK_UNKNOWN };

static const char *const check_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

/* Prints the UNKNOWN line; returns its exit code. */
static int check_unknown(const char *why)
{
	printf("PKIROLL UNKNOWN - %s\n", why);
	return CHECK_UNKNOWN;
}

/* Appends to buf (len bytes) at *n, never past its end. */
static void append(char *buf, size_t len, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n = *n + (size_t)w < len ? *n + (size_t)w : len;
}

/* A community's name in the status line: escaped, and without the '|'
 * that would start the perfdata. */
static const char *line_name(const char *name)
{
	static char buf[300];

	snprintf(buf, sizeof(buf), "%s", shown(name));
	for (char *p = buf; *p; p++)
		if (*p == '|')
			*p = '/';
	return buf;
}

/* The status line and its exit code: CRITICAL for an expired current
 * certificate or one within crit, WARNING for attention or one within
 * warn (seconds). */
static int print_check(const struct pkiroll_status *st, long long warn, long long crit)
{
	long long left = (long long)st->soonest - (long long)g_now;
	int code = CHECK_OK;
	char sum[1024];
	size_t n = 0;

	if (st->nattention > 0 || (st->certificates > 0 && left < warn))
		code = CHECK_WARNING;
	if (st->expired > 0 || (st->certificates > 0 && left < crit))
		code = CHECK_CRITICAL;
	append(sum, sizeof(sum), &n, "%lu enrolled", st->count[PKIROLL_STATE_ENROLLED]);
	if (st->nattention > 0) {
		append(sum, sizeof(sum), &n, ", %zu need attention (", st->nattention);
		for (size_t i = 0; i < st->nattention && i < 3; i++)
			append(sum, sizeof(sum), &n, "%s%s", i ? ", " : "",
			       line_name(st->attention[i].community));
		append(sum, sizeof(sum), &n, "%s)", st->nattention > 3 ? ", ..." : "");
	}
	if (st->expired > 0)
		append(sum, sizeof(sum), &n, ", %lu certificates expired", st->expired);
	if (st->certificates == 0)
		append(sum, sizeof(sum), &n, ", no current certificates");
	else if (left > 0)
		append(sum, sizeof(sum), &n, ", soonest expiry in %lld days",
		       days_left(st->soonest));
	else
		append(sum, sizeof(sum), &n, ", soonest expired %lld days ago",
		       -days_left(st->soonest));
	printf("PKIROLL %s - %s |", check_names[code], sum);
	for (int i = 0; i < PKIROLL_STATE__MAX; i++)
		printf(" %s=%lu;;;", pkiroll_state_name(i), st->count[i]);
	printf(" attention=%zu;;; expired=%lu;;;", st->nattention, st->expired);
	if (st->certificates > 0)
		/* "30:" is the plugin guidelines' range for "alert below 30";
		 * a bare "30" would mean "alert above 30" */
		printf(" soonest_expiry_days=%lld;%g:;%g:;;", days_left(st->soonest),
		       (double)warn / 86400, (double)crit / 86400);
	putchar('\n');
	return code;
}

/* An AGE of --warn or --crit: 30d, 12h, 2w, 900s or days. 0, or -1. */
static int parse_age(const char *v, long long *secs)
{
	struct pkiroll_window w;
	char buf[32];

	if (v[0] != '\0' && strspn(v, "0123456789") == strlen(v) &&
	    snprintf(buf, sizeof(buf), "%sd", v) < (int)sizeof(buf))
		v = buf;
	if (pkiroll_window_parse(v, &w) < 0 || w.pct != 0)
		return -1;
	*secs = w.secs;
	return 0;
}

/* What status is asked for. */
struct status_opts {
	int json, all, brief, check;
	unsigned days;
	long long warn, crit; /* --check: seconds */
};

/* The options into o; 0, or -1 (reported: on stdout as the UNKNOWN line
 * with --check, else on stderr). */
static int parse_options(struct cli *cli, struct status_opts *o)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},	{"days", required_argument, NULL, 'd'},
		{"all", no_argument, NULL, 'a'},	{"brief", no_argument, NULL, 'b'},
		{"check", no_argument, NULL, 'c'},	{"warn", required_argument, NULL, 'w'},
		{"crit", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0},
	};
	char why[300] = "", *end;
	int c;

	/* --check anywhere: every problem is UNKNOWN, on stdout */
	for (int i = 1; i < cli->argc && strcmp(cli->argv[i], "--") != 0; i++)
		o->check |= strcmp(cli->argv[i], "--check") == 0;
	optind = 1;
	opterr = 0;
	while (why[0] == '\0' && (c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		unsigned long v;

		switch (c) {
		case 'j':
			o->json = 1;
			break;
		case 'a':
			o->all = 1;
			break;
		case 'b':
			o->brief = 1;
			break;
		case 'c':
			break;
		case 'w':
		case 'C':
			if (parse_age(optarg, c == 'w' ? &o->warn : &o->crit) < 0)
				snprintf(why, sizeof(why),
					 "--%s takes an age (30d, 12h, 2w, 900s or days)",
					 c == 'w' ? "warn" : "crit");
			break;
		case 'd':
			v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v > 36500)
				snprintf(why, sizeof(why),
					 "--days must be a number of days (0-36500)");
			o->days = (unsigned)v;
			break;
		default:
			snprintf(why, sizeof(why),
				 "unknown option \"%.200s\" (see pkiroll status --help)",
				 cli->argv[optind - 1]);
		}
	}
	if (why[0] == '\0' && optind < cli->argc - (o->check ? 0 : 1))
		snprintf(why, sizeof(why), "unexpected argument \"%.200s\"",
			 cli->argv[optind + (o->check ? 0 : 1)]);
	if (why[0] == '\0')
		return 0;
	if (o->check)
		check_unknown(why);
	else
		cli_error("status: %s", why);
	return -1;
}

/* pkiroll status --check: every failure is UNKNOWN. */
static int run_check(struct cli *cli, const struct status_opts *o)
{
	struct pkiroll_status *st = NULL;
	pkiroll_store *store = NULL;
	char why[700];
	int rc;

	if (cli_config(cli) == NULL || (cli->db = cli_store_path(cli)) == NULL)
		return check_unknown("the configuration cannot be read");
	if (pkiroll_store_open(cli->ctx, cli->db, 0, &store) != PKIROLL_OK) {
		snprintf(why, sizeof(why), "store %s cannot be opened", line_name(cli->db));
		return check_unknown(why);
	}
	if (pkiroll_status_get(store, g_now, 0, &st) != PKIROLL_OK) {
		pkiroll_store_close(store);
		snprintf(why, sizeof(why), "store %s cannot be read", line_name(cli->db));
		return check_unknown(why);
	}
	rc = print_check(st, o->warn, o->crit);
	pkiroll_status_free(st);
	pkiroll_store_close(store);
	return rc;
}

int cmd_status(struct cli *cli)
{
	struct status_opts o = {.days = 30, .warn = 30 * 86400LL, .crit = 7 * 86400LL};
	struct pkiroll_status *st = NULL;
	pkiroll_store *store = NULL;
	int err, rc;

	g_now = time(NULL);
	if (parse_options(cli, &o) < 0)
		return o.check ? CHECK_UNKNOWN : EXIT_USAGE;
	if (o.check)
		return run_check(cli, &o);
	if ((cfg = cli_config(cli)) == NULL)
		return EXIT_USAGE;
	if ((cli->db = cli_store_path(cli)) == NULL)
		return EXIT_USAGE;
	if ((err = pkiroll_store_open(cli->ctx, cli->db, 0, &store)) != PKIROLL_OK)
		return EXIT_FATAL;
	g_store = store;
	if (optind == cli->argc - 1) {
		rc = print_history(store, cli->argv[optind], o.json);
		pkiroll_store_close(store);
		return rc;
	}
	err = pkiroll_status_get(store, g_now, o.days, &st);
	if (err != PKIROLL_OK) {
		pkiroll_store_close(store);
		cli_error("status: %s", pkiroll_strerror(err));
		return EXIT_FATAL;
	}
	if (o.json) {
		rc = print_json(store, cli->db, st, o.days);
	} else {
		print_text(cli->db, st, o.days);
		if (!o.brief && (o.all || st->communities <= 200)) {
			printf("\ncommunities:\n");
			pkiroll_status_each(store, &cfg->renew_within, row_text, NULL);
		} else if (!o.brief) {
			printf("\n%lu communities: --all lists them\n", st->communities);
		}
		rc = EXIT_DONE;
	}
	pkiroll_store_close(store);
	pkiroll_status_free(st);
	return rc;
}
