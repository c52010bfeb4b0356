/*
 * pkiroll status [COMMUNITY] [--json] [--days N]: what the store says.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

const char help_status[] =
	"usage: pkiroll status [COMMUNITY] [--json] [--days N] [--all | --brief]\n"
	"\n"
	"With COMMUNITY: its history, every certificate it had (usage, serial,\n"
	"validity, fingerprints; current, replaced by which serial, or revoked) and\n"
	"every event with its reason. Exit 2 when there is no such community.\n"
	"\n"
	"Without:\n"
	"Counts of communities per state, the communities that need attention\n"
	"(failed, needs_codes) with their reasons, and the current certificates\n"
	"that expire within N days (default 30).\n"
	"\n"
	"Then every community: state, reason, the serial and expiry of its current\n"
	"signing and encryption certificates, its keystore directory and when\n"
	"pkiroll renew takes it (renew_within from the configuration; up to 200\n"
	"communities; --all for more, --brief for none).\n"
	"\n"
	"  --json    one JSON object on stdout (with every community)\n"
	"  --days N  expiry window in days\n"
	"  --all     list every community however many\n"
	"  --brief   counts, attention and expiry only\n";

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

static int row_json(void *arg, const struct pkiroll_status_row *r)
{
	json_t *list = arg, *o = json_object();
	char when[32];

	json_object_set_new(o, "community", json_string(r->community));
	json_object_set_new(
		o, "state",
		json_string(pkiroll_state_name(r->state) ? pkiroll_state_name(r->state) : "?"));
	if (r->reason)
		json_object_set_new(o, "reason", json_string(r->reason));
	if (r->sign_serial) {
		utc(r->sign_not_after, when, sizeof(when));
		json_object_set_new(
			o, "signing",
			json_pack("{s:s, s:s}", "serial", r->sign_serial, "not_after", when));
	}
	if (r->enc_serial) {
		utc(r->enc_not_after, when, sizeof(when));
		json_object_set_new(
			o, "encryption",
			json_pack("{s:s, s:s}", "serial", r->enc_serial, "not_after", when));
	}
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
	json_array_append_new(list, o);
	return 0;
}

static int row_text(void *arg, const struct pkiroll_status_row *r)
{
	char s[16], e[16];

	(void)arg;
	day(r->sign_not_after, s, sizeof(s));
	day(r->enc_not_after, e, sizeof(e));
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
	char when[32];
	int rc;

	json_object_set_new(root, "store", json_string(db));
	json_object_set_new(root, "communities", json_integer((json_int_t)st->communities));
	for (int i = 0; i < PKIROLL_STATE__MAX; i++)
		json_object_set_new(states, pkiroll_state_name(i),
				    json_integer((json_int_t)st->count[i]));
	json_object_set_new(root, "states", states);
	for (size_t i = 0; i < st->nattention; i++) {
		const struct pkiroll_status_item *it = &st->attention[i];

		json_array_append_new(
			att, json_pack("{s:s, s:s, s:s?, s:b}", "community",
				       it->community ? it->community : "", "state",
				       pkiroll_state_name(it->state) ? pkiroll_state_name(it->state)
								     : "?",
				       "reason", it->reason, "retryable", it->retryable));
	}
	json_object_set_new(root, "attention", att);
	json_object_set_new(root, "expiring_days", json_integer(days));
	for (size_t i = 0; i < st->nexpiring; i++) {
		const struct pkiroll_status_cert *c = &st->expiring[i];

		utc(c->not_after, when, sizeof(when));
		json_array_append_new(exp,
				      json_pack("{s:s, s:s, s:s, s:s}", "community",
						c->community ? c->community : "", "usage",
						c->usage ? c->usage : "", "serial",
						c->serial ? c->serial : "", "not_after", when));
	}
	json_object_set_new(root, "expiring", exp);
	{
		json_t *list = json_array();

		pkiroll_status_each(store, &cfg->renew_within, row_json, list);
		json_object_set_new(root, "list", list);
	}
	rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(root);
	return rc == 0 ? EXIT_DONE : EXIT_FATAL;
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

			printf("  %s  %s%s: %s\n", shown(it->community),
			       pkiroll_state_name(it->state), it->retryable ? "" : " (no retry)",
			       it->reason ? shown(it->reason) : "no reason recorded");
		}
	}
	printf("\ncertificates expiring within %u days: %zu\n", days, st->nexpiring);
	for (size_t i = 0; i < st->nexpiring; i++) {
		const struct pkiroll_status_cert *c = &st->expiring[i];

		utc(c->not_after, when, sizeof(when));
		printf("  %s  %s  serial %s  not after %s\n", shown(c->community), c->usage,
		       c->serial, when);
	}
}

int cmd_status(struct cli *cli)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"days", required_argument, NULL, 'd'},
		{"all", no_argument, NULL, 'a'},
		{"brief", no_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	struct pkiroll_status *st = NULL;
	pkiroll_store *store = NULL;
	unsigned days = 30;
	int c, json = 0, err, rc, all = 0, brief = 0;
	char *end;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'b':
			brief = 1;
			break;
		case 'd': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v > 36500) {
				cli_error("status: --days must be a number of days (0-36500)");
				return EXIT_USAGE;
			}
			days = (unsigned)v;
			break;
		}
		default:
			cli_error("status: unknown option \"%s\" (see pkiroll status --help)",
				  cli->argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if ((cfg = cli_config(cli)) == NULL)
		return EXIT_USAGE;
	if (optind < cli->argc - 1) {
		cli_error("status: unexpected argument \"%s\"", cli->argv[optind + 1]);
		return EXIT_USAGE;
	}
	if ((cli->db = cli_store_path(cli)) == NULL)
		return EXIT_USAGE;
	if ((err = pkiroll_store_open(cli->ctx, cli->db, 0, &store)) != PKIROLL_OK)
		return EXIT_FATAL;
	g_store = store;
	if (optind == cli->argc - 1) {
		rc = print_history(store, cli->argv[optind], json);
		pkiroll_store_close(store);
		return rc;
	}
	err = pkiroll_status_get(store, time(NULL), days, &st);
	if (err != PKIROLL_OK) {
		pkiroll_store_close(store);
		cli_error("status: %s", pkiroll_strerror(err));
		return EXIT_FATAL;
	}
	if (json) {
		rc = print_json(store, cli->db, st, days);
	} else {
		print_text(cli->db, st, days);
		if (!brief && (all || st->communities <= 200)) {
			printf("\ncommunities:\n");
			pkiroll_status_each(store, &cfg->renew_within, row_text, NULL);
		} else if (!brief) {
			printf("\n%lu communities: --all lists them\n", st->communities);
		}
		rc = EXIT_DONE;
	}
	pkiroll_store_close(store);
	pkiroll_status_free(st);
	return rc;
}
