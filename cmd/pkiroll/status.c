/*
 * pkiroll status [--json] [--days N]: what the store says.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

const char help_status[] =
	"usage: pkiroll status [--json] [--days N]\n"
	"\n"
	"Counts of communities per state, the communities that need attention\n"
	"(failed, needs_codes) with their reasons, and the current certificates\n"
	"that expire within N days (default 30).\n"
	"\n"
	"  --json    one JSON object on stdout\n"
	"  --days N  expiry window in days\n";

static void utc(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_json(const char *db, const struct pkiroll_status *st, unsigned days)
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
	rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(root);
	return rc == 0 ? EXIT_DONE : EXIT_FATAL;
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

			printf("  %s  %s%s: %s\n", it->community, pkiroll_state_name(it->state),
			       it->retryable ? "" : " (no retry)",
			       it->reason ? it->reason : "no reason recorded");
		}
	}
	printf("\ncertificates expiring within %u days: %zu\n", days, st->nexpiring);
	for (size_t i = 0; i < st->nexpiring; i++) {
		const struct pkiroll_status_cert *c = &st->expiring[i];

		utc(c->not_after, when, sizeof(when));
		printf("  %s  %s  serial %s  not after %s\n", c->community, c->usage, c->serial,
		       when);
	}
}

int cmd_status(struct cli *cli)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"days", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct pkiroll_status *st = NULL;
	pkiroll_store *store = NULL;
	unsigned days = 30;
	int c, json = 0, err, rc;
	char *end;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
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
	if (optind != cli->argc) {
		cli_error("status: unexpected argument \"%s\"", cli->argv[optind]);
		return EXIT_USAGE;
	}
	if ((err = pkiroll_store_open(cli->ctx, cli->db, 0, &store)) != PKIROLL_OK)
		return EXIT_FATAL;
	err = pkiroll_status_get(store, time(NULL), days, &st);
	pkiroll_store_close(store);
	if (err != PKIROLL_OK) {
		cli_error("status: %s", pkiroll_strerror(err));
		return EXIT_FATAL;
	}
	if (json) {
		rc = print_json(cli->db, st, days);
	} else {
		print_text(cli->db, st, days);
		rc = EXIT_DONE;
	}
	pkiroll_status_free(st);
	return rc;
}
