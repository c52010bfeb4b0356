/*
 * pkiroll deploy [COMMUNITY]...: the deploy hooks still owed
 * (pkiroll_deploy), after a hook failed or a run was killed before it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

const char help_deploy[] =
	"usage: pkiroll deploy [COMMUNITY]... [--dry-run] [--deploy-hook COMMAND]\n"
	"                      [--post-hook COMMAND] [--hook-timeout SECS] [--report FILE]\n"
	"\n"
	"Runs the deploy hook (deploy_hook, or --deploy-hook) of every community\n"
	"that still owes one: its certificates changed (enrolled, renewed,\n"
	"revoked, retired) and the hook failed, timed out, or never ran because\n"
	"the run was killed. Only the named communities with COMMUNITY. A hook\n"
	"that succeeds clears the mark; status lists the others under attention\n"
	"(deploy_pending). enroll, renew, revoke and retire run them too.\n"
	"\n"
	"  --dry-run             list the communities that owe a hook; run none\n"
	"  --deploy-hook COMMAND the hook (default: the config's deploy_hook)\n"
	"  --post-hook COMMAND   then this, with the run's JSON report on stdin\n"
	"                        (default: the config's post_hook)\n"
	"  --hook-timeout SECS   kill a hook after SECS (default: hook_timeout, 300)\n"
	"  --report FILE         the run's JSON report, written atomically\n"
	"  --keystore-pass-file FILE  named to the hook as PKIROLL_KEYSTORE_PASS_FILE\n"
	"\n"
	"exit: 0 nothing owed or every hook succeeded, 1 a hook failed,\n"
	"      2 usage or configuration (no deploy hook), 3 store or I/O error\n";

/* The parse: the hook options and --dry-run, then the names. 0 or the exit
 * code (reported). */
static int deploy_parse(struct cli *cli, struct cli_run *run)
{
	static const struct option opts[] = {
		CLI_HOOK_OPTIONS, CLI_OPTION("dry-run", no_argument, CLI_OPT_DRY_RUN),
		CLI_OPTION("keystore-pass-file", required_argument, CLI_OPT_PASS_FILE),
		CLI_OPTIONS_END};
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		if (c == CLI_OPT_DRY_RUN) {
			run->o.dry_run = 1;
			continue;
		}
		if (c == CLI_OPT_PASS_FILE) {
			run->pass.file = optarg;
			continue;
		}
		if ((r = cli_hook_option("deploy", c, run)) < 0)
			return EXIT_USAGE;
		if (r == 0)
			return cli_bad_option(cli, "deploy");
	}
	cli->dry_run = run->o.dry_run;
	return 0;
}

int cmd_deploy(struct cli *cli)
{
	struct cli_run run = CLI_RUN_INIT;
	struct pkiroll_run_stats st = {0};
	int rc, err;

	if ((rc = deploy_parse(cli, &run)) != 0)
		return rc;
	if ((rc = cli_run_config(cli, "deploy", &run)) != 0)
		return rc;
	err = pkiroll_deploy(cli->ctx, &run.o, (const char *const *)cli->argv + optind,
			     cli->argc - optind, &st);
	run.st = st;
	run.ran = err == PKIROLL_OK;
	if (err != PKIROLL_OK) {
		cli_error("deploy: %s", pkiroll_strerror(err));
		rc = cli_exit_for(err);
	} else {
		rc = EXIT_DONE;
		if (!cli->quiet && (st.deployed || st.deploy_failed))
			printf("deploy: %lu hooks succeeded, %lu failed (still pending), %.1f s\n",
			       st.deployed, st.deploy_failed, st.elapsed);
	}
	return cli_run_report(cli, "deploy", &run, rc);
}
