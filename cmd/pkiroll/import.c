/*
 * pkiroll import MANIFEST: load or update the manifest in the store without
 * enrolling anything.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

const char help_import[] = "usage: pkiroll import MANIFEST [--delimiter C] [--strict]\n"
			   "                       [--insecure-code-files] [--retire-missing]\n"
			   "\n"
			   "Validates the manifest and upserts its good rows into the store\n"
			   "(--db): new communities become pending, changed rows are updated and\n"
			   "each change is reported, unchanged rows are left alone. Communities\n"
			   "that are not in the manifest are kept, unless --retire-missing: then\n"
			   "each is retired and named (not when the manifest has bad rows: one\n"
			   "of them may list it). Contacts no CA.\n"
			   "\n"
			   "  --delimiter C  ',' ';' or 'tab' (default: detected from the header)\n"
			   "  --strict       stop at the first bad row and import nothing\n"
			   "  --insecure-code-files  accept file: codes that group or others\n"
			   "                 may read (refused by default)\n"
			   "\n"
			   "exit: 0 all rows imported, 1 some rows bad, 2 usage, 3 store error\n";

int cmd_import(struct cli *cli)
{
	struct pkiroll_manifest_opts mo = {0};
	struct pkiroll_import_stats st;
	pkiroll_store *store;
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
	if ((err = pkiroll_store_open(cli->ctx, cli->db, 1, &store)) != PKIROLL_OK) {
		cli_error("import: %s: %s", cli->db, pkiroll_strerror(err));
		return EXIT_FATAL;
	}
	err = pkiroll_store_import(store, cli->argv[optind], &mo, &st);
	pkiroll_store_close(store);
	if (err != PKIROLL_OK) {
		cli_error("import: %s: %s", cli->argv[optind], pkiroll_strerror(err));
		return err == PKIROLL_ERR_NOENT ? EXIT_USAGE : cli_exit_for(err);
	}
	if (!cli->quiet)
		printf("%s: %lu rows: %lu added, %lu updated, %lu unchanged, %lu bad%s",
		       cli->argv[optind], st.rows, st.added, st.updated, st.unchanged, st.bad,
		       mo.retire_missing ? "" : "\n");
	if (!cli->quiet && mo.retire_missing)
		printf(", %lu retired (not in the manifest)\n", st.retired);
	return st.bad == 0 ? EXIT_DONE : EXIT_SOME;
}
