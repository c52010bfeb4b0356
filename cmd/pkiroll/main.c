/*
 * pkiroll COMMAND [options]: global options, dispatch, help, exit codes.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"

static const char usage_text[] =
	"usage: pkiroll [--db PATH] [--config FILE] [--metrics-file PATH] [-v] [-q]\n"
	"               COMMAND [options]\n"
	"\n"
	"Enrolls B2B trading communities on an Entrust-style PKI over CMP, keeps\n"
	"their state in SQLite and builds partner certificate bundles.\n"
	"\n"
	"commands:\n"
	"  enroll       enroll the communities of a manifest over CMP\n"
	"  renew        renew certificates before they expire (kur), from cron\n"
	"  revoke       revoke a community's certificates (rr)\n"
	"  retire       take a community out of service (and out of the bundles)\n"
	"  unretire     bring a retired community back into service\n"
	"  deploy       run the deploy hooks still owed (a failed or killed one)\n"
	"  cem          certificate exchange requests for the partners (EDIINT CEM)\n"
	"  cem-response record the partners' CEM responses\n"
	"  ping         send a genm to the CA: is it there, does it know us\n"
	"  rekey-keystores  move every keystore to a new passphrase (crash-safe)\n"
	"  bundle       write one zip per trading partner\n"
	"  status       state counts, communities that need attention, expiring certificates\n"
	"  check        validate a manifest without contacting any CA\n"
	"  import       load or update a manifest in the store, enroll nothing\n"
	"  export       a community's certificates (der, pem, p7b) or keystore (p12)\n"
	"  fingerprint  MD5, SHA-1 and SHA-256 fingerprints of certificate files\n"
	"  version      print the version\n"
	"  help         this text, or `pkiroll help COMMAND`\n"
	"\n"
	"global options (before or after the command):\n"
	"  --db PATH       the store (default ./" PKIROLL_DEFAULT_DB ")\n"
	"  --config FILE   configuration file (default ./pkiroll.conf, else\n"
	"                  /etc/pkiroll.conf, when present; PKIROLL_SYSTEM_CONFIG\n"
	"                  names another system file, empty for none)\n"
	"  -v              more output (repeatable; -vvv: every CMP message\n"
	"                  sent and received, one line each)\n"
	"  -q              errors only\n"
	"  --metrics-file PATH  after each command that opens the store, write its\n"
	"                  metrics there (Prometheus text format; overrides the\n"
	"                  configuration's metrics_file)\n"
	"\n"
	"Log lines go to stderr; when stderr is the journal (JOURNAL_STREAM), each\n"
	"carries its priority (<3> error, <4> warning, <6> info, <7> debug).\n"
	"\n"
	"exit codes:\n"
	"  0  all done, or nothing to do\n"
	"  1  some communities (or manifest rows) failed\n"
	"  2  usage or configuration error\n"
	"  3  fatal error (store, I/O)\n"
	"  4  ping: no answer from the CA\n"
	"  130, 143  enroll, renew, revoke: stopped by SIGINT (130) or SIGTERM (143);\n"
	"       what finished is saved; run again to resume\n";

struct command {
	const char *name;
	int (*run)(struct cli *);
	const char *help;
	int store; /* opens the store: its run is recorded, the metrics file written */
};

static const char help_version[] =
	"usage: pkiroll version\n\nPrints the version of pkiroll and its libraries.\n";
static const char help_help[] =
	"usage: pkiroll help [COMMAND]\n\nPrints the overview, or a command's help.\n";

static int cmd_version(struct cli *cli)
{
	struct pkiroll_libversion libs[PKIROLL_MAX_LIBS];
	size_t n;

	if (cli->argc > 1) {
		cli_error("version: takes no arguments");
		return EXIT_USAGE;
	}
	printf("pkiroll %s\n", PKIROLL_VERSION);
	n = pkiroll_library_versions(libs);
	for (size_t i = 0; i < n; i++)
		printf("  %-9s %s%s\n", libs[i].name, libs[i].version,
		       libs[i].built ? " (built with)" : "");
	return EXIT_DONE;
}

static int cmd_help(struct cli *cli);

static const struct command commands[] = {
	{"enroll", cmd_enroll, help_enroll, 1},
	{"renew", cmd_renew, help_renew, 1},
	{"bundle", cmd_bundle, help_bundle, 1},
	{"status", cmd_status, help_status, 1},
	{"check", cmd_check, help_check, 0},
	{"import", cmd_import, help_import, 1},
	{"export", cmd_export, help_export, 1},
	{"fingerprint", cmd_fingerprint, help_fingerprint, 0},
	{"version", cmd_version, help_version, 0},
	{"help", cmd_help, help_help, 0},
	{"revoke", cmd_revoke, help_revoke, 1},
	{"retire", cmd_retire, help_retire, 1},
	{"unretire", cmd_unretire, help_unretire, 1},
	{"cem", cmd_cem, help_cem, 1},
	{"cem-response", cmd_cem_response, help_cem_response, 1},
	{"ping", cmd_ping, help_ping, 1},
	{"rekey-keystores", cmd_rekey, help_rekey, 1},
	{"deploy", cmd_deploy, help_deploy, 1},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_help(struct cli *cli)
{
	const struct command *c;

	if (cli->argc < 2) {
		fputs(usage_text, stdout);
		return EXIT_DONE;
	}
	if ((c = find_command(cli->argv[1])) == NULL) {
		cli_error("help: unknown command \"%s\"", cli->argv[1]);
		return EXIT_USAGE;
	}
	fputs(c->help, stdout);
	return EXIT_DONE;
}

static void log_line(void *arg, enum pkiroll_level level, const char *msg)
{
	const struct cli *cli = arg;

	if (cli->quiet && level > PKIROLL_LOG_ERROR)
		return;
	if ((level == PKIROLL_LOG_DEBUG && cli->verbose == 0) ||
	    (level == PKIROLL_LOG_TRACE && cli->verbose < 3))
		return;
	/* messages carry text from outside (a CA's, a partner's): shown escaped */
	{
		size_t n = strlen(msg) * 4 + 1;
		char *safe = malloc(n);

		fprintf(stderr, "%s%s\n", cli_log_prefix(level),
			safe ? pkiroll_text_display(msg, safe, n) : msg);
		free(safe);
	}
}

/* Takes the value of option opt from "--opt=V" or the next argument. */
static int option_value(int argc, char **argv, int *i, const char *opt, const char **val)
{
	size_t n = strlen(opt);

	if (strncmp(argv[*i], opt, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		cli_error("%s needs a value", opt);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

/*
 * Takes the global options out of argv, wherever they are; the rest (the
 * command and its options, in order) goes to cli->argv.
 */
static int parse_globals(struct cli *cli, int argc, char **argv)
{
	int r, rest = 0;

	cli->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (cli->argv == NULL)
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (rest) {
			cli->argv[cli->argc++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			rest = 1;
			if (cli->argc > 0)
				cli->argv[cli->argc++] = argv[i];
			continue;
		}
		if ((r = option_value(argc, argv, &i, "--db", &cli->db)) != 0 ||
		    (r = option_value(argc, argv, &i, "--config", &cli->config)) != 0 ||
		    (r = option_value(argc, argv, &i, "--metrics-file", &cli->metrics_file)) != 0) {
			if (r < 0)
				return -1;
			continue;
		}
		if (a[0] == '-' && a[1] != '-' && a[1] != '\0' &&
		    strspn(a + 1, "vq") == strlen(a + 1)) {
			for (const char *p = a + 1; *p; p++) {
				if (*p == 'v')
					cli->verbose++;
				else
					cli->quiet = 1;
			}
			continue;
		}
		if (cli->argc == 0 && a[0] == '-') {
			if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
				cli->argv[cli->argc++] = "help";
				continue;
			}
			if (strcmp(a, "--version") == 0) {
				cli->argv[cli->argc++] = "version";
				continue;
			}
			cli_error("unknown option \"%s\" before the command (see pkiroll help)", a);
			return -1;
		}
		cli->argv[cli->argc++] = argv[i];
	}
	return 0;
}

static int wants_help(const struct cli *cli)
{
	for (int i = 1; i < cli->argc; i++) {
		if (strcmp(cli->argv[i], "--") == 0)
			return 0;
		if (strcmp(cli->argv[i], "--help") == 0 || strcmp(cli->argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct cli cli = {.prog = "pkiroll"};
	const struct command *c;
	int rc;

	if (parse_globals(&cli, argc, argv) < 0) {
		free(cli.argv);
		return EXIT_USAGE;
	}
	if (cli.argc == 0) {
		fputs(usage_text, stderr);
		free(cli.argv);
		return EXIT_USAGE;
	}
	if ((c = find_command(cli.argv[0])) == NULL) {
		cli_error("unknown command \"%s\" (see pkiroll help)", cli.argv[0]);
		free(cli.argv);
		return EXIT_USAGE;
	}
	if (wants_help(&cli)) {
		fputs(c->help, stdout);
		free(cli.argv);
		return EXIT_DONE;
	}
	if (cli.config != NULL && access(cli.config, R_OK) != 0) {
		cli_error("--config %s: %s", cli.config, strerror(errno));
		free(cli.argv);
		return EXIT_USAGE;
	}
	cli.db_given = cli.db != NULL;
	if ((cli.ctx = pkiroll_ctx_new(log_line, &cli)) == NULL) {
		cli_error("out of memory");
		free(cli.argv);
		return EXIT_FATAL;
	}
	cli_monitor_start(&cli);
	rc = c->run(&cli);
	if (c->store)
		cli_monitor_finish(&cli, c->name, rc);
	pkiroll_ctx_free(cli.ctx);
	free(cli.argv);
	return rc;
}
