/*
 * pkiroll enroll MANIFEST: import, then enroll every due community.
 * pkiroll renew [MANIFEST]: the same run, then renew what expires soon.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"

const char help_enroll[] =
	"usage: pkiroll enroll MANIFEST [-j N] [--ca PROFILE | --ca-url URL]\n"
	"                      [--keystore-dir DIR] [--keystore-pass-file FILE |\n"
	"                      --keystore-pass-fd N] [--limit N] [--dry-run]\n"
	"                      [--retry-failed] [--delimiter C] [--strict]\n"
	"                      [--insecure-code-files] [--dump-dir DIR]\n"
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
	"  --keystore-dir DIR       default: the config's keystore_dir, else ./keystores\n"
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
	"\n"
	"Debugging: -vvv logs every CMP message sent and received (body type,\n"
	"transactionID, nonces, protection, PKIStatus and failInfo). Neither the\n"
	"dump files nor the trace hold an authorization code or a passphrase: a\n"
	"request carries a MAC made with the code, not the code. An ip's dump holds\n"
	"the CA-made encryption key as an EncryptedValue, which only the worker's\n"
	"protocolEncrKey decrypts, and that key is never written anywhere.\n"
	"\n"
	"SIGINT/SIGTERM: no new enrollments, those in flight finish, everything is\n"
	"recorded; a second signal aborts at once. Run again to resume.\n"
	"exit: 0 all enrolled (or nothing due), 1 some failed or need new codes,\n"
	"      2 usage or configuration, 3 store or I/O error\n";

const char help_renew[] =
	"usage: pkiroll renew [MANIFEST] [--within 30d|33%] [--limit N] [--community NAME]...\n"
	"                     [--now] [--dry-run] [--bundle] [--cem] [-j N] [--ca PROFILE |\n"
	"                     --ca-url URL] [--keystore-dir DIR] [--keystore-pass-file FILE |\n"
	"                     --keystore-pass-fd N] [--bundle-dir DIR] [--dump-dir DIR]\n"
	"\n"
	"Renews, without new activation codes, every enrolled community whose\n"
	"signing or encryption certificate expires within the window: kur (RFC 4210\n"
	"5.3.5) signed with the current certificate, a new client-made signing key,\n"
	"and for a dual-key community a new CA-made encryption key pair (the CA\n"
	"profile's renew_encryption = kur | keep | reenroll). The new PKCS#12 is\n"
	"written and synced as keystore.p12.staged beside the current one and\n"
	"renamed over it only after the CA confirmed; the previous one stays as\n"
	"keystore-SERIAL.p12, and the new one also holds the earlier decryption\n"
	"keys (encryption-SERIAL; keep_decryption_keys, default 2). A run killed\n"
	"at any point resumes on the next: nothing is renewed twice.\n"
	"\n"
	"Each community renews at a stable point inside the first half of its\n"
	"window, derived from its name, so a fleet enrolled on one day renews over\n"
	"several nights (pkiroll status shows the date). With MANIFEST, its rows\n"
	"are imported and the due ones enrolled first, as by pkiroll enroll: new\n"
	"codes there re-enroll a community that needs them.\n"
	"\n"
	"  --within W           30d, 12h, 2w or 33% of the lifetime (default: the\n"
	"                       config's renew_within, else 30d)\n"
	"  --community NAME     renew this one whatever its dates (repeatable);\n"
	"                       only the named ones are renewed\n"
	"  --now                no spreading: everything inside the window is due\n"
	"  --limit N            renew at most N communities this run\n"
	"  --dry-run            show what would be renewed; write nothing\n"
	"  --bundle             then rebuild the partner bundles that hold a\n"
	"                       replaced certificate (as pkiroll bundle --stale)\n"
	"  --bundle-dir DIR     where they go (default: the config's bundle_dir,\n"
	"                       else ./bundles)\n"
	"  --cem                also write the partners' CEM requests for the new\n"
	"                       certificates (as pkiroll cem --sign, into the config's\n"
	"                       cem_dir), and with --bundle put them in the zips\n"
	"  other options as for pkiroll enroll (--dump-dir and -vvv too)\n"
	"\n"
	"A certificate that has expired or was revoked, or a CA that refuses the\n"
	"kur, leaves the community in needs_codes with the reason: give it a new\n"
	"reference number and authorization code in the manifest. Other failures\n"
	"keep the current certificates and are retried on later runs (after 1, 2,\n"
	"4, 8, then 16 hours); the renew-after date never moves.\n"
	"\n"
	"Silent when there is nothing to do (for cron); one summary line otherwise.\n"
	"exit: 0 nothing to do or all renewed, 1 some failed or need new codes,\n"
	"      2 usage or configuration, 3 store or I/O error (or the store is in use)\n";

const char help_revoke[] =
	"usage: pkiroll revoke COMMUNITY... --reason REASON [--usage signing|encryption|both]\n"
	"                      [--dry-run] [-j N] [--ca PROFILE | --ca-url URL]\n"
	"                      [--keystore-dir DIR] [--keystore-pass-file FILE |\n"
	"                      --keystore-pass-fd N] [--reference R --code-file FILE]\n"
	"                      [--dump-dir DIR]\n"
	"\n"
	"Asks the CA to revoke each community's current certificates (both by\n"
	"default) with one rr (RFC 4210 5.3.9), signed with its signing key from the\n"
	"keystore. REASON is keyCompromise, affiliationChanged, superseded,\n"
	"cessationOfOperation or unspecified (RFC 5280 5.3.1). The request is on\n"
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
	"--dump-dir DIR and -vvv as for pkiroll enroll: the rr and the rp as DER\n"
	"files, a trace line for each.\n"
	"\n"
	"exit: 0 all revoked (or revoked already), 1 some were not (refused, no\n"
	"      answer, unknown), 2 usage or configuration, 3 store or I/O\n";

const char help_retire[] =
	"usage: pkiroll retire COMMUNITY... [--revoke --reason REASON [--usage ...]]\n"
	"                      [--bundle] [--bundle-dir DIR] and, with --revoke, the CA,\n"
	"                      keystore and passphrase options of pkiroll revoke\n"
	"                      (--dump-dir DIR and -vvv too)\n"
	"\n"
	"Takes communities out of service: state retired, never enrolled, renewed\n"
	"or bundled again. Their keystores stay. Their partners' bundles become\n"
	"stale; --bundle rebuilds them without the retired ones. With --revoke the\n"
	"certificates are revoked first (as pkiroll revoke), and a community whose\n"
	"revocation did not go through is not retired.\n"
	"\n"
	"exit: 0 all retired, 1 some not, 2 usage or configuration, 3 store or I/O\n";

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted++;
}

struct progress {
	int tty;
	int quiet;
	time_t last;
};

static void show(void *arg, const struct pkiroll_enroll_stats *st, int final)
{
	struct progress *p = arg;
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
		p->tty ? "\r\033[K" : "", done, st->rows, st->enrolled, st->failed, st->needs_codes,
		st->in_flight, rate, eta, p->tty && !final ? "" : "\n");
}

/* -v: memory and CPU of the run, for make bench */
static void print_usage(void)
{
	struct rusage self, kids;

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

enum mode { M_ENROLL, M_RENEW, M_REVOKE, M_RETIRE };

static const char *const mode_names[] = {"enroll", "renew", "revoke", "retire"};

/* retire: each named community (after its revocation, with --revoke) */
static int retire_all(struct cli *cli, const char *db, const char **names, int n, int revoked)
{
	pkiroll_store *store = NULL;
	pkiroll_lock *lock = NULL;
	int rc = EXIT_DONE, retired = 0;

	if ((rc = cli_store_writer(cli, db, 1, &store, &lock)) != 0)
		return rc;
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
			fprintf(stderr, "%s: retired already\n", names[i]);
		else {
			cli_error("retire: %s: %s", names[i],
				  r == 0 ? "not in the store"
					 : "its certificates are not revoked: not retired");
			rc = EXIT_SOME;
		}
	}
	cli_store_done(store, lock);
	if (!cli->quiet && rc != EXIT_FATAL)
		printf("retire: %d of %d retired; their partners' bundles are stale (pkiroll "
		       "bundle "
		       "--stale)\n",
		       retired, n);
	return rc;
}

static int run_cmd(struct cli *cli, int mode)
{
	static const struct option opts[] = {
		{"jobs", required_argument, NULL, 'j'},
		{"ca", required_argument, NULL, 'c'},
		{"ca-url", required_argument, NULL, 'u'},
		{"keystore-dir", required_argument, NULL, 'k'},
		{"keystore-pass-file", required_argument, NULL, 'p'},
		{"keystore-pass-fd", required_argument, NULL, 'f'},
		{"limit", required_argument, NULL, 'l'},
		{"dry-run", no_argument, NULL, 'n'},
		{"retry-failed", no_argument, NULL, 'r'},
		{"delimiter", required_argument, NULL, 'd'},
		{"strict", no_argument, NULL, 's'},
		{"insecure-code-files", no_argument, NULL, 'I'},
		{"within", required_argument, NULL, 'w'},
		{"community", required_argument, NULL, 'C'},
		{"now", no_argument, NULL, 'N'},
		{"bundle", no_argument, NULL, 'B'},
		{"bundle-dir", required_argument, NULL, 'D'},
		{"usage", required_argument, NULL, 'U'},
		{"reason", required_argument, NULL, 'R'},
		{"reference", required_argument, NULL, 'F'},
		{"code-file", required_argument, NULL, 'K'},
		{"revoke", no_argument, NULL, 'V'},
		{"cem", no_argument, NULL, 'M'},
		{"dump-dir", required_argument, NULL, 'O'},
		{NULL, 0, NULL, 0},
	};
	const int renew = mode == M_RENEW;
	const char *cmd = mode_names[mode], *bundle_dir = NULL, *code_file = NULL;
	char code[512] = "";
	int revoke = mode == M_REVOKE, cem = 0, cem_rc = EXIT_DONE;
	const char **names = NULL;
	int nnames = 0, bundle = 0;
	struct pkiroll_config cfg;
	struct pkiroll_enroll_opts o = {0};
	struct pkiroll_enroll_stats st;
	struct progress prog = {.tty = isatty(2), .quiet = cli->quiet};
	struct sigaction sa = {.sa_handler = on_signal};
	const char *pass_file = NULL;
	char *pass = NULL;
	int c, err, pass_fd = -1, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "j:", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'j':
			o.jobs = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || o.jobs < 1 || o.jobs > 1024) {
				cli_error("enroll: -j takes 1 to 1024");
				return EXIT_USAGE;
			}
			break;
		case 'c':
			o.ca = optarg;
			break;
		case 'O':
			o.dump_dir = optarg;
			break;
		case 'u':
			o.ca_url = optarg;
			break;
		case 'k':
			o.keystore_dir = optarg;
			break;
		case 'p':
			pass_file = optarg;
			break;
		case 'f':
			pass_fd = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || pass_fd < 0) {
				cli_error("enroll: --keystore-pass-fd takes a file descriptor "
					  "number");
				return EXIT_USAGE;
			}
			break;
		case 'l':
			o.limit = strtoul(optarg, &end, 10);
			if (*end != '\0' || o.limit == 0) {
				cli_error("enroll: --limit takes a positive number");
				return EXIT_USAGE;
			}
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'r':
			o.retry_failed = 1;
			break;
		case 'd':
			if ((o.mopts.delimiter = cli_parse_delimiter(optarg)) == 0) {
				cli_error("enroll: --delimiter must be ',', ';' or tab");
				return EXIT_USAGE;
			}
			break;
		case 's':
			o.mopts.strict = 1;
			break;
		case 'I':
			o.mopts.insecure_code_files = 1;
			break;
		case 'w':
			if (!renew || pkiroll_window_parse(optarg, &o.within) < 0) {
				cli_error("%s: --within takes 30d, 12h, 2w, 900s or 33%%%s", cmd,
					  renew ? "" : " (pkiroll renew only)");
				free(names);
				return EXIT_USAGE;
			}
			break;
		case 'C': {
			const char **nn =
				renew ? realloc(names, (size_t)(nnames + 1) * sizeof(*names))
				      : NULL;

			if (nn == NULL) {
				cli_error("%s: --community is for pkiroll renew", cmd);
				free(names);
				return EXIT_USAGE;
			}
			names = nn;
			names[nnames++] = optarg;
			break;
		}
		case 'U':
		case 'R':
		case 'F':
		case 'K':
		case 'V':
			if (mode < M_REVOKE || (c == 'V' && mode != M_RETIRE)) {
				cli_error("%s: %s is for pkiroll revoke or retire", cmd,
					  cli->argv[optind - 1]);
				free(names);
				return EXIT_USAGE;
			}
			if (c == 'U') {
				o.revoke_usage = strcmp(optarg, "signing") == 0	     ? 1
						 : strcmp(optarg, "encryption") == 0 ? 2
						 : strcmp(optarg, "both") == 0	     ? 3
										     : -1;
				if (o.revoke_usage < 0) {
					cli_error("%s: --usage is signing, encryption or both",
						  cmd);
					free(names);
					return EXIT_USAGE;
				}
			} else if (c == 'R') {
				if ((o.revoke_reason = pkiroll_revocation_reason(optarg)) < 0 ||
				    o.revoke_reason == 8) {
					cli_error("%s: --reason is keyCompromise, "
						  "affiliationChanged, "
						  "superseded, cessationOfOperation or unspecified",
						  cmd);
					free(names);
					return EXIT_USAGE;
				}
				revoke |= 4; /* a reason was given */
			} else if (c == 'F') {
				o.revoke_ref = optarg;
			} else if (c == 'K') {
				code_file = optarg;
			} else {
				revoke |= 1;
			}
			break;
		case 'M':
			if (!renew) {
				cli_error("%s: --cem is for pkiroll renew (and bundle)", cmd);
				free(names);
				return EXIT_USAGE;
			}
			cem = 1;
			break;
		case 'N':
		case 'B':
		case 'D':
			if (!renew && !(mode == M_RETIRE && c != 'N')) {
				cli_error("%s: %s is for pkiroll renew", cmd,
					  cli->argv[optind - 1]);
				free(names);
				return EXIT_USAGE;
			}
			if (c == 'N')
				o.renew_now = 1;
			else if (c == 'B')
				bundle = 1;
			else
				bundle_dir = optarg;
			break;
		default:
			cli_error("%s: unknown option or missing value \"%s\" (see pkiroll "
				  "%s --help)",
				  cmd, cli->argv[optind - 1], cmd);
			free(names);
			return EXIT_USAGE;
		}
	}
	if (mode >= M_REVOKE) {
		/* the communities are the arguments */
		if (optind >= cli->argc) {
			cli_error("%s: which COMMUNITY? (see pkiroll %s --help)", cmd, cmd);
			free(names);
			return EXIT_USAGE;
		}
		free(names);
		names = (const char **)cli->argv + optind;
		nnames = cli->argc - optind;
		optind = cli->argc;
		if ((revoke & 1) && !(revoke & 4)) {
			cli_error("%s: --reason is required (keyCompromise, affiliationChanged, "
				  "superseded, cessationOfOperation)",
				  cmd);
			return EXIT_USAGE;
		}
		if (o.revoke_usage == 0)
			o.revoke_usage = 3;
		if (code_file != NULL) {
			char why[300];

			if (o.revoke_ref == NULL || nnames != 1) {
				cli_error("%s: --code-file needs --reference and one COMMUNITY",
					  cmd);
				return EXIT_USAGE;
			}
			char spec[1100];

			snprintf(spec, sizeof(spec), "file:%s", code_file);
			if (pkiroll_code_resolve(spec, o.mopts.insecure_code_files, code,
						 sizeof(code), why, sizeof(why)) < 0) {
				cli_error("%s: --code-file %s", cmd, why);
				return EXIT_USAGE;
			}
			o.revoke_code = code;
		}
	} else if (renew ? optind < cli->argc - 1 : optind != cli->argc - 1) {
		cli_error(renew ? "renew: at most one MANIFEST expected (see pkiroll renew --help)"
				: "enroll: exactly one MANIFEST expected (see pkiroll enroll "
				  "--help)");
		free(names);
		return EXIT_USAGE;
	}
	o.manifest = optind < cli->argc ? cli->argv[optind] : NULL;
	o.renew = renew;
	o.revoke = mode == M_REVOKE || (mode == M_RETIRE && (revoke & 1));
	o.communities = names;
	o.ncommunities = nnames;
	if (o.ca != NULL && o.ca_url != NULL) {
		cli_error("%s: --ca and --ca-url exclude each other", cmd);
		free(names);
		return EXIT_USAGE;
	}
	if (pkiroll_config_load(cli->ctx, cli->config, &cfg) != PKIROLL_OK) {
		if (mode < M_REVOKE)
			free(names);
		return EXIT_USAGE;
	}
	o.config = &cfg;
	o.trace = cli->verbose >= 3;
	o.db = cli->db_given ? cli->db : cfg.db[0] ? cfg.db : cli->db;
	if (mode == M_RETIRE && !o.revoke) {
		/* retirement alone is the store's: no CA, no keys */
		int r = o.dry_run ? EXIT_DONE : retire_all(cli, o.db, names, nnames, 0);

		if (r == EXIT_DONE && bundle)
			r = cli_bundle_stale(cli,
					     bundle_dir		 ? bundle_dir
					     : cfg.bundle_dir[0] ? cfg.bundle_dir
								 : "bundles",
					     0);
		return r;
	}
	if (o.keystore_dir == NULL)
		o.keystore_dir = cfg.keystore_dir[0] ? cfg.keystore_dir : "keystores";

	/* Phase: the passphrase, never from argv. */
	if (!o.dry_run) {
		int bad;

		char why[1200];

		if ((pass = cli_passphrase(pass_file, pass_fd, "PKIROLL_KEYSTORE_PASS",
					   o.mopts.insecure_code_files, &bad, why, sizeof(why))) ==
			    NULL &&
		    bad) {
			cli_error("%s: %s %s", cmd,
				  pass_file != NULL ? "--keystore-pass-file" : "--keystore-pass-fd",
				  why);
			if (mode < M_REVOKE)
				free(names);
			return EXIT_USAGE;
		}
		o.passphrase = pass;
	}

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	o.interrupted = &interrupted;
	/* cron: a renewal with nothing to do prints nothing, not even progress */
	o.progress = o.manifest == NULL || (renew && !prog.tty) ? NULL : show;
	o.progress_arg = &prog;
	err = pkiroll_enroll(cli->ctx, &o, &st);
	OPENSSL_cleanse(code, sizeof(code));
	if (mode < M_REVOKE)
		free(names);
	if (err == PKIROLL_OK && renew && cem && !o.dry_run && st.renewed > 0) {
		/* the rollover's CEM requests, signed with the previous keys */
		struct pkiroll_cem_opts co = {
			.out_dir = cfg.cem_dir[0] ? cfg.cem_dir : "cem",
			.respond_within = 14LL * 86400,
			.response_url = cfg.cem_response_url[0] ? cfg.cem_response_url : NULL,
			.sign = pass != NULL,
			.keystore_dir = o.keystore_dir,
			.pass = pass};

		cem_rc = cli_cem_write(cli, &co);
	}
	cli_pass_free(pass);
	if (err != PKIROLL_OK) {
		cli_error("%s: %s", cmd, pkiroll_strerror(err));
		return err == PKIROLL_ERR_LOCKED ? EXIT_FATAL : cli_exit_for(err);
	}
	if (o.dry_run) {
		if (!cli->quiet)
			printf("dry run: %lu communities would be %s (%lu rows, %lu bad)\n", st.due,
			       renew	  ? "enrolled or renewed"
			       : o.revoke ? "revoked"
					  : "enrolled",
			       st.rows, st.bad_rows);
		return st.bad_rows || st.skipped ? EXIT_SOME : EXIT_DONE;
	}
	rc = st.failed || st.needs_codes || st.bad_rows || st.interrupted || st.skipped ? EXIT_SOME
											: EXIT_DONE;
	if (o.revoke) {
		if (!cli->quiet)
			printf("revoke: %d named, %lu sent: %lu revoked, %lu not (failed or "
			       "refused), %lu skipped, %lu retries, %.1f s%s\n",
			       nnames, st.due, st.revoked, st.failed, st.skipped, st.retries,
			       st.elapsed, st.interrupted ? " (interrupted: run again)" : "");
		if (mode == M_RETIRE) {
			int r = retire_all(cli, o.db, names, nnames, 1);

			rc = r != EXIT_DONE ? r : rc;
			if (bundle && r != EXIT_FATAL &&
			    cli_bundle_stale(cli,
					     bundle_dir		 ? bundle_dir
					     : cfg.bundle_dir[0] ? cfg.bundle_dir
								 : "bundles",
					     0) != EXIT_DONE)
				rc = EXIT_SOME;
		}
		return rc;
	}
	if (renew) {
		/* cron: silent when there was nothing to do */
		if (!cli->quiet && (st.due || st.failed || st.needs_codes || st.skipped ||
				    st.bad_rows || st.interrupted))
			printf("renew: %lu due: %lu renewed, %lu enrolled, %lu failed, %lu need "
			       "new "
			       "codes, %lu skipped, %lu retries, %.1f s%s\n",
			       st.due, st.renewed, st.enrolled, st.failed, st.needs_codes,
			       st.skipped, st.retries, st.elapsed,
			       st.interrupted ? " (interrupted: run again to resume)" : "");
		if (cli->verbose)
			print_usage();
		if (bundle && st.renewed > 0 &&
		    cli_bundle_stale(cli,
				     bundle_dir		 ? bundle_dir
				     : cfg.bundle_dir[0] ? cfg.bundle_dir
							 : "bundles",
				     cem) != EXIT_DONE)
			rc = EXIT_SOME;
		if (cem_rc != EXIT_DONE)
			rc = cem_rc == EXIT_FATAL ? EXIT_FATAL : EXIT_SOME;
		return rc;
	}
	if (!cli->quiet)
		printf("enroll: %lu rows (%lu bad), %lu due: %lu enrolled, %lu failed, %lu need "
		       "new codes, "
		       "%lu skipped, %lu retries, %.1f s%s\n",
		       st.rows, st.bad_rows, st.due, st.enrolled, st.failed, st.needs_codes,
		       st.skipped, st.retries, st.elapsed,
		       st.interrupted ? " (interrupted: run again to resume)" : "");
	if (cli->verbose)
		print_usage();
	return rc;
}

int cmd_enroll(struct cli *cli)
{
	return run_cmd(cli, M_ENROLL);
}

int cmd_renew(struct cli *cli)
{
	return run_cmd(cli, M_RENEW);
}

int cmd_revoke(struct cli *cli)
{
	return run_cmd(cli, M_REVOKE);
}

int cmd_retire(struct cli *cli)
{
	return run_cmd(cli, M_RETIRE);
}
