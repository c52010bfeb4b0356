/*
 * pkiroll import MANIFEST: load or update the manifest in the store without
 * enrolling anything.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

const char help_import[] =
	"usage: pkiroll import MANIFEST [--delimiter C] [--strict] [--insecure-code-files]\n"
	"                      [--retire-missing [--max-retire N] [--force]] [--dry-run]\n"
	"\n"
	"Validates the manifest and upserts its good rows into the store\n"
	"(--db): new communities become pending, changed rows are updated and\n"
	"each change is reported, unchanged rows are left alone. Communities\n"
	"that are not in the manifest are kept, unless --retire-missing: then\n"
	"each is retired and named; nothing is retired when the manifest has a\n"
	"bad row (it may be the one that lists it), has no good row at all, or\n"
	"would retire more than the limit. pkiroll unretire brings one back.\n"
	"Contacts no CA. Waits for no one: refused while another command writes\n"
	"the store.\n"
	"\n"
	"  --delimiter C    ',' ';' or 'tab' (default: detected from the header)\n"
	"  --strict         stop at the first bad row and import nothing\n"
	"  --insecure-code-files  accept file: codes that group or others\n"
	"                   may read (refused by default)\n"
	"  --max-retire N   retire at most N (default: 10% of the store's\n"
	"                   communities, at least 1); more is refused\n"
	"  --force          retire however many the manifest leaves out\n"
	"  --dry-run        show what would be added, updated and retired;\n"
	"                   write nothing\n"
	"\n"
	"exit: 0 all rows imported, 1 some rows bad or the retirement refused,\n"
	"      2 usage, 3 store error\n";

int cmd_import(struct cli *cli)
{
	struct pkiroll_manifest_opts mo = {.max_retire = -1};
	struct pkiroll_import_stats st;
	pkiroll_store *store;
	pkiroll_lock *lock;
	int err;

	if (cli_manifest_options(cli, "import", &mo) < 0)
		return EXIT_USAGE;
	if ((cli->db = cli_store_path(cli)) == NULL)
		return EXIT_USAGE;
	/* a manifest that cannot be read creates no store */
	if ((err = pkiroll_manifest_open_check(cli->ctx, cli->argv[optind], &mo)) != PKIROLL_OK) {
		cli_error("import: %s: %s", cli->argv[optind], pkiroll_strerror(err));
		return EXIT_USAGE;
	}
	if (cli_store_writer(cli, cli->db, 1, &store, &lock) != 0)
		return EXIT_FATAL;
	err = pkiroll_store_import(store, cli->argv[optind], &mo, &st);
	cli_store_done(store, lock);
	if (err != PKIROLL_OK) {
		cli_error("import: %s: %s", cli->argv[optind], pkiroll_strerror(err));
		return err == PKIROLL_ERR_NOENT ? EXIT_USAGE : cli_exit_for(err);
	}
	if (!cli->quiet)
		printf("%s%s: %lu rows: %lu added, %lu updated, %lu unchanged, %lu bad%s",
		       mo.dry_run ? "dry run, nothing written: " : "", cli->argv[optind], st.rows,
		       st.added, st.updated, st.unchanged, st.bad, mo.retire_missing ? "" : "\n");
	if (!cli->quiet && mo.retire_missing)
		printf(", %lu %s (not in the manifest)%s\n", st.retired,
		       mo.dry_run ? "would be retired" : "retired",
		       st.retire_refused ? "; retiring refused" : "");
	return st.bad == 0 && !st.retire_refused ? EXIT_DONE : EXIT_SOME;
}
