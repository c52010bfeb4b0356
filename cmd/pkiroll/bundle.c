/*
 * pkiroll bundle [--out DIR] [--partner NAME] [--stale]: one zip per
 * trading partner.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

const char help_bundle[] =
	"usage: pkiroll bundle [--out DIR] [--partner NAME] [--stale] [--cem]\n"
	"\n"
	"Writes DIR/PARTNER.zip for every trading partner in the store (the\n"
	"manifest's partners column), with only public material:\n"
	"  COMMUNITY/signing.cer, .pem      each community's current certificates\n"
	"  COMMUNITY/encryption.cer, .pem   (DER and PEM; unexpired ones only)\n"
	"  COMMUNITY/previous/...           after a renewal, the replaced\n"
	"                                   certificates while still valid\n"
	"  ca/chain.p7b, ca/chain.pem       the CA certificates above them\n"
	"  fingerprints.txt, .html          MD5, SHA-1 and SHA-256 of every\n"
	"                                   certificate, to check by phone\n"
	"  SHA256SUMS                       of every other entry (sha256sum -c)\n"
	"The same store gives byte-identical zips: entries have a fixed order,\n"
	"the newest certificate's notBefore as their date (UTC) and fixed\n"
	"permissions. Each zip is written to a temporary file and renamed, and\n"
	"recorded in the store with the certificates it holds; a zip that would\n"
	"come out the same as the last one is not rewritten. Communities without\n"
	"a certificate yet are left out with a warning. The sheets say which\n"
	"serial a renewed certificate replaces, and from when.\n"
	"\n"
	"options:\n"
	"  --out DIR        where the zips go (default: bundle_dir from the\n"
	"                   configuration, else ./" PKIROLL_DEFAULT_BUNDLE_DIR ")\n"
	"  --partner NAME   only this partner\n"
	"  --cem            the partner's latest CEM requests (pkiroll cem) under cem/\n"
	"  --stale          only partners whose last zip holds a certificate that a\n"
	"                   renewal replaced (pkiroll renew --bundle does this)\n"
	"\n"
	"exit: 0 every partner's zip written with all its communities; 1 some\n"
	"communities or partners had no certificate yet, or a zip failed;\n"
	"2 usage, configuration, unknown partner or an --out directory that\n"
	"cannot be made or written; 3 store.\n";

static int write_bundles(struct cli *cli, struct pkiroll_bundle_opts *op, int all);

int cmd_bundle(struct cli *cli)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"partner", required_argument, NULL, 'p'},
		{"stale", no_argument, NULL, 's'},
		{"cem", no_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	struct pkiroll_bundle_opts o = {0};
	const struct pkiroll_config *cfg;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.out_dir = optarg;
			break;
		case 'p':
			o.partner = optarg;
			break;
		case 's':
			o.stale = 1;
			break;
		case 'c':
			o.cem = 1;
			break;
		default:
			return cli_bad_option(cli, "bundle");
		}
	}
	if ((cfg = cli_no_args_config(cli, "bundle")) == NULL)
		return EXIT_USAGE;
	if (o.out_dir == NULL)
		o.out_dir = cfg->bundle_dir;
	if (o.out_dir == NULL || o.out_dir[0] == '\0') {
		cli_error("bundle: --out: an empty directory name");
		return EXIT_USAGE;
	}
	return write_bundles(cli, &o, 1);
}

int cli_bundle_stale(struct cli *cli, const char *dir, int cem)
{
	struct pkiroll_bundle_opts o = {.out_dir = dir, .stale = 1, .cem = cem};

	return write_bundles(cli, &o, 0);
}

/* all: communities without a current certificate (and partners with none)
 * make the exit 1, as for pkiroll bundle; else only zips that failed do */
static int write_bundles(struct cli *cli, struct pkiroll_bundle_opts *op, int all)
{
	struct pkiroll_bundle_opts o = *op;
	struct pkiroll_bundle_stats st;
	pkiroll_store *store = NULL;
	pkiroll_lock *lock = NULL;
	int err, rc;

	if ((rc = cli_store_existing(cli, &store, &lock)) != 0)
		return rc;

	err = pkiroll_bundle_write(store, &o, &st);
	cli_store_done(store, lock);
	if (err == PKIROLL_ERR_USAGE || err == PKIROLL_ERR_CONFIG)
		return EXIT_USAGE; /* said in one line: nothing more to add */
	if (err == PKIROLL_ERR_STORE)
		return EXIT_FATAL;
	if (!cli->quiet) {
		if (st.partners == 0)
			printf("bundle: no trading partners in the store (the manifest's partners "
			       "column)\n");
		else if (o.stale &&
			 st.written + st.unchanged + st.failed + st.empty + st.removed == 0)
			printf("bundle: no stale bundle among %lu partner%s\n", st.partners,
			       st.partners == 1 ? "" : "s");
		else
			printf("bundle: %lu partner%s%s: %lu zip%s written in %s, %lu unchanged "
			       "(%lu communities, %lu certificates), %lu without any current "
			       "certificate, %lu removed (none any more), %lu failed; %lu "
			       "communit%s left out (no current certificate)\n",
			       st.partners, st.partners == 1 ? "" : "s",
			       o.stale ? " (stale only)" : "", st.written,
			       st.written == 1 ? "" : "s", o.out_dir, st.unchanged, st.communities,
			       st.certificates, st.empty, st.removed, st.failed, st.missing,
			       st.missing == 1 ? "y" : "ies");
	}
	return err != PKIROLL_OK || st.failed || (all && (st.empty || st.missing)) ? EXIT_SOME
										   : EXIT_DONE;
}
