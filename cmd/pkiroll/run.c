/*
 * What the run verbs (enroll, renew, revoke, retire) share around their
 * doors in the library: the run option group and the messages for another
 * verb's options, the configuration, the passphrase, signals and the
 * progress line, and how a run's end becomes an exit code.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static volatile int interrupted;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
	interrupted++;
}

int cli_interrupted_exit(void)
{
	return stop_signal > 0 ? 128 + stop_signal : EXIT_INTERRUPTED;
}

/* pkiroll_progress_fn: one line, redrawn on a terminal, else every 5 s */
static void show(void *arg, const struct pkiroll_run_stats *st, int final)
{
	struct cli_run *p = arg;
	unsigned long done = st->enrolled + st->failed + st->needs_codes;
	double rate = st->elapsed > 0 ? (double)done / st->elapsed : 0;
	char eta[32] = "";

	if (p->quiet)
		return;
	if (!final && !p->tty) {
		if (time(NULL) - p->last < 5)
			return;
		p->last = time(NULL);
	}
	if (!final && rate > 0 && st->rows > done)
		snprintf(eta, sizeof(eta), ", ETA %.0fs", (double)(st->rows - done) / rate);
	fprintf(stderr,
		"%s%lu done of %lu rows: %lu enrolled, %lu failed, %lu need codes, "
		"%lu in flight, %.1f/s%s%s",
		p->tty ? "\r\033[K" : cli_log_prefix(PKIROLL_LOG_INFO), done, st->rows,
		st->enrolled, st->failed, st->needs_codes, st->in_flight, rate, eta,
		p->tty && !final ? "" : "\n");
}

void cli_run_rusage(struct cli *cli)
{
	struct rusage self, kids;

	if (!cli->verbose)
		return;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	printf("peak RSS: parent %ld KiB, largest worker %ld KiB; CPU: parent %.2f s, "
	       "workers %.2f s\n",
	       self.ru_maxrss, kids.ru_maxrss,
	       (double)self.ru_utime.tv_sec + (double)self.ru_stime.tv_sec +
		       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6,
	       (double)kids.ru_utime.tv_sec + (double)kids.ru_stime.tv_sec +
		       (double)(kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6);
}

/* One option of the run, keystore and passphrase groups: 1 taken, 0 not
 * theirs, -1 a bad value (reported; as always, under "enroll:"). */
static int run_option(int c, struct cli_run *run)
{
	struct pkiroll_run_opts *o = &run->o;
	char *end;
	int r;

	/* the group's messages say "enroll:" whichever verb, as they always have */
	if (cli_keystore_option(c, &o->keystore_dir))
		return 1;
	if ((r = cli_pass_option("enroll", c, &run->pass)) != 0)
		return r;
	if ((r = cli_hook_option("enroll", c, run)) != 0)
		return r;
	switch (c) {
	case 'j':
		o->jobs = (int)strtol(optarg, &end, 10);
		if (*end != '\0' || o->jobs < 1 || o->jobs > 1024) {
			cli_error("enroll: -j takes 1 to 1024");
			return -1;
		}
		return 1;
	case CLI_OPT_CA:
		o->ca = optarg;
		return 1;
	case CLI_OPT_CA_URL:
		o->ca_url = optarg;
		return 1;
	case CLI_OPT_DUMP_DIR:
		o->dump_dir = optarg;
		return 1;
	case CLI_OPT_LIMIT:
		o->limit = strtoul(optarg, &end, 10);
		if (*end != '\0' || o->limit == 0) {
			cli_error("enroll: --limit takes a positive number");
			return -1;
		}
		return 1;
	case CLI_OPT_DRY_RUN:
		o->dry_run = 1;
		return 1;
	case CLI_OPT_RETRY_FAILED:
		run->e.retry_failed = 1;
		return 1;
	case CLI_OPT_DELIMITER:
		if ((run->e.mopts.delimiter = cli_parse_delimiter(optarg)) == 0) {
			cli_error("enroll: --delimiter must be ',', ';' or tab");
			return -1;
		}
		return 1;
	case CLI_OPT_STRICT:
		run->e.mopts.strict = 1;
		return 1;
	default:
		return 0;
	}
}

int cli_hook_option(const char *cmd, int c, struct cli_run *run)
{
	char *end;
	long secs;

	switch (c) {
	case CLI_OPT_DEPLOY_HOOK:
		run->o.deploy_hook = optarg;
		return 1;
	case CLI_OPT_POST_HOOK:
		run->post_hook = optarg;
		return 1;
	case CLI_OPT_HOOK_TIMEOUT:
		/* checked as a long: a huge number must not wrap into range */
		secs = strtol(optarg, &end, 10);
		if (end == optarg || *end != '\0' || secs < 1 || secs > 86400) {
			cli_error("%s: --hook-timeout takes 1 to 86400 seconds", cmd);
			return -1;
		}
		run->o.hook_timeout = (int)secs;
		return 1;
	case CLI_OPT_REPORT:
		run->report_path = optarg;
		return 1;
	default:
		return 0;
	}
}

int cli_run_parse(struct cli *cli, const char *cmd, const struct option *opts, struct cli_run *run,
		  cli_own_option_fn *own, void *arg)
{
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "j:", opts, NULL)) != -1) {
		if ((r = run_option(c, run)) == 0 && own != NULL)
			r = own(c, arg);
		if (r < 0)
			return EXIT_USAGE;
		if (r == 0)
			return cli_run_misplaced(cli, cmd, c);
	}
	cli->dry_run = run->o.dry_run;
	return 0;
}

int cli_bundle_option(int c, int *bundle, const char **dir)
{
	if (c == CLI_OPT_BUNDLE)
		*bundle = 1;
	else if (c == CLI_OPT_BUNDLE_DIR)
		*dir = optarg;
	else
		return 0;
	return 1;
}

int cli_run_misplaced(struct cli *cli, const char *cmd, int c)
{
	switch (c) {
	case CLI_OPT_WITHIN:
		cli_error("%s: --within takes 30d, 12h, 2w, 900s or 33%% (pkiroll renew only)",
			  cmd);
		break;
	case CLI_OPT_COMMUNITY:
		cli_error("%s: --community is for pkiroll renew", cmd);
		break;
	case CLI_OPT_USAGE:
	case CLI_OPT_REASON:
	case CLI_OPT_REFERENCE:
	case CLI_OPT_CODE_FILE:
	case CLI_OPT_YES:
	case CLI_OPT_REVOKE:
		cli_error("%s: %s is for pkiroll revoke or retire", cmd, cli->argv[optind - 1]);
		break;
	case CLI_OPT_CEM:
		cli_error("%s: --cem is for pkiroll renew (and bundle)", cmd);
		break;
	case CLI_OPT_NOW:
	case CLI_OPT_BUNDLE:
	case CLI_OPT_BUNDLE_DIR:
		cli_error("%s: %s is for pkiroll renew", cmd, cli->argv[optind - 1]);
		break;
	default:
		return cli_bad_option(cli, cmd);
	}
	return EXIT_USAGE;
}

/* Now, in Unix seconds with their fraction: the report's times. */
static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_run_config(struct cli *cli, const char *cmd, struct cli_run *run)
{
	if (run->o.ca != NULL && run->o.ca_url != NULL) {
		cli_error("%s: --ca and --ca-url exclude each other", cmd);
		return EXIT_USAGE;
	}
	if ((run->cfg = cli_config(cli)) == NULL)
		return EXIT_USAGE;
	run->o.config = run->cfg;
	run->o.trace = cli->verbose >= 3;
	run->o.db = cli_store_path(cli);
	if (run->o.keystore_dir == NULL)
		run->o.keystore_dir = run->cfg->keystore_dir;
	run->e.mopts.insecure_code_files = run->pass.insecure;
	if (run->post_hook == NULL)
		run->post_hook = run->cfg->post_hook;
	run->o.report = &run->report;
	/* the hook may read the passphrase from where we did, never from us */
	run->o.pass_file = run->pass.file;
	run->started = wall_now();
	return 0;
}

int cli_run_report(struct cli *cli, const char *cmd, struct cli_run *run, int rc)
{
	const struct pkiroll_run_stats *st = &run->st;
	char *json;
	int timeout;

	(void)cli;
	if (run->cfg == NULL || !run->ran)
		goto out;
	if (st->deploy_failed > 0 && rc == EXIT_DONE)
		rc = EXIT_SOME;
	if ((run->post_hook == NULL || run->post_hook[0] == '\0' || run->o.dry_run) &&
	    run->report_path == NULL)
		goto out;
	if ((json = pkiroll_report_json(cmd, run->started, wall_now(), rc, st, &run->report)) ==
	    NULL) {
		cli_error("%s: the run's report: out of memory", cmd);
		rc = rc == EXIT_DONE ? EXIT_SOME : rc;
		goto out;
	}
	/* a run that did nothing feeds no post hook (cron) */
	timeout = run->o.hook_timeout > 0 ? run->o.hook_timeout : run->cfg->hook_timeout;
	if (run->post_hook != NULL && run->post_hook[0] != '\0' && !run->o.dry_run &&
	    (st->due || st->retired || st->deployed || st->deploy_failed || st->bad_rows ||
	     st->interrupted) &&
	    pkiroll_post_hook(cli->ctx, run->post_hook, json, timeout, run->o.interrupted) !=
		    PKIROLL_OK &&
	    rc == EXIT_DONE)
		rc = EXIT_SOME;
	if (run->report_path != NULL &&
	    pkiroll_report_write(cli->ctx, run->report_path, json) != PKIROLL_OK && rc == EXIT_DONE)
		rc = EXIT_FATAL;
	free(json);
out:
	pkiroll_report_free(&run->report);
	return rc;
}

int cli_run_start(struct cli *cli, const char *cmd, struct cli_run *run, int progress)
{
	struct sigaction sa = {.sa_handler = on_signal};

	/* Phase: the passphrase, never from argv. */
	if (!run->o.dry_run) {
		int bad;

		if ((run->passphrase = cli_pass_read(cmd, &run->pass, &bad)) == NULL && bad)
			return EXIT_USAGE;
		run->o.passphrase = run->passphrase;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	run->o.interrupted = &interrupted;
	run->tty = isatty(2);
	run->quiet = cli->quiet;
	run->o.progress = progress ? show : NULL;
	run->o.progress_arg = run;
	return 0;
}

int cli_run_finish(struct cli *cli, const char *cmd, struct cli_run *run, int err,
		   const struct pkiroll_run_stats *st, const char *would)
{
	cli_pass_free(run->passphrase);
	run->passphrase = NULL;
	run->st = *st;
	run->ran = err == PKIROLL_OK;
	if (err != PKIROLL_OK) {
		cli_error("%s: %s", cmd, pkiroll_strerror(err));
		return err == PKIROLL_ERR_LOCKED ? EXIT_FATAL : cli_exit_for(err);
	}
	if (run->o.dry_run) {
		if (!cli->quiet)
			printf("dry run: %lu communities would be %s (%lu rows, %lu bad)\n",
			       st->due, would, st->rows, st->bad_rows);
		return st->bad_rows || st->skipped ? EXIT_SOME : EXIT_DONE;
	}
	return -1;
}

int cli_run_exit(const struct pkiroll_run_stats *st)
{
	if (st->interrupted)
		return cli_interrupted_exit();
	return st->failed || st->needs_codes || st->bad_rows || st->skipped ? EXIT_SOME : EXIT_DONE;
}
