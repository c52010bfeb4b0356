/*
 * pkiroll unretire COMMUNITY...: the way back from retire (and from an
 * import --retire-missing that went too far).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char help_unretire[] =
	"usage: pkiroll unretire COMMUNITY... [--dry-run]\n"
	"\n"
	"Brings retired communities back into service: enrolled again when they\n"
	"have current certificates that are not revoked (renewals and bundles take\n"
	"them up again), pending when they have none (pkiroll enroll sends their\n"
	"codes). A community whose certificates were revoked is not brought back:\n"
	"it needs new codes in a manifest (pkiroll import, then unretire). Every\n"
	"change is an event. Contacts no CA; refused while another command writes\n"
	"the store.\n"
	"\n"
	"  --dry-run   say what would happen, change nothing\n"
	"\n"
	"exit: 0 all brought back, 1 some not, 2 usage, 3 store or I/O\n";

int cmd_unretire(struct cli *cli)
{
	static const struct option o[] = {{"dry-run", no_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
	pkiroll_store *store = NULL;
	pkiroll_lock *lock = NULL;
	int c, dry = 0, rc = EXIT_DONE, done = 0, n;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", o, NULL)) != -1) {
		if (c != 'n') {
			cli_error("unretire: unknown option \"%s\" (see pkiroll unretire --help)",
				  cli->argv[optind - 1]);
			return EXIT_USAGE;
		}
		dry = cli->dry_run = 1;
	}
	if ((n = cli->argc - optind) < 1) {
		cli_error("unretire: which COMMUNITY? (see pkiroll unretire --help)");
		return EXIT_USAGE;
	}
	if ((rc = cli_store_existing(cli, &store, &lock)) != 0)
		return rc;
	for (int i = optind; i < cli->argc; i++) {
		const char *name = cli->argv[i];
		int r;

		r = pkiroll_unretire(store, name, "unretired (pkiroll unretire)", dry);
		if (r < 0) {
			rc = EXIT_FATAL;
			break;
		}
		if (r == 1) {
			done++;
			if (dry)
				printf("%s: would be brought back\n", name);
			continue;
		}
		cli_error("unretire: %s: %s", name,
			  r == 0   ? "not in the store"
			  : r == 2 ? "not retired"
				   : "its certificates are revoked: it needs new codes (pkiroll "
				     "import a manifest with them)");
		rc = EXIT_SOME;
	}
	cli_store_done(store, lock);
	if (!cli->quiet && rc != EXIT_FATAL)
		printf("unretire: %d of %d %s; their partners' bundles are stale (pkiroll "
		       "bundle --stale)\n",
		       done, n, dry ? "would be brought back (dry run)" : "brought back");
	return rc;
}
