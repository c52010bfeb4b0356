/*
 * pkiroll cem: certificate exchange requests for the partners;
 * pkiroll cem-response FILE...: their answers into the store.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char help_cem[] =
	"usage: pkiroll cem [--partner NAME]... [--community NAME]... [--respond-by 14d]\n"
	"                   [--sign] [--reissue] [--out DIR] [--response-url URL]\n"
	"                   --sign: [--keystore-dir DIR] [--keystore-pass-file F |\n"
	"                           --keystore-pass-fd N] [--insecure-code-files]\n"
	"\n"
	"Writes an EDIINT Certificate Exchange Messaging request\n"
	"(draft-meadors-certificate-exchange-14) for every partner and every\n"
	"community whose current certificates that partner has not been asked\n"
	"about yet: DIR/PARTNER/COMMUNITY-REQUESTID.mime, the multipart/related\n"
	"entity (CRLF line ends) ready for the gateway to send over AS2, and the\n"
	"bare .xml beside it. Each certificate is a TrustRequest (signing:\n"
	"digitalSignature, encryption: keyEncipherment) with its own\n"
	"application/pkcs7-mime certs-only part. The requestId is recorded with\n"
	"the certificates it covers, so a rerun writes nothing new unless a\n"
	"certificate changed, or --reissue asks for a new request.\n"
	"\n"
	"  --sign           S/MIME-sign the entity (multipart/signed, SHA-256) with\n"
	"                   the community's previous signing key (keystore-SERIAL.p12\n"
	"                   from its last renewal): a partner who trusts the old\n"
	"                   certificate can trust the new one. A first enrollment has\n"
	"                   no previous key: that request goes unsigned, and the output\n"
	"                   says so\n"
	"  --reissue        a new request also where the partner was asked about\n"
	"                   these certificates already (say, a signed one after an\n"
	"                   unsigned one): narrow it with --partner and --community.\n"
	"                   Answers to the earlier request are still recorded;\n"
	"                   status shows the answer to the latest request\n"
	"  --respond-by W   RespondByDate this far ahead (default " PKIROLL_DEFAULT_CEM_RESPOND_BY
	")\n"
	"  --response-url U ResponseURL for communities without cem_response_url\n"
	"                   (default: the configuration's cem_response_url)\n"
	"  --out DIR        default: cem_dir from the configuration, else "
	"./" PKIROLL_DEFAULT_CEM_DIR "\n"
	"  --insecure-code-files  accept a --keystore-pass-file that group or others\n"
	"                   may read (it must be a regular file either way)\n"
	"\n"
	"exit: 0 written (or nothing to write), 1 some could not be, 2 usage or\n"
	"      configuration, 3 store\n";

const char help_cem_response[] =
	"usage: pkiroll cem-response FILE...\n"
	"\n"
	"Reads partners' CEM responses (EDIINTCertificateExchangeResponse), as\n"
	"raw XML or as the MIME entity a gateway saved, and records each\n"
	"certificate's status per partner (Accepted, Rejected with its reason, or\n"
	"Pending) with the time the partner gives (TradingPartnerInfo/\n"
	"MessageOriginated, required). A response with an unknown requestId, a\n"
	"certificate the request did not cover, a DTD or malformed XML, a\n"
	"responder (TradingPartnerInfo/Name) that is not the AS2 name of the\n"
	"partner the request went to (its name when the manifest gives none), two\n"
	"different answers for one certificate, or an answer older than the one\n"
	"recorded (or as old and different) is reported by file and element and\n"
	"changes nothing: all answers of a file or none. pkiroll status shows, per\n"
	"community, which partners have accepted its current certificates; a\n"
	"partner's text is shown with control and bidi characters escaped.\n"
	"\n"
	"exit: 0 all recorded, 1 some refused, 3 store\n";

/* Adds optarg to a list; 0 or -1. */
static int push(const char ***list, int *n, const char *v)
{
	const char **l = realloc(*list, (size_t)(*n + 1) * sizeof(**list));

	if (l == NULL)
		return -1;
	l[(*n)++] = v;
	*list = l;
	return 0;
}

int cli_cem_write(struct cli *cli, struct pkiroll_cem_opts *o)
{
	struct pkiroll_cem_stats st;
	pkiroll_store *store = NULL;
	pkiroll_lock *lock = NULL;
	int err, rc;

	if ((rc = cli_store_existing(cli, &store, &lock)) != 0)
		return rc;
	err = pkiroll_cem_write(store, o, &st);
	cli_store_done(store, lock);
	if (err == PKIROLL_ERR_USAGE) {
		cli_error("cem: --sign needs the keystore passphrase");
		return EXIT_USAGE;
	}
	if (err == PKIROLL_ERR_CONFIG) /* not the store's passphrase: logged */
		return EXIT_USAGE;
	if (err != PKIROLL_OK && st.written == 0 && st.failed == 0) /* logged */
		return EXIT_FATAL;
	if (!cli->quiet)
		printf("cem: %lu request%s written in %s (%lu signed, %lu unsigned: first "
		       "enrollment, no previous key), %lu failed\n",
		       st.written, st.written == 1 ? "" : "s", o->out_dir, st.signed_,
		       st.unsigned_first, st.failed);
	/* the store refused to record a batch (its files were taken back) */
	if (err == PKIROLL_ERR_STORE)
		return EXIT_FATAL;
	return st.failed ? EXIT_SOME : EXIT_DONE;
}

int cmd_cem(struct cli *cli)
{
	static const struct option opts[] = {
		{"partner", required_argument, NULL, 'p'},
		{"community", required_argument, NULL, 'c'},
		{"respond-by", required_argument, NULL, 'r'},
		{"sign", no_argument, NULL, 's'},
		{"reissue", no_argument, NULL, 'R'},
		{"out", required_argument, NULL, 'o'},
		{"response-url", required_argument, NULL, 'u'},
		CLI_KEYSTORE_OPTIONS,
		CLI_PASS_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct pkiroll_cem_opts o = {0};
	struct cli_pass po = CLI_PASS_INIT;
	const struct pkiroll_config *cfg;
	struct pkiroll_window w;
	char *pass = NULL;
	int c, r, bad, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		if (cli_keystore_option(c, &o.keystore_dir))
			continue;
		if ((r = cli_pass_option("cem", c, &po)) < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'p':
		case 'c':
			if (c == 'p'
				    ? push((const char ***)&o.partners, &o.npartners, optarg)
				    : push((const char ***)&o.communities, &o.ncommunities, optarg))
				return EXIT_FATAL;
			break;
		case 'r':
			if (pkiroll_window_parse(optarg, &w) < 0 || w.pct > 0) {
				cli_error("cem: --respond-by takes 14d, 2w, 48h");
				return EXIT_USAGE;
			}
			o.respond_within = w.secs;
			break;
		case 's':
			o.sign = 1;
			break;
		case 'R':
			o.reissue = 1;
			break;
		case 'o':
			o.out_dir = optarg;
			break;
		case 'u':
			o.response_url = optarg;
			break;
		default:
			return cli_bad_option(cli, "cem");
		}
	}
	if ((cfg = cli_no_args_config(cli, "cem")) == NULL)
		return EXIT_USAGE;
	if (o.respond_within == 0)
		o.respond_within = cfg->cem_respond_within;
	if (o.out_dir == NULL)
		o.out_dir = cfg->cem_dir;
	if (o.response_url == NULL && cfg->cem_response_url[0])
		o.response_url = cfg->cem_response_url;
	if (o.keystore_dir == NULL)
		o.keystore_dir = cfg->keystore_dir;
	if (o.sign) {
		if ((pass = cli_pass_read("cem", &po, &bad)) == NULL) {
			if (!bad)
				cli_error("cem: --sign needs the keystore passphrase "
					  "(--keystore-pass-file, --keystore-pass-fd or "
					  "PKIROLL_KEYSTORE_PASS)");
			return EXIT_USAGE;
		}
		o.pass = pass;
	}
	/* tests: a crash in the middle of a batch (crash-safety) */
	if (getenv("PKIROLL_TEST_CEM_KILL_AFTER") != NULL)
		o.kill_after = strtoul(getenv("PKIROLL_TEST_CEM_KILL_AFTER"), NULL, 10);
	rc = cli_cem_write(cli, &o);
	cli_pass_free(pass);
	free((void *)o.partners);
	free((void *)o.communities);
	return rc;
}

int cmd_cem_response(struct cli *cli)
{
	pkiroll_store *store = NULL;
	pkiroll_lock *lock = NULL;
	int rc = EXIT_DONE, ok = 0, refused = 0;

	if (cli->argc < 2 || cli->argv[1][0] == '-') {
		cli_error("cem-response: which FILE? (see pkiroll cem-response --help)");
		return EXIT_USAGE;
	}
	if ((rc = cli_store_existing(cli, &store, &lock)) != 0)
		return rc;
	for (int i = 1; i < cli->argc; i++) {
		int r = pkiroll_cem_response(store, cli->argv[i]);

		if (r == 0)
			ok++;
		else if (r == 1)
			refused++;
		else {
			rc = EXIT_FATAL;
			break;
		}
	}
	cli_store_done(store, lock);
	if (!cli->quiet && rc != EXIT_FATAL)
		printf("cem-response: %d recorded, %d refused\n", ok, refused);
	return rc != EXIT_DONE ? rc : refused ? EXIT_SOME : EXIT_DONE;
}
