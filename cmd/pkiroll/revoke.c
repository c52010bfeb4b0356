/*
 * pkiroll revoke COMMUNITY...: an rr for each (pkiroll_revoke). Its options
 * and its run serve retire --revoke too.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"

const char help_revoke[] =
	"usage: pkiroll revoke COMMUNITY... --reason REASON [--usage signing|encryption|both]\n"
	"                      [--dry-run] [-j N] [--ca PROFILE | --ca-url URL]\n"
	"                      [--keystore-dir DIR] [--keystore-pass-file FILE |\n"
	"                      --keystore-pass-fd N] [--reference R --code-file FILE]\n"
	"                      [--dump-dir DIR] [--yes] [--deploy-hook CMD]\n"
	"                      [--post-hook CMD] [--hook-timeout SECS] [--report FILE]\n"
	"\n"
	"Asks the CA to revoke each community's current certificates (both by\n"
	"default) with one rr (RFC 4210 5.3.9), signed with its signing key from the\n"
	"keystore. REASON is keyCompromise, affiliationChanged, superseded,\n"
	"cessationOfOperation or unspecified (RFC 5280 5.3.1; any case). The request is on\n"
	"record in the store before it goes out, and the CA's answer after; a\n"
	"revoked community goes to needs_codes: a compromised key is re-enrolled\n"
	"with new codes, never renewed with kur. A certificate revoked already is\n"
	"not asked for again. A CA that does not answer leaves the request on\n"
	"record: run the same command again. Revoked certificates leave the partner\n"
	"bundles (pkiroll bundle --stale).\n"
	"\n"
	"When the signing key itself is compromised and the CA profile says\n"
	"revoke_protection = codes, the rr goes under a MAC with new codes instead:\n"
	"--reference R --code-file FILE (one community).\n"
	"\n"
	"A revocation cannot be undone. On a terminal, revoke shows what it will\n"
	"revoke (communities, serials, reason) and asks; it goes on only on y or\n"
	"yes. When standard input is not a terminal it refuses unless --yes is\n"
	"given (scripts, cron). --dry-run needs neither.\n"
	"\n"
	"--dump-dir DIR and -vvv as for pkiroll enroll: the rr and the rp as DER\n"
	"files, a trace line for each.\n"
	"\n"
	"exit: 0 all revoked (or revoked already), 1 some were not (refused, no\n"
	"      answer, unknown; or the question was answered no: nothing revoked),\n"
	"      2 usage or configuration (no terminal and no --yes), 3 store or I/O\n";

int cli_revoke_option(const char *cmd, int c, struct cli_revoke *r)
{
	switch (c) {
	case CLI_OPT_USAGE:
		r->rv.usage = strcmp(optarg, "signing") == 0	  ? 1
			      : strcmp(optarg, "encryption") == 0 ? 2
			      : strcmp(optarg, "both") == 0	  ? 3
								  : -1;
		if (r->rv.usage < 0) {
			cli_error("%s: --usage is signing, encryption or both", cmd);
			return -1;
		}
		return 1;
	case CLI_OPT_REASON:
		if ((r->rv.reason = pkiroll_revocation_reason(optarg)) < 0 || r->rv.reason == 8) {
			cli_error("%s: --reason is keyCompromise, affiliationChanged, superseded, "
				  "cessationOfOperation or unspecified",
				  cmd);
			return -1;
		}
		r->reason_given = 1;
		return 1;
	case CLI_OPT_REFERENCE:
		r->rv.reference = optarg;
		return 1;
	case CLI_OPT_CODE_FILE:
		r->code_file = optarg;
		return 1;
	case CLI_OPT_YES:
		r->yes = 1;
		return 1;
	default:
		return 0;
	}
}

int cli_revoke_args(struct cli *cli, const char *cmd, struct cli_revoke *r, int need_reason,
		    int insecure)
{
	char spec[1100], why[300];

	/* the communities are the arguments */
	if (optind >= cli->argc) {
		cli_error("%s: which COMMUNITY? (see pkiroll %s --help)", cmd, cmd);
		return EXIT_USAGE;
	}
	r->rv.communities = (const char *const *)cli->argv + optind;
	r->rv.ncommunities = cli->argc - optind;
	if (need_reason && !r->reason_given) {
		cli_error("%s: --reason is required (keyCompromise, affiliationChanged, "
			  "superseded, cessationOfOperation)",
			  cmd);
		return EXIT_USAGE;
	}
	if (r->rv.usage == 0)
		r->rv.usage = 3;
	if (r->code_file == NULL)
		return 0;
	if (r->rv.reference == NULL || r->rv.ncommunities != 1) {
		cli_error("%s: --code-file needs --reference and one COMMUNITY", cmd);
		return EXIT_USAGE;
	}
	snprintf(spec, sizeof(spec), "file:%s", r->code_file);
	if (pkiroll_code_resolve(spec, insecure, r->code, sizeof(r->code), why, sizeof(why)) < 0) {
		cli_error("%s: --code-file %s", cmd, why);
		return EXIT_USAGE;
	}
	r->rv.code = r->code;
	return 0;
}

/* What the question lists: a community's current certificates of the usage. */
struct shown {
	const char *community;
	int usage, n;
};

/* pkiroll_history_cert_fn: one line per certificate that would be revoked */
static int show_cert(void *arg, const struct pkiroll_history_cert *c)
{
	struct shown *s = arg;
	int bit = strcmp(c->usage, "signing") == 0 ? 1 : 2;

	if (!c->current || c->revoked_at != 0 || !(s->usage & bit))
		return 0;
	fprintf(stderr, "  %s: %s certificate serial %s\n", s->community, c->usage, c->serial);
	s->n++;
	return 0;
}

/* A revocation cannot be undone: on a terminal, show it and ask; without
 * one, only with --yes. 0 go on, else the exit code (reported). */
static int confirm(struct cli *cli, const char *cmd, const struct cli_run *run,
		   const struct cli_revoke *r)
{
	pkiroll_store *store = NULL;
	char line[64];
	int total = 0;

	if (r->yes || run->o.dry_run)
		return 0;
	if (!isatty(0)) {
		cli_error("%s: a revocation cannot be undone, and there is no terminal to ask on: "
			  "pass --yes to revoke without asking",
			  cmd);
		return EXIT_USAGE;
	}
	/* Phase: what will be revoked, from the store as it is. */
	if (pkiroll_store_open(cli->ctx, run->o.db, 0, &store) != PKIROLL_OK)
		return EXIT_FATAL;
	fprintf(stderr, "%s: asking the CA to revoke, reason %s:\n", cmd,
		pkiroll_revocation_reason_name(r->rv.reason));
	for (int i = 0; i < r->rv.ncommunities; i++) {
		struct shown s = {r->rv.communities[i], r->rv.usage, 0};
		int state,
			g = pkiroll_status_history(store, s.community, &state, show_cert, NULL, &s);

		if (g == 0)
			fprintf(stderr, "  %s: not in the store\n", s.community);
		else if (g == 1 && s.n == 0)
			fprintf(stderr, "  %s: nothing left to revoke\n", s.community);
		total += s.n;
	}
	pkiroll_store_close(store);
	/* Phase: the answer, y or yes. */
	fprintf(stderr, "Revoke %d certificate%s? This cannot be undone. [y/N] ", total,
		total == 1 ? "" : "s");
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0)
		return 0;
	fprintf(stderr, "%s: nothing revoked\n", cmd);
	return EXIT_SOME;
}

int cli_revoke_run(struct cli *cli, const char *cmd, struct cli_run *run, struct cli_revoke *r,
		   int *done)
{
	struct pkiroll_run_stats st;
	int err, rc;

	*done = 0;
	if ((rc = confirm(cli, cmd, run, r)) != 0)
		return rc;
	if ((rc = cli_run_start(cli, cmd, run, 0)) != 0)
		return rc;
	err = pkiroll_revoke(cli->ctx, &run->o, &r->rv, &st);
	OPENSSL_cleanse(r->code, sizeof(r->code));
	if ((rc = cli_run_finish(cli, cmd, run, err, &st, "revoked")) >= 0)
		return rc;
	if (!cli->quiet)
		printf("revoke: %d named, %lu sent: %lu revoked, %lu not (failed or "
		       "refused), %lu skipped, %lu retries, %.1f s%s\n",
		       r->rv.ncommunities, st.due, st.revoked, st.failed, st.skipped, st.retries,
		       st.elapsed, st.interrupted ? " (interrupted: run again)" : "");
	*done = 1;
	return cli_run_exit(&st);
}

/* cli_own_option_fn of revoke */
static int revoke_option(int c, void *arg)
{
	return cli_revoke_option("revoke", c, arg);
}

int cmd_revoke(struct cli *cli)
{
	/* the others are named so that the message can say whose they are */
	static const struct option opts[] = {CLI_RUN_OPTIONS,	 CLI_REVOKE_OPTIONS,
					     CLI_RENEW_OPTIONS,	 CLI_BUNDLE_OPTIONS,
					     CLI_RETIRE_OPTIONS, CLI_OPTIONS_END};
	struct cli_run run = CLI_RUN_INIT;
	struct cli_revoke rk = {0};
	int rc, done;

	if ((rc = cli_run_parse(cli, "revoke", opts, &run, revoke_option, &rk)) != 0)
		return rc;
	if ((rc = cli_revoke_args(cli, "revoke", &rk, 1, run.pass.insecure)) == 0 &&
	    (rc = cli_run_config(cli, "revoke", &run)) == 0)
		rc = cli_run_report(cli, "revoke", &run,
				    cli_revoke_run(cli, "revoke", &run, &rk, &done));
	OPENSSL_cleanse(rk.code, sizeof(rk.code));
	return rc;
}
