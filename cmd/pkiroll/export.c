/*
 * pkiroll export COMMUNITY: a certificate to a file (der, pem), the
 * certificates with the chain (p7b), or the keystore under a new passphrase
 * (p12).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"

const char help_export[] =
	"usage: pkiroll export COMMUNITY [--usage signing|encryption|both]\n"
	"                      [--format der|pem|p7b|p12] [-o FILE|-] [--serial S] [--force]\n"
	"                      p12: [--out-pass-file F | --out-pass-fd N] [--legacy]\n"
	"                           [--keystore-dir DIR] [--keystore-pass-file F |\n"
	"                           --keystore-pass-fd N] [--insecure-code-files]\n"
	"\n"
	"Writes a community's certificates for a partner whose software takes files:\n"
	"  der, pem  one certificate (--usage signing, the default, or encryption)\n"
	"  p7b       its certificates (both by default) and the CA chain, as a\n"
	"            certs-only PKCS#7\n"
	"  p12       its keystore re-wrapped under a new passphrase, to import the\n"
	"            community into a gateway (both keys by default, with the earlier\n"
	"            decryption keys; --legacy: 3DES/SHA-1 for old importers). The new\n"
	"            passphrase comes from --out-pass-file, --out-pass-fd or\n"
	"            PKIROLL_EXPORT_PASS, the keystore's as for pkiroll enroll; never\n"
	"            from the command line. A passphrase file must be a regular file\n"
	"            that only its owner can read or write (--insecure-code-files\n"
	"            accepts one that group or others may read).\n"
	"--serial S exports that certificate of the community's history (a replaced\n"
	"one) instead of the current one. The default format is pem, the default\n"
	"output stdout (-o -). A private key is never written to a terminal, and an\n"
	"existing file is not overwritten without --force. --force replaces a\n"
	"regular file only: a symbolic link (even to a regular file), a device, a\n"
	"FIFO or a directory at -o is refused (use -o - and a redirection). Files\n"
	"are written to a temporary file and renamed; a p12 is 0600.\n"
	"\n"
	"exit: 0 written, 1 no such certificate, 2 unknown community or usage,\n"
	"      3 store or I/O\n";

/* What is at path may be replaced: nothing, or (with force) a regular file.
 * A device, a FIFO, a socket, a directory or a symbolic link (even to a
 * regular file: /dev/stdout, /proc/self/fd/1) never is; -o - writes to
 * stdout. 0, or -1 with errno (EEXIST: a regular file, without force;
 * EPERM: not a regular file). */
static int replaceable(const char *path, int force)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	errno = S_ISREG(st.st_mode) ? EEXIST : EPERM;
	return S_ISREG(st.st_mode) && force ? 0 : -1;
}

/* Why replaceable() said no, for a message. */
static const char *not_replaced(void)
{
	return errno == EEXIST ? "exists (--force replaces it)"
	       : errno == EPERM
		       ? "is not a regular file (a symbolic link, device, FIFO, socket or "
			 "directory): export replaces regular files only, even with --force; "
			 "-o - writes to stdout"
		       : strerror(errno);
}

/* Writes data to path through a temporary file beside it; without force an
 * existing file stays (EEXIST), and only a regular file is ever replaced
 * (EPERM). 0 or -1 with errno. */
static int write_file(const char *path, const unsigned char *data, size_t len, int mode, int force)
{
	char tmp[4200];
	size_t off = 0;
	int fd, e;

	if (replaceable(path, force) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	/* link() never replaces: the refusal of an existing file has no race;
	 * rename() replaces the name itself, never what a link points to */
	if (force ? replaceable(path, force) < 0 || rename(tmp, path) < 0 : link(tmp, path) < 0)
		goto fail;
	if (!force)
		unlink(tmp);
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/* p12: the keystore's passphrase and the new one, never from argv. 0, or
 * -1 (reported); what was read is the caller's to free either way. */
static int p12_passes(const struct cli_pass *po, const char *out_pass_file, int out_fd, char **pass,
		      char **out_pass)
{
	char why[1200];
	int bad;

	if ((*pass = cli_pass_read("export", po, &bad)) == NULL) {
		if (!bad)
			cli_error("export: the keystore passphrase: --keystore-pass-file, "
				  "--keystore-pass-fd or PKIROLL_KEYSTORE_PASS");
		return -1;
	}
	*out_pass = cli_passphrase(out_pass_file, out_fd, "PKIROLL_EXPORT_PASS", po->insecure, &bad,
				   why, sizeof(why));
	if (*out_pass == NULL) {
		if (bad)
			cli_error("export: %s %s",
				  out_pass_file ? "--out-pass-file" : "--out-pass-fd", why);
		else
			cli_error("export: a new passphrase for the p12: --out-pass-file, "
				  "--out-pass-fd or PKIROLL_EXPORT_PASS");
		return -1;
	}
	return 0;
}

int cmd_export(struct cli *cli)
{
	static const struct option opts[] = {
		{"usage", required_argument, NULL, 'U'},
		{"format", required_argument, NULL, 'f'},
		{"out", required_argument, NULL, 'o'},
		{"serial", required_argument, NULL, 's'},
		{"force", no_argument, NULL, 'F'},
		{"out-pass-file", required_argument, NULL, 'P'},
		{"out-pass-fd", required_argument, NULL, 'D'},
		{"legacy", no_argument, NULL, 'L'},
		CLI_KEYSTORE_OPTIONS,
		CLI_PASS_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	static const char *const formats[] = {"der", "pem", "p7b", "p12"};
	struct pkiroll_export_opts o = {.format = PKIROLL_EXPORT_PEM};
	struct cli_pass po = CLI_PASS_INIT;
	const struct pkiroll_config *cfg;
	const char *out = "-", *out_pass_file = NULL;
	int c, force = 0, out_fd = -1, err, rc = EXIT_FATAL;
	char *pass = NULL, *out_pass = NULL, *end;
	pkiroll_store *store = NULL;
	unsigned char *data = NULL;
	size_t len = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(cli->argc, cli->argv, "o:", opts, NULL)) != -1) {
		/* both descriptors are read below, as they always were */
		if (c != CLI_OPT_PASS_FD &&
		    (cli_keystore_option(c, &o.keystore_dir) || cli_pass_option("export", c, &po)))
			continue;
		switch (c) {
		case 'U':
			o.usage = strcmp(optarg, "signing") == 0      ? 1
				  : strcmp(optarg, "encryption") == 0 ? 2
				  : strcmp(optarg, "both") == 0	      ? 3
								      : -1;
			if (o.usage < 0) {
				cli_error("export: --usage is signing, encryption or both");
				return EXIT_USAGE;
			}
			break;
		case 'f':
			o.format = -1;
			for (int i = 0; i < 4; i++)
				if (strcmp(optarg, formats[i]) == 0)
					o.format = i;
			if (o.format < 0) {
				cli_error("export: --format is der, pem, p7b or p12");
				return EXIT_USAGE;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			o.serial = optarg;
			break;
		case 'F':
			force = 1;
			break;
		case 'P':
			out_pass_file = optarg;
			break;
		case 'D':
		case CLI_OPT_PASS_FD:
			if ((c == 'D' ? (out_fd = (int)strtol(optarg, &end, 10))
				      : (po.fd = (int)strtol(optarg, &end, 10))) < 0 ||
			    *end != '\0') {
				cli_error("export: %s takes a file descriptor number",
					  cli->argv[optind - 1]);
				return EXIT_USAGE;
			}
			break;
		case 'L':
			o.legacy = 1;
			break;
		default:
			return cli_bad_option(cli, "export");
		}
	}
	if (optind != cli->argc - 1) {
		cli_error("export: exactly one COMMUNITY expected (see pkiroll export --help)");
		return EXIT_USAGE;
	}
	o.community = cli->argv[optind];
	if (o.format != PKIROLL_EXPORT_P12 && (o.legacy || out_pass_file || out_fd >= 0)) {
		cli_error("export: --legacy and --out-pass-* are for --format p12");
		return EXIT_USAGE;
	}
	/* Phase: a private key goes to a file or a pipe, never a terminal. */
	if (o.format == PKIROLL_EXPORT_P12 && strcmp(out, "-") == 0 && isatty(1)) {
		cli_error("export: a p12 holds private keys: not written to a terminal (-o FILE)");
		return EXIT_USAGE;
	}
	if (strcmp(out, "-") != 0 && replaceable(out, force) < 0) {
		cli_error("export: %s: %s", out, not_replaced());
		return errno == EEXIST || errno == EPERM ? EXIT_USAGE : EXIT_FATAL;
	}
	if ((cfg = cli_config(cli)) == NULL)
		return EXIT_USAGE;
	if (o.keystore_dir == NULL)
		o.keystore_dir = cfg->keystore_dir;
	if (o.format == PKIROLL_EXPORT_P12) {
		if (p12_passes(&po, out_pass_file, out_fd, &pass, &out_pass) < 0) {
			rc = EXIT_USAGE;
			goto out;
		}
		o.pass = pass;
		o.out_pass = out_pass;
	}
	if ((cli->db = cli_store_path(cli)) == NULL) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (pkiroll_store_open(cli->ctx, cli->db, 0, &store) != PKIROLL_OK)
		goto out;

	/* Phase: the bytes, then where they go. */
	err = pkiroll_export(store, &o, &data, &len);
	if (err != PKIROLL_OK) {
		rc = err == PKIROLL_ERR_NOCERT ? EXIT_SOME
		     : err == PKIROLL_ERR_IO   ? EXIT_FATAL
					       : cli_exit_for(err);
		goto out;
	}
	if (strcmp(out, "-") == 0) {
		rc = fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0 ? EXIT_DONE
										: EXIT_FATAL;
	} else if (write_file(out, data, len, o.format == PKIROLL_EXPORT_P12 ? 0600 : 0644, force) <
		   0) {
		rc = errno == EEXIST || errno == EPERM ? EXIT_USAGE : EXIT_FATAL;
		cli_error("export: %s: %s", out, not_replaced());
	} else {
		rc = EXIT_DONE;
		if (!cli->quiet)
			fprintf(stderr, "%sexport: %s (%s, %zu bytes)\n",
				cli_log_prefix(PKIROLL_LOG_INFO), out, formats[o.format], len);
	}
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len);
	pkiroll_store_close(store);
	cli_pass_free(pass);
	cli_pass_free(out_pass);
	return rc;
}
