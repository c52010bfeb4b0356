/*
 * pkiroll check MANIFEST: validate a manifest, contact nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char help_check[] =
	"usage: pkiroll check MANIFEST [--delimiter C] [--strict]\n"
	"                      [--insecure-code-files]\n"
	"\n"
	"Reads the whole manifest, reports every problem as FILE:LINE: column:\n"
	"reason, and prints a count of good and bad rows. Contacts no CA and\n"
	"does not touch the store.\n"
	"\n"
	"  --delimiter C  ',' ';' or 'tab' (default: detected from the header)\n"
	"  --strict       stop at the first bad row\n"
	"  --insecure-code-files  accept file: codes that group or others\n"
	"                 may read (refused by default, as ssh refuses such a key)\n"
	"\n"
	"exit: 0 all rows good, 1 some rows bad, 2 the manifest cannot be read\n";

/* Parses a --delimiter value; returns 0 if it is not one we know. */
char cli_parse_delimiter(const char *s)
{
	if (strcmp(s, ",") == 0 || strcmp(s, "comma") == 0)
		return ',';
	if (strcmp(s, ";") == 0 || strcmp(s, "semicolon") == 0)
		return ';';
	if (strcmp(s, "\t") == 0 || strcmp(s, "\\t") == 0 || strcmp(s, "tab") == 0)
		return '\t';
	return 0;
}

int cli_manifest_options(struct cli *cli, const char *cmd, struct pkiroll_manifest_opts *mo)
{
	static const struct option opts[] = {
		{"delimiter", required_argument, NULL, 'd'},
		{"strict", no_argument, NULL, 's'},
		{"insecure-code-files", no_argument, NULL, 'I'},
		{"retire-missing", no_argument, NULL, 'R'},
		{"max-retire", required_argument, NULL, 'M'},
		{"force", no_argument, NULL, 'F'},
		{"dry-run", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if ((mo->delimiter = cli_parse_delimiter(optarg)) == 0) {
				cli_error("%s: --delimiter must be ',', ';' or tab", cmd);
				return -1;
			}
			break;
		case 's':
			mo->strict = 1;
			break;
		case 'I':
			mo->insecure_code_files = 1;
			break;
		case 'R':
			if (strcmp(cmd, "import") != 0) {
				cli_error("%s: --retire-missing is for pkiroll import", cmd);
				return -1;
			}
			mo->retire_missing = 1;
			break;
		case 'M':
		case 'F':
		case 'n':
			if (strcmp(cmd, "import") != 0) {
				cli_error("%s: --%s is for pkiroll import", cmd,
					  c == 'M'   ? "max-retire"
					  : c == 'F' ? "force"
						     : "dry-run");
				return -1;
			}
			if (c == 'F')
				mo->force = 1;
			else if (c == 'n')
				mo->dry_run = 1;
			else {
				char *end;

				mo->max_retire = strtol(optarg, &end, 10);
				if (*optarg == '\0' || *end != '\0' || mo->max_retire < 0) {
					cli_error("import: --max-retire wants a number, not \"%s\"",
						  optarg);
					return -1;
				}
			}
			break;
		default:
			cli_error("%s: unknown option or missing value \"%s\" (see pkiroll %s "
				  "--help)",
				  cmd, cli->argv[optind - 1], cmd);
			return -1;
		}
	}
	if (optind != cli->argc - 1) {
		cli_error("%s: exactly one MANIFEST expected (see pkiroll %s --help)", cmd, cmd);
		return -1;
	}
	return 0;
}

int cmd_check(struct cli *cli)
{
	struct pkiroll_manifest_opts mo = {0};
	struct pkiroll_manifest_stats st;
	int err;

	if (cli_manifest_options(cli, "check", &mo) < 0)
		return EXIT_USAGE;
	err = pkiroll_manifest_check(cli->ctx, cli->argv[optind], &mo, &st);
	if (err != PKIROLL_OK && err != PKIROLL_ERR_STRICT) {
		cli_error("check: %s: %s", cli->argv[optind], pkiroll_strerror(err));
		return err == PKIROLL_ERR_NOENT || err == PKIROLL_ERR_IO ? EXIT_USAGE
									 : cli_exit_for(err);
	}
	if (!cli->quiet)
		printf("%s: %lu rows: %lu good, %lu bad, %lu warnings%s\n", cli->argv[optind],
		       st.rows, st.good, st.bad, st.warnings,
		       err == PKIROLL_ERR_STRICT ? " (stopped at the first bad row)" : "");
	return st.bad == 0 && err == PKIROLL_OK ? EXIT_DONE : EXIT_SOME;
}
