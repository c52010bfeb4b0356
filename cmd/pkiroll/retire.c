/*
 * pkiroll retire COMMUNITY...: out of service (pkiroll_retire), with
 * --revoke after the revocation run of pkiroll revoke.
 */
#include <stdio.h>

#include <openssl/crypto.h>

#include "cli.h"

const char help_retire[] =
	"usage: pkiroll retire COMMUNITY... [--revoke --reason REASON [--usage ...]]\n"
	"                      [--bundle] [--bundle-dir DIR] and, with --revoke, the CA,\n"
	"                      keystore and passphrase options of pkiroll revoke\n"
	"                      (--dump-dir DIR, -vvv and --yes too); [--deploy-hook CMD]\n"
	"                      [--post-hook CMD] [--hook-timeout SECS] [--report FILE]\n"
	"\n"
	"Takes communities out of service: state retired, never enrolled, renewed\n"
	"or bundled again. Their keystores stay. Their partners' bundles become\n"
	"stale; --bundle rebuilds them without the retired ones. With --revoke the\n"
	"certificates are revoked first (as pkiroll revoke), and a community whose\n"
	"revocation did not go through is not retired. As with pkiroll revoke,\n"
	"--revoke asks on a terminal and needs --yes without one.\n"
	"\n"
	"With a deploy hook (deploy_hook, --deploy-hook) it then runs once per\n"
	"retired community (PKIROLL_EVENT=retired), and for every other community\n"
	"that still owes one, as pkiroll deploy does (see pkiroll(1), DEPLOY HOOKS).\n"
	"\n"
	"exit: 0 all retired, 1 some not or a hook failed, 2 usage or configuration,\n"
	"      3 store or I/O\n";

/* A retirement's line in the run's report (r: pkiroll_retire()'s answer). */
static void retire_reported(struct cli_run *run, const char *name, int r)
{
	struct pkiroll_report_item *it = pkiroll_report_item(&run->report, name);

	if (it == NULL)
		return;
	snprintf(it->outcome, sizeof(it->outcome), "%s",
		 r == 1	  ? "retired"
		 : r == 2 ? "skipped"
			  : "failed");
	snprintf(it->reason, sizeof(it->reason), "%s",
		 r == 1	  ? ""
		 : r == 2 ? "retired already"
		 : r == 0 ? "not in the store"
			  : "its certificates are not revoked: not retired");
}

/* retire: each named community (after its revocation, with --revoke) */
static int retire_all(struct cli *cli, struct cli_run *run, const char *const *names, int n,
		      int revoked)
{
	const char *hook = run->o.deploy_hook ? run->o.deploy_hook : run->cfg->deploy_hook;
	struct pkiroll_run_stats dst;
	pkiroll_store *store = NULL;
	pkiroll_lock *lock = NULL;
	int rc = EXIT_DONE, retired = 0;

	if ((rc = cli_store_writer(cli, run->o.db, 1, &store, &lock)) != 0)
		return rc;
	/* a retirement owes the gateway its deploy hook, run below */
	pkiroll_store_deploy_arm(store, hook[0] != '\0');
	for (int i = 0; i < n; i++) {
		int r = pkiroll_retire(store, names[i], revoked,
				       revoked ? "retired (pkiroll retire --revoke)"
					       : "retired (pkiroll retire)");

		if (r < 0) {
			rc = EXIT_FATAL;
			break;
		}
		if (r == 1)
			retired++;
		else if (r == 2)
			fprintf(stderr, "%s%s: retired already\n", cli_log_prefix(PKIROLL_LOG_INFO),
				names[i]);
		else {
			cli_error("retire: %s: %s", names[i],
				  r == 0 ? "not in the store"
					 : "its certificates are not revoked: not retired");
			rc = EXIT_SOME;
		}
		retire_reported(run, names[i], r);
	}
	cli_store_done(store, lock);
	run->st.retired = (unsigned long)retired;
	/* this retirement's hooks, and any an earlier run still owes */
	if (hook[0] != '\0' && rc != EXIT_FATAL) {
		if (pkiroll_deploy(cli->ctx, &run->o, NULL, 0, &dst) != PKIROLL_OK)
			rc = EXIT_FATAL;
		run->st.deployed += dst.deployed;
		run->st.deploy_failed += dst.deploy_failed;
	}
	run->ran = 1;
	if (!cli->quiet && rc != EXIT_FATAL)
		printf("retire: %d of %d retired; their partners' bundles are stale (pkiroll "
		       "bundle "
		       "--stale)\n",
		       retired, n);
	return rc;
}

/* What retire takes besides the run options. */
struct retire_args {
	struct cli_revoke rk;
	int revoke; /* --revoke */
	int bundle;
	const char *bundle_dir;
};

/* cli_own_option_fn of retire: --revoke, the revocation's, the bundles' */
static int retire_option(int c, void *arg)
{
	struct retire_args *a = arg;
	int r;

	if (c == CLI_OPT_REVOKE)
		return a->revoke = 1;
	if ((r = cli_revoke_option("retire", c, &a->rk)) != 0)
		return r;
	return cli_bundle_option(c, &a->bundle, &a->bundle_dir);
}

/* The parse: 0, or the exit code. */
static int retire_parse(struct cli *cli, struct cli_run *run, struct retire_args *a)
{
	/* renew's are named so that the message can say whose they are */
	static const struct option opts[] = {CLI_RUN_OPTIONS,	 CLI_REVOKE_OPTIONS,
					     CLI_RETIRE_OPTIONS, CLI_BUNDLE_OPTIONS,
					     CLI_RENEW_OPTIONS,	 CLI_OPTIONS_END};
	int r;

	if ((r = cli_run_parse(cli, "retire", opts, run, retire_option, a)) != 0)
		return r;
	return cli_revoke_args(cli, "retire", &a->rk, a->revoke, run->pass.insecure);
}

int cmd_retire(struct cli *cli)
{
	struct cli_run run = CLI_RUN_INIT;
	struct retire_args a = {0};
	const struct pkiroll_revoke_opts *rv = &a.rk.rv;
	int rc, r, done;

	if ((rc = retire_parse(cli, &run, &a)) != 0 ||
	    (rc = cli_run_config(cli, "retire", &run)) != 0)
		goto out;
	if (!a.revoke) {
		/* retirement alone is the store's: no CA, no keys */
		rc = run.o.dry_run ? EXIT_DONE
				   : retire_all(cli, &run, rv->communities, rv->ncommunities, 0);
		if (rc == EXIT_DONE && a.bundle)
			rc = cli_bundle_stale(cli,
					      a.bundle_dir ? a.bundle_dir : run.cfg->bundle_dir, 0);
		goto out;
	}
	rc = cli_revoke_run(cli, "retire", &run, &a.rk, &done);
	if (!done)
		goto out;
	r = retire_all(cli, &run, rv->communities, rv->ncommunities, 1);
	rc = r != EXIT_DONE ? r : rc;
	if (a.bundle && r != EXIT_FATAL &&
	    cli_bundle_stale(cli, a.bundle_dir ? a.bundle_dir : run.cfg->bundle_dir, 0) !=
		    EXIT_DONE)
		rc = EXIT_SOME;
out:
	rc = cli_run_report(cli, "retire", &run, rc);
	OPENSSL_cleanse(a.rk.code, sizeof(a.rk.code));
	return rc;
}
