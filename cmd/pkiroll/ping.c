/*
 * pkiroll ping: is the CA there, and does it know us? One genm, what came
 * back, how it verified, and the round trip.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"

const char help_ping[] =
	"usage: pkiroll ping [--ca PROFILE | --ca-url URL]\n"
	"                    (--reference REF [--code-file FILE | --code-fd N] |\n"
	"                     --community NAME [--keystore-dir DIR]\n"
	"                     [--keystore-pass-file FILE | --keystore-pass-fd N])\n"
	"                    [--empty] [--dump-dir DIR] [--insecure-code-files]\n"
	"\n"
	"Sends one general message (genm, RFC 4210 5.3.19) asking for the CA\n"
	"certificates (id-it-caCerts, 1.3.6.1.5.5.7.4.17; --empty: no\n"
	"InfoTypeAndValue) and prints what the CA answered (body type, the\n"
	"infoTypes of a genp, the status, failInfo and text of an error), the\n"
	"reply's protection and whether it verified, and the round trip in ms.\n"
	"Nothing is written to the store (but, with --community, the keystore\n"
	"passphrase's verifier when the store has none yet).\n"
	"\n"
	"  --reference REF        PBM with this reference number (senderKID) and\n"
	"                         the authorization code from --code-file FILE (a\n"
	"                         private file), --code-fd N or the environment\n"
	"                         variable PKIROLL_CODE; never on the command line.\n"
	"                         The code only keys the MAC (RFC 4210 5.1.3.1): it\n"
	"                         is not sent, and a well-behaved CA does not count\n"
	"                         a genm as a use of a one-time code.\n"
	"  --community NAME       sign the genm with the community's current key and\n"
	"                         certificate from its keystore (as renew does); its\n"
	"                         CA profile is used unless --ca or --ca-url is given\n"
	"  --keystore-dir DIR     default: the config's keystore_dir, else "
	"./" PKIROLL_DEFAULT_KEYSTORE_DIR "\n"
	"  --keystore-pass-file F the keystore passphrase: first line of F (a\n"
	"                         private regular file, as --code-file)\n"
	"  --insecure-code-files  accept a code or passphrase file that group or\n"
	"                         others may read\n"
	"  --keystore-pass-fd N   ... from descriptor N (or PKIROLL_KEYSTORE_PASS)\n"
	"  --empty                an empty genm\n"
	"  --dump-dir DIR         the genm and the reply as DER files (see enroll)\n"
	"\n"
	"A signed reply is verified against the CA profile's trust_anchor and, with\n"
	"--community, the CA certificates in the community's keystore. -vvv traces\n"
	"both messages.\n"
	"\n"
	"exit: 0 the CA answered with a genp whose protection verified,\n"
	"      1 it answered otherwise (an error, a reply that did not verify or\n"
	"        is no genp), 2 usage or configuration, 3 store or I/O,\n"
	"      4 no answer (connection refused, timeout, TLS, HTTP error status)\n";

static const char *const outcome_names[PKIROLL_PING__MAX] = {
	"ok", "no answer", "refused by the CA", "reply not verified", "unexpected reply",
};

/* --reference: its authorization code from --code-file (into code),
 * --code-fd (*fdcode, the caller's to free) or PKIROLL_CODE; NULL
 * (reported) when there is none. */
static const char *ping_code(const char *code_file, int code_fd, int insecure, char *code,
			     size_t codelen, char **fdcode)
{
	if (code_file != NULL) {
		char spec[1100], why[300];

		snprintf(spec, sizeof(spec), "file:%s", code_file);
		if (pkiroll_code_resolve(spec, insecure, code, codelen, why, sizeof(why)) < 0) {
			cli_error("ping: --code-file %s", why);
			return NULL;
		}
		return code;
	}
	if (code_fd >= 0) {
		if ((*fdcode = cli_read_pass(code_fd)) == NULL)
			cli_error("ping: --code-fd %d: nothing to read", code_fd);
		return *fdcode;
	}
	if (getenv("PKIROLL_CODE") != NULL && getenv("PKIROLL_CODE")[0] != '\0')
		return getenv("PKIROLL_CODE");
	cli_error("ping: --reference needs its authorization code: --code-file, "
		  "--code-fd or PKIROLL_CODE");
	return NULL;
}

int cmd_ping(struct cli *cli)
{
	static const struct option opts[] = {
		{"ca", required_argument, NULL, 'c'},
		{"ca-url", required_argument, NULL, 'u'},
		{"reference", required_argument, NULL, 'r'},
		{"code-file", required_argument, NULL, 'K'},
		{"code-fd", required_argument, NULL, 'F'},
		{"community", required_argument, NULL, 'C'},
		{"empty", no_argument, NULL, 'e'},
		{"dump-dir", required_argument, NULL, 'O'},
		CLI_KEYSTORE_OPTIONS,
		CLI_PASS_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct pkiroll_ping_opts o = {0};
	struct pkiroll_ping_result res;
	struct cli_pass po = CLI_PASS_INIT;
	const struct pkiroll_config *cfg;
	const char *code_file = NULL;
	char code[512] = "", *pass = NULL, *fdcode = NULL, *end;
	int c, code_fd = -1, rc = EXIT_USAGE, err;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		/* both descriptors are read below, as they always were */
		if (c != CLI_OPT_PASS_FD &&
		    (cli_keystore_option(c, &o.keystore_dir) || cli_pass_option("ping", c, &po)))
			continue;
		switch (c) {
		case 'c':
			o.ca = optarg;
			break;
		case 'u':
			o.ca_url = optarg;
			break;
		case 'r':
			o.reference = optarg;
			break;
		case 'K':
			code_file = optarg;
			break;
		case 'F':
		case CLI_OPT_PASS_FD:
			*(c == 'F' ? &code_fd : &po.fd) = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || optarg[0] == '\0' || (c == 'F' ? code_fd : po.fd) < 0) {
				cli_error("ping: %s takes a file descriptor number",
					  c == 'F' ? "--code-fd" : "--keystore-pass-fd");
				return EXIT_USAGE;
			}
			break;
		case 'C':
			o.community = optarg;
			break;
		case 'e':
			o.empty = 1;
			break;
		case 'O':
			o.dump_dir = optarg;
			break;
		default:
			return cli_bad_option(cli, "ping");
		}
	}
	if (optind != cli->argc) {
		cli_error("ping: unexpected argument \"%s\" (see pkiroll ping --help)",
			  cli->argv[optind]);
		return EXIT_USAGE;
	}
	if (o.ca != NULL && o.ca_url != NULL) {
		cli_error("ping: --ca and --ca-url exclude each other");
		return EXIT_USAGE;
	}
	if ((o.reference != NULL) == (o.community != NULL)) {
		cli_error("ping: give --reference REF (with its code) or --community NAME");
		return EXIT_USAGE;
	}
	if (o.community != NULL && (code_file != NULL || code_fd >= 0)) {
		cli_error("ping: --code-file and --code-fd go with --reference");
		return EXIT_USAGE;
	}
	if ((cfg = cli_config(cli)) == NULL)
		return EXIT_USAGE;
	o.config = cfg;
	o.trace = cli->verbose >= 3;

	/* Phase: the secrets, never from argv. */
	if (o.reference != NULL) {
		if ((o.code = ping_code(code_file, code_fd, po.insecure, code, sizeof(code),
					&fdcode)) == NULL)
			goto out;
	} else {
		int bad;

		o.db = cli_store_path(cli);
		if (o.keystore_dir == NULL)
			o.keystore_dir = cfg->keystore_dir;
		if ((pass = cli_pass_read("ping", &po, &bad)) == NULL && bad)
			goto out;
		o.passphrase = pass;
	}

	/* Phase: the genm, then what came back. */
	if ((err = pkiroll_ping(cli->ctx, &o, &res)) != PKIROLL_OK) {
		cli_error("ping: %s", pkiroll_strerror(err));
		rc = cli_exit_for(err);
		goto out;
	}
	printf("request:    genm%s, transactionID %s, %s\n", o.empty ? " (empty)" : " (caCerts)",
	       res.tid, o.reference ? "PBM-protected" : "signed");
	if (res.body[0] == '\0') {
		printf("reply:      none\n");
	} else {
		printf("reply:      %s%s%s\n", res.body, res.info[0] ? ": " : "", res.info);
		printf("protection: %s, %s\n", res.protection, res.trust);
		printf("round trip: %lld ms\n", res.rtt_ms);
	}
	if (res.outcome == PKIROLL_PING_OK) {
		rc = EXIT_DONE;
	} else {
		cli_error("ping: %s: %s",
			  res.outcome >= 0 && res.outcome < PKIROLL_PING__MAX
				  ? outcome_names[res.outcome]
				  : "failed",
			  res.reason);
		rc = res.outcome == PKIROLL_PING_NOANSWER ? EXIT_NOANSWER : EXIT_SOME;
	}
out:
	OPENSSL_cleanse(code, sizeof(code));
	cli_pass_free(fdcode);
	cli_pass_free(pass);
	return rc;
}
