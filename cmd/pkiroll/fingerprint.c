/*
 * pkiroll fingerprint FILE...: the fingerprints a partner reads out on the
 * phone, for certificate files (PEM, possibly several, or DER).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

const char help_fingerprint[] =
	"usage: pkiroll fingerprint FILE...\n"
	"\n"
	"For every certificate in each FILE (PEM, any number, or one DER):\n"
	"subject, issuer, serial, validity, key type and the MD5, SHA-1 and\n"
	"SHA-256 fingerprints of its DER encoding, as on the partner sheets.\n";

int cmd_fingerprint(struct cli *cli)
{
	int rc = EXIT_DONE;

	if (cli->argc < 2) {
		cli_error("fingerprint: at least one FILE expected");
		return EXIT_USAGE;
	}
	for (int i = 1; i < cli->argc; i++) {
		struct pkiroll_cert_info *info;
		size_t n;
		int err;

		if (cli->argv[i][0] == '-' && strcmp(cli->argv[i], "-") != 0 &&
		    strcmp(cli->argv[i - 1], "--") != 0 && strcmp(cli->argv[i], "--") != 0) {
			cli_error("fingerprint: unknown option \"%s\"", cli->argv[i]);
			return EXIT_USAGE;
		}
		if (strcmp(cli->argv[i], "--") == 0)
			continue;
		err = pkiroll_cert_file_info(cli->ctx, cli->argv[i], &info, &n);
		if (err != PKIROLL_OK) {
			cli_error("fingerprint: %s: %s", cli->argv[i], pkiroll_strerror(err));
			rc = EXIT_SOME;
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			char nb[32], na[32];
			struct tm tm;

			gmtime_r(&info[k].not_before, &tm);
			strftime(nb, sizeof(nb), "%Y-%m-%d %H:%M:%S UTC", &tm);
			gmtime_r(&info[k].not_after, &tm);
			strftime(na, sizeof(na), "%Y-%m-%d %H:%M:%S UTC", &tm);
			printf("%s%s:\n  subject    %s\n  issuer     %s\n  serial     %s\n"
			       "  valid      %s to %s\n  key        %s\n"
			       "  MD5        %s\n  SHA-1      %s\n  SHA-256    %s\n",
			       n > 1 || cli->argc > 2 ? "\n" : "", cli->argv[i], info[k].subject,
			       info[k].issuer, info[k].serial, nb, na, info[k].key_type,
			       info[k].fp.md5, info[k].fp.sha1, info[k].fp.sha256);
		}
		pkiroll_cert_info_free(info, n);
	}
	return rc;
}
