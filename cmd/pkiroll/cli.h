/*
 * The pkiroll tool: what main.c hands to each command.
 */
#ifndef PKIROLL_CLI_H
#define PKIROLL_CLI_H

#include "pkiroll.h"

/* Documented exit codes (pkiroll help, README). */
enum {
	EXIT_DONE = 0,	   /* all done, or nothing to do */
	EXIT_SOME = 1,	   /* some communities (or rows) failed */
	EXIT_USAGE = 2,	   /* usage or configuration error */
	EXIT_FATAL = 3,	   /* store, I/O */
	EXIT_NOANSWER = 4, /* ping: no answer from the CA */
};

struct cli {
	const char *prog;
	const char *db;	    /* --db, the config's db, or ./pkiroll.db */
	int db_given;	    /* --db was on the command line */
	const char *config; /* --config, or NULL */
	int verbose;	    /* -v count */
	int quiet;	    /* -q */
	pkiroll_ctx *ctx;
	int argc; /* the command's arguments, argv[0] = command */
	char **argv;
};

/* Prints "pkiroll: msg" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The store path for commands that use one: --db, else the configuration
 * file's db, else ./pkiroll.db. Returns NULL (reported) when the
 * configuration cannot be read.
 */
const char *cli_store_path(struct cli *cli);

/* Maps a library error to an exit code. */
int cli_exit_for(int err);

/*
 * Opens the store for a command that writes to it, under its one-writer
 * lock (pkiroll_store_lock(): a renew in flight keeps a retire out). 0, or
 * the exit code (the reason is logged). Close with cli_store_done().
 */
int cli_store_writer(struct cli *cli, const char *db, int create, pkiroll_store **store,
		     pkiroll_lock **lock);
void cli_store_done(pkiroll_store *store, pkiroll_lock *lock);

/* The first line of fd (a passphrase), or NULL if empty or unreadable. */
char *cli_read_pass(int fd);
/* A passphrase from a file (regular and private unless insecure, as file:
 * codes), a descriptor or the environment variable env; NULL if none was
 * given, or *bad set when one was and could not be read (why says why:
 * "--OPTION PATH: reason"). */
char *cli_passphrase(const char *file, int fd, const char *env, int insecure, int *bad, char *why,
		     size_t whylen);
/* Wipes and frees a passphrase. */
void cli_pass_free(char *p);

/* ',' ';' or tab from a --delimiter value (also "comma", "tab", ...), or 0. */
char cli_parse_delimiter(const char *s);

/*
 * Parses the options shared by check and import (--delimiter, --strict)
 * and one MANIFEST, left at cli->argv[optind]. Returns 0 or -1 (reported).
 */
int cli_manifest_options(struct cli *cli, const char *cmd, struct pkiroll_manifest_opts *mo);

int cmd_check(struct cli *cli);
int cmd_import(struct cli *cli);
int cmd_status(struct cli *cli);
int cmd_enroll(struct cli *cli);
int cmd_fingerprint(struct cli *cli);
int cmd_bundle(struct cli *cli);
int cmd_renew(struct cli *cli);
int cmd_revoke(struct cli *cli);
int cmd_export(struct cli *cli);
int cmd_cem(struct cli *cli);
int cmd_cem_response(struct cli *cli);

/* Writes the due CEM requests (pkiroll cem); an exit code. */
int cli_cem_write(struct cli *cli, struct pkiroll_cem_opts *o);
int cmd_retire(struct cli *cli);
int cmd_unretire(struct cli *cli);
int cmd_ping(struct cli *cli);

/* Rebuilds the stale partner bundles into dir (pkiroll bundle --stale);
 * an exit code: 1 only when a zip could not be written. */
int cli_bundle_stale(struct cli *cli, const char *dir, int cem);

extern const char help_check[];
extern const char help_import[];
extern const char help_status[];
extern const char help_enroll[];
extern const char help_fingerprint[];
extern const char help_bundle[];
extern const char help_renew[];
extern const char help_revoke[];
extern const char help_export[];
extern const char help_cem[];
extern const char help_cem_response[];
extern const char help_retire[];
extern const char help_unretire[];
extern const char help_ping[];

#endif
