/*
 * pkiroll rekey-keystores: every keystore of the store under a new
 * passphrase (pkiroll_rekey_keystores), under the store's lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char help_rekey[] =
	"usage: pkiroll rekey-keystores [--new-pass-file FILE | --new-pass-fd N]\n"
	"                               [--keystore-dir DIR] [--keystore-pass-file FILE |\n"
	"                               --keystore-pass-fd N] [--insecure-code-files]\n"
	"                               [--dry-run]\n"
	"\n"
	"Moves every keystore of the store to a new passphrase: keystore.p12, a\n"
	"staged one, the kept keystore-SERIAL.p12 (earlier decryption keys),\n"
	"unverified-*.p12 and unconfirmed-*.p12. The current passphrase comes as\n"
	"for every command (--keystore-pass-file, --keystore-pass-fd or\n"
	"PKIROLL_KEYSTORE_PASS) and must be the store's; the new one from\n"
	"--new-pass-file FILE (a regular file, private unless\n"
	"--insecure-code-files), --new-pass-fd N or PKIROLL_NEW_KEYSTORE_PASS,\n"
	"never from the command line. A keystore directory that holds none of\n"
	"the store's recorded keystores is refused (nothing switched).\n"
	"\n"
	"Crash-safe: each new file is written and synced beside its original\n"
	"(NAME.rekey), the store records the rekey with the new passphrase's\n"
	"verifier, the files are renamed one by one, and only then does the store\n"
	"take the new passphrase. Interrupted anywhere, run the same command\n"
	"again: it finishes the job (files that open with the new passphrase are\n"
	"done). Until then every other command that takes the passphrase refuses\n"
	"to run. Every pkiroll command checks the passphrase against the store's\n"
	"verifier before it sends or writes anything (exit 2 when it differs).\n"
	"\n"
	"  --dry-run   say which files would be re-wrapped; write nothing\n"
	"\n"
	"exit: 0 done, 1 some keystores open with neither passphrase (named;\n"
	"      nothing switched), 2 usage, configuration or the wrong passphrase,\n"
	"      3 store or I/O\n";

/* The new passphrase, as the current one is taken. NULL (reported) when
 * none was given or it cannot be read. */
static char *new_pass(const char *file, int fd, int insecure)
{
	char why[1200], *p;
	int bad;

	p = cli_passphrase(file, fd, "PKIROLL_NEW_KEYSTORE_PASS", insecure, &bad, why, sizeof(why));
	if (p == NULL && bad)
		cli_error("rekey-keystores: %s %s",
			  file != NULL ? "--new-pass-file" : "--new-pass-fd", why);
	else if (p == NULL)
		cli_error("rekey-keystores: the new passphrase: --new-pass-file, --new-pass-fd or "
			  "PKIROLL_NEW_KEYSTORE_PASS");
	return p;
}

/* The door, under the lock; the exit code. */
static int rekey_run(struct cli *cli, struct pkiroll_rekey_opts *o)
{
	struct pkiroll_rekey_stats st;
	pkiroll_store *store = NULL;
	pkiroll_lock *lock = NULL;
	int err, rc;

	if ((rc = cli_store_existing(cli, &store, &lock)) != 0)
		return rc;
	err = pkiroll_rekey_keystores(store, o, &st);
	cli_store_done(store, lock);
	if (err == PKIROLL_ERR_IO && st.neither > 0)
		return EXIT_SOME;
	if (err != PKIROLL_OK) {
		cli_error("rekey-keystores: %s", pkiroll_strerror(err));
		return cli_exit_for(err);
	}
	if (cli->quiet)
		return EXIT_DONE;
	if (o->dry_run)
		printf("dry run: %lu keystore files, %lu would be re-wrapped, %lu under the new "
		       "passphrase already\n",
		       st.files, st.files - st.already, st.already);
	else
		printf("rekey-keystores: %lu keystore files: %lu re-wrapped, %lu under the new "
		       "passphrase already%s; the store now takes the new passphrase\n",
		       st.files, st.rewrapped, st.already,
		       st.resumed ? " (an interrupted rekey finished)" : "");
	return EXIT_DONE;
}

int cmd_rekey(struct cli *cli)
{
	static const struct option opts[] = {
		{"new-pass-file", required_argument, NULL, 'N'},
		{"new-pass-fd", required_argument, NULL, 'F'},
		{"dry-run", no_argument, NULL, 'n'},
		CLI_KEYSTORE_OPTIONS,
		CLI_PASS_OPTIONS,
		CLI_OPTIONS_END,
	};
	struct pkiroll_rekey_opts o = {0};
	struct cli_pass po = CLI_PASS_INIT;
	const struct pkiroll_config *cfg;
	const char *new_file = NULL, *hook;
	char *pass = NULL, *npass = NULL, *end;
	int c, r, bad, new_fd = -1, rc = EXIT_USAGE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		if (cli_keystore_option(c, &o.keystore_dir))
			continue;
		if ((r = cli_pass_option("rekey-keystores", c, &po)) < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'N':
			new_file = optarg;
			break;
		case 'F':
			new_fd = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || new_fd < 0) {
				cli_error("rekey-keystores: --new-pass-fd takes a file descriptor "
					  "number");
				return EXIT_USAGE;
			}
			break;
		case 'n':
			o.dry_run = 1;
			break;
		default:
			return cli_bad_option(cli, "rekey-keystores");
		}
	}
	if ((cfg = cli_no_args_config(cli, "rekey-keystores")) == NULL)
		return EXIT_USAGE;
	if (o.keystore_dir == NULL)
		o.keystore_dir = cfg->keystore_dir;
	/* Phase: both passphrases, never from argv. */
	if ((pass = cli_pass_read("rekey-keystores", &po, &bad)) == NULL) {
		if (!bad)
			cli_error("rekey-keystores: the current passphrase: --keystore-pass-file, "
				  "--keystore-pass-fd or PKIROLL_KEYSTORE_PASS");
		goto out;
	}
	if ((npass = new_pass(new_file, new_fd, po.insecure)) == NULL)
		goto out;
	o.pass = pass;
	o.new_pass = npass;
	/* tests: a crash after N files (crash-safety) */
	if ((hook = getenv("PKIROLL_TEST_REKEY_KILL_AFTER")) != NULL)
		o.kill_after = strtoul(hook, NULL, 10);
	rc = rekey_run(cli, &o);
out:
	cli_pass_free(pass);
	cli_pass_free(npass);
	return rc;
}
