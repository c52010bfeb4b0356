/*
 * pkiroll enroll MANIFEST: import, then enroll every due community
 * (pkiroll_enroll).
 */
#include <stdio.h>

#include "cli.h"

const char help_enroll[] =
	"usage: pkiroll enroll MANIFEST [-j N] [--ca PROFILE | --ca-url URL]\n"
	"                      [--keystore-dir DIR] [--keystore-pass-file FILE |\n"
	"                      --keystore-pass-fd N] [--limit N] [--dry-run]\n"
	"                      [--retry-failed] [--delimiter C] [--strict]\n"
	"                      [--insecure-code-files] [--dump-dir DIR]\n"
	"                      [--deploy-hook CMD] [--post-hook CMD]\n"
	"                      [--hook-timeout SECS] [--report FILE]\n"
	"\n"
	"Imports the manifest into the store (bad rows are reported, good rows go\n"
	"on), then enrolls every community that is due (pending; failed and\n"
	"retryable once its backoff has passed; interrupted runs resume) in N\n"
	"worker processes, over CMP with the reference number and authorization\n"
	"code: the client makes the signing key, the CA the encryption key pair.\n"
	"Each community gets a keystore directory (PKCS#12 plus PEM/DER\n"
	"certificates). Transient faults are retried with backoff; a bad MAC or a\n"
	"rejection is never retried.\n"
	"\n"
	"  -j, --jobs N             workers (default: the config's jobs, else the\n"
	"                           number of cores; at most the profile's cap)\n"
	"  --ca PROFILE             CA profile from the configuration file\n"
	"  --ca-url URL             http://, https:// or cmp://host:port, no config needed\n"
	"  --keystore-dir DIR       default: the config's keystore_dir, else "
	"./" PKIROLL_DEFAULT_KEYSTORE_DIR "\n"
	"  --keystore-pass-file F   PKCS#12 passphrase: first line of F (a regular\n"
	"                           file only its owner may read, as file: codes)\n"
	"  --keystore-pass-fd N     ... read from file descriptor N\n"
	"                           (or the environment variable PKIROLL_KEYSTORE_PASS;\n"
	"                           never on the command line)\n"
	"  --limit N                enroll at most N communities this run\n"
	"  --dry-run                show what would be enrolled where; write nothing\n"
	"  --retry-failed           also retry failures marked not retryable\n"
	"  --insecure-code-files    accept file: codes and a --keystore-pass-file that\n"
	"                           group or others may read\n"
	"                           (refused by default, as ssh refuses such a key)\n"
	"  --dump-dir DIR           write every CMP request and reply as a DER file\n"
	"                           into DIR (made 0700 if missing; files 0600):\n"
	"                           COMMUNITY.TIME.TID.SEQ.BODY.request|reply.der\n"
	"  --deploy-hook CMD        after the run, sh -c CMD once per community whose\n"
	"                           certificates changed (default: deploy_hook);\n"
	"                           PKIROLL_* variables say what changed. A failed\n"
	"                           hook leaves it deploy pending (pkiroll deploy)\n"
	"  --post-hook CMD          then CMD once, the run's JSON report on stdin\n"
	"                           (default: post_hook); its failure exits 1\n"
	"  --hook-timeout SECS      kill a hook after SECS (default: hook_timeout,\n"
	"                           " CLI_STR(
		PKIROLL_DEFAULT_HOOK_TIMEOUT) ")\n"
					      "  --report FILE            the run as JSON, written "
					      "atomically (0600)\n"
					      "                           (renew, revoke and "
					      "retire take these four too)\n"
					      "\n"
					      "Debugging: -vvv logs every CMP message sent and "
					      "received (body type,\n"
					      "transactionID, nonces, protection, PKIStatus and "
					      "failInfo). Neither the\n"
					      "dump files nor the trace hold an authorization code "
					      "or a passphrase: a\n"
					      "request carries a MAC made with the code, not the "
					      "code. An ip's dump holds\n"
					      "the CA-made encryption key as an EncryptedValue, "
					      "which only the worker's\n"
					      "protocolEncrKey decrypts, and that key is never "
					      "written anywhere.\n"
					      "\n"
					      "SIGINT/SIGTERM: no new enrollments, those in flight "
					      "finish, everything is\n"
					      "recorded; a second signal aborts at once. Run again "
					      "to resume.\n"
					      "exit: 0 all enrolled (or nothing due), 1 some "
					      "failed or need new codes,\n"
					      "      or a deploy or post hook failed,\n"
					      "      2 usage or configuration, 3 store or I/O "
					      "error, 130/143 stopped\n"
					      "      by SIGINT/SIGTERM (what finished is saved)\n";

int cmd_enroll(struct cli *cli)
{
	/* the others are named so that the message can say whose they are */
	static const struct option opts[] = {CLI_RUN_OPTIONS,	 CLI_RENEW_OPTIONS,
					     CLI_BUNDLE_OPTIONS, CLI_REVOKE_OPTIONS,
					     CLI_RETIRE_OPTIONS, CLI_OPTIONS_END};
	struct cli_run run = CLI_RUN_INIT;
	struct pkiroll_run_stats st;
	int r, err;

	if ((r = cli_run_parse(cli, "enroll", opts, &run, NULL, NULL)) != 0)
		return r;
	if (optind != cli->argc - 1) {
		cli_error("enroll: exactly one MANIFEST expected (see pkiroll enroll --help)");
		return EXIT_USAGE;
	}
	run.e.manifest = cli->argv[optind];
	if ((r = cli_run_config(cli, "enroll", &run)) != 0 ||
	    (r = cli_run_start(cli, "enroll", &run, 1)) != 0)
		return r;
	err = pkiroll_enroll(cli->ctx, &run.o, &run.e, &st);
	if ((r = cli_run_finish(cli, "enroll", &run, err, &st, "enrolled")) >= 0)
		return cli_run_report(cli, "enroll", &run, r);
	if (!cli->quiet)
		printf("enroll: %lu rows (%lu bad), %lu due: %lu enrolled, %lu failed, %lu need "
		       "new codes, "
		       "%lu skipped, %lu retries, %.1f s%s\n",
		       st.rows, st.bad_rows, st.due, st.enrolled, st.failed, st.needs_codes,
		       st.skipped, st.retries, st.elapsed,
		       st.interrupted ? " (interrupted: run again to resume)" : "");
	cli_run_rusage(cli);
	return cli_run_report(cli, "enroll", &run, cli_run_exit(&st));
}
