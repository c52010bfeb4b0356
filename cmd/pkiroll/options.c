/*
 * What several commands parse alike, written once: the tail of an option
 * loop (an unknown option, an argument too many) and the keystore and
 * passphrase option groups, as cli_manifest_options() (check.c) is for a
 * manifest's options. Where a passphrase comes from is here too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"

int cli_bad_option(struct cli *cli, const char *cmd)
{
	cli_error("%s: unknown option or missing value \"%s\" (see pkiroll %s --help)", cmd,
		  cli->argv[optind - 1], cmd);
	return EXIT_USAGE;
}

int cli_no_args(struct cli *cli, const char *cmd)
{
	if (optind == cli->argc)
		return 0;
	cli_error("%s: unexpected argument \"%s\"", cmd, cli->argv[optind]);
	return EXIT_USAGE;
}

const struct pkiroll_config *cli_no_args_config(struct cli *cli, const char *cmd)
{
	return cli_no_args(cli, cmd) == 0 ? cli_config(cli) : NULL;
}

int cli_keystore_option(int c, const char **dir)
{
	if (c != CLI_OPT_KEYSTORE_DIR)
		return 0;
	*dir = optarg;
	return 1;
}

int cli_pass_option(const char *cmd, int c, struct cli_pass *p)
{
	char *end;

	switch (c) {
	case CLI_OPT_PASS_FILE:
		p->file = optarg;
		return 1;
	case CLI_OPT_PASS_FD:
		p->fd = (int)strtol(optarg, &end, 10);
		if (*end != '\0' || p->fd < 0) {
			cli_error("%s: --keystore-pass-fd takes a file descriptor number", cmd);
			return -1;
		}
		return 1;
	case CLI_OPT_INSECURE:
		p->insecure = 1;
		return 1;
	default:
		return 0;
	}
}

char *cli_pass_read(const char *cmd, const struct cli_pass *p, int *bad)
{
	char why[1200], *pass;

	pass = cli_passphrase(p->file, p->fd, "PKIROLL_KEYSTORE_PASS", p->insecure, bad, why,
			      sizeof(why));
	if (pass == NULL && *bad)
		cli_error("%s: %s %s", cmd,
			  p->file != NULL ? "--keystore-pass-file" : "--keystore-pass-fd", why);
	return pass;
}

char *cli_read_pass(int fd)
{
	char *buf = calloc(1, 1024);
	size_t n = 0;
	ssize_t r;

	if (buf == NULL)
		return NULL;
	while (n < 1023 && (r = read(fd, buf + n, 1023 - n)) > 0)
		n += (size_t)r;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		free(buf);
		return NULL;
	}
	return buf;
}

char *cli_passphrase(const char *file, int fd, const char *env, int insecure, int *bad, char *why,
		     size_t whylen)
{
	char *p = NULL;

	*bad = 0;
	why[0] = '\0';
	if (file != NULL) {
		/* a FIFO would hang the run, a readable file leaks the secret */
		int f = pkiroll_secret_file_open(file, insecure, why, whylen);

		if (f >= 0) {
			if ((p = cli_read_pass(f)) == NULL)
				snprintf(why, whylen, "%s: empty", file);
			close(f);
		}
		*bad = p == NULL;
	} else if (fd >= 0) {
		if ((*bad = (p = cli_read_pass(fd)) == NULL))
			snprintf(why, whylen, "descriptor %d: nothing to read", fd);
	} else if (getenv(env) != NULL && getenv(env)[0] != '\0') {
		p = strdup(getenv(env));
	}
	return p;
}

void cli_pass_free(char *p)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}
