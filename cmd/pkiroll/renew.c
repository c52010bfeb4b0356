/*
 * pkiroll renew [MANIFEST]: the enroll run first when a manifest is given,
 * then renew what expires soon (pkiroll_renew); with --bundle and --cem,
 * what the partners get of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

const char help_renew[] =
	"usage: pkiroll renew [MANIFEST] [--within 30d|33%] [--limit N] [--community NAME]...\n"
	"                     [--now] [--dry-run] [--bundle] [--cem] [-j N] [--ca PROFILE |\n"
	"                     --ca-url URL] [--keystore-dir DIR] [--keystore-pass-file FILE |\n"
	"                     --keystore-pass-fd N] [--bundle-dir DIR] [--dump-dir DIR]\n"
	"                     [--deploy-hook CMD] [--post-hook CMD] [--hook-timeout SECS]\n"
	"                     [--report FILE]\n"
	"\n"
	"Renews, without new activation codes, every enrolled community whose\n"
	"signing or encryption certificate expires within the window: kur (RFC 4210\n"
	"5.3.5) signed with the current certificate, a new client-made signing key,\n"
	"and for a dual-key community a new CA-made encryption key pair (the CA\n"
	"profile's renew_encryption = kur | keep | reenroll). The new PKCS#12 is\n"
	"written and synced as keystore.p12.staged beside the current one and\n"
	"renamed over it only after the CA confirmed; the previous one stays as\n"
	"keystore-SERIAL.p12, and the new one also holds the earlier decryption\n"
	"keys (encryption-SERIAL; keep_decryption_keys, default " CLI_STR(
		PKIROLL_DEFAULT_KEEP_DECRYPTION_KEYS) "). A run killed\n"
						      "at any point resumes on the next: nothing "
						      "is renewed twice.\n"
						      "\n"
						      "Each community renews at a stable point "
						      "inside the first half of its\n"
						      "window, derived from its name, so a fleet "
						      "enrolled on one day renews over\n"
						      "several nights (pkiroll status shows the "
						      "date). With MANIFEST, its rows\n"
						      "are imported and the due ones enrolled "
						      "first, as by pkiroll enroll: new\n"
						      "codes there re-enroll a community that "
						      "needs them.\n"
						      "\n"
						      "  --within W           30d, 12h, 2w or 33% "
						      "of the lifetime (default: the\n"
						      "                       config's "
						      "renew_within, "
						      "else " PKIROLL_DEFAULT_RENEW_WITHIN ")\n"
						      "  --community NAME     renew this one "
						      "whatever its dates (repeatable);\n"
						      "                       only the named ones "
						      "are renewed\n"
						      "  --now                no spreading: "
						      "everything inside the window is due\n"
						      "  --limit N            renew at most N "
						      "communities this run\n"
						      "  --dry-run            show what would be "
						      "renewed, why and when (renew-after\n"
						      "                       date, earliest "
						      "notAfter); no CA needed, nothing written\n"
						      "  --bundle             then rebuild the "
						      "partner bundles that hold a\n"
						      "                       replaced certificate "
						      "(as pkiroll bundle --stale)\n"
						      "  --bundle-dir DIR     where they go "
						      "(default: the config's bundle_dir,\n"
						      "                       else "
						      "./" PKIROLL_DEFAULT_BUNDLE_DIR ")\n"
						      "  --cem                also write the "
						      "partners' CEM requests for the new\n"
						      "                       certificates (as "
						      "pkiroll cem --sign, into the config's\n"
						      "                       cem_dir), and with "
						      "--bundle put them in the zips\n"
						      "  other options as for pkiroll enroll "
						      "(--dump-dir and -vvv too)\n"
						      "\n"
						      "A certificate that has expired or was "
						      "revoked, or a CA that refuses the\n"
						      "kur, leaves the community in needs_codes "
						      "with the reason: give it a new\n"
						      "reference number and authorization code in "
						      "the manifest. Other failures\n"
						      "keep the current certificates and are "
						      "retried on later runs (after 1, 2,\n"
						      "4, 8, then 16 hours); the renew-after date "
						      "never moves.\n"
						      "\n"
						      "Silent when there is nothing to do (for "
						      "cron); one summary line otherwise.\n"
						      "exit: 0 nothing to do or all renewed, 1 "
						      "some failed or need new codes,\n"
						      "      2 usage or configuration, 3 store or "
						      "I/O error (or the store is in use),\n"
						      "      130/143 stopped by SIGINT/SIGTERM "
						      "(what finished is saved)\n";

/* What renew takes besides the run options. */
struct renew_args {
	struct pkiroll_renew_opts rn;
	const char **names; /* --community, grown here */
	const char *bundle_dir;
	int bundle;
	int cem;
};

/* One of renew's own options: 1 taken, 0 not one, -1 bad (reported). */
static int renew_option(int c, void *arg)
{
	struct renew_args *a = arg;
	const char **nn;

	if (cli_bundle_option(c, &a->bundle, &a->bundle_dir))
		return 1;
	switch (c) {
	case CLI_OPT_WITHIN:
		if (pkiroll_window_parse(optarg, &a->rn.within) < 0) {
			cli_error("renew: --within takes 30d, 12h, 2w, 900s or 33%%");
			return -1;
		}
		return 1;
	case CLI_OPT_COMMUNITY:
		nn = realloc(a->names, (size_t)(a->rn.ncommunities + 1) * sizeof(*a->names));
		if (nn == NULL) {
			cli_error("renew: --community is for pkiroll renew");
			return -1;
		}
		a->names = nn;
		a->names[a->rn.ncommunities++] = optarg;
		a->rn.communities = a->names;
		return 1;
	case CLI_OPT_NOW:
		a->rn.now = 1;
		return 1;
	case CLI_OPT_CEM:
		a->cem = 1;
		return 1;
	default:
		return 0;
	}
}

/* The rollover's CEM requests, signed with the previous keys. */
static int renew_cem(struct cli *cli, const struct cli_run *run)
{
	struct pkiroll_cem_opts co = {
		.out_dir = run->cfg->cem_dir,
		.respond_within = run->cfg->cem_respond_within,
		.response_url = run->cfg->cem_response_url[0] ? run->cfg->cem_response_url : NULL,
		.sign = run->passphrase != NULL,
		.keystore_dir = run->o.keystore_dir,
		.pass = run->passphrase};

	return cli_cem_write(cli, &co);
}

/* The parse: 0, or the exit code. */
static int renew_parse(struct cli *cli, struct cli_run *run, struct renew_args *a)
{
	/* revoke's and retire's are named so that the message can say whose */
	static const struct option opts[] = {CLI_RUN_OPTIONS,	 CLI_RENEW_OPTIONS,
					     CLI_BUNDLE_OPTIONS, CLI_REVOKE_OPTIONS,
					     CLI_RETIRE_OPTIONS, CLI_OPTIONS_END};
	int r;

	if ((r = cli_run_parse(cli, "renew", opts, run, renew_option, a)) != 0)
		return r;
	if (optind < cli->argc - 1) {
		cli_error("renew: at most one MANIFEST expected (see pkiroll renew --help)");
		return EXIT_USAGE;
	}
	return 0;
}

int cmd_renew(struct cli *cli)
{
	struct cli_run run = CLI_RUN_INIT;
	struct renew_args a = {0};
	struct pkiroll_run_stats st;
	int err, rc, cem_rc = EXIT_DONE;

	if ((rc = renew_parse(cli, &run, &a)) != 0)
		goto out;
	run.e.manifest = optind < cli->argc ? cli->argv[optind] : NULL;
	/* cron: a renewal with nothing to do prints nothing, not even progress */
	if ((rc = cli_run_config(cli, "renew", &run)) != 0 ||
	    (rc = cli_run_start(cli, "renew", &run, run.e.manifest != NULL && isatty(2))) != 0)
		goto out;
	a.rn.enroll = run.e;
	err = pkiroll_renew(cli->ctx, &run.o, &a.rn, &st);
	if (err == PKIROLL_OK && a.cem && !run.o.dry_run && st.renewed > 0)
		cem_rc = renew_cem(cli, &run);
	if ((rc = cli_run_finish(cli, "renew", &run, err, &st, "enrolled or renewed")) >= 0)
		goto report;
	rc = cli_run_exit(&st);
	/* cron: silent when there was nothing to do */
	if (!cli->quiet &&
	    (st.due || st.failed || st.needs_codes || st.skipped || st.bad_rows || st.interrupted))
		printf("renew: %lu due: %lu renewed, %lu enrolled, %lu failed, %lu need "
		       "new "
		       "codes, %lu skipped, %lu retries, %.1f s%s\n",
		       st.due, st.renewed, st.enrolled, st.failed, st.needs_codes, st.skipped,
		       st.retries, st.elapsed,
		       st.interrupted ? " (interrupted: run again to resume)" : "");
	cli_run_rusage(cli);
	if (a.bundle && st.renewed > 0 &&
	    cli_bundle_stale(cli, a.bundle_dir ? a.bundle_dir : run.cfg->bundle_dir, a.cem) !=
		    EXIT_DONE)
		rc = EXIT_SOME;
	if (cem_rc != EXIT_DONE)
		rc = cem_rc == EXIT_FATAL ? EXIT_FATAL : EXIT_SOME;
	if (st.interrupted)
		rc = cli_interrupted_exit();
report:
	rc = cli_run_report(cli, "renew", &run, rc);
out:
	cli_pass_free(run.passphrase);
	free(a.names);
	return rc;
}
