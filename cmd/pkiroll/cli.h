/*
 * The pkiroll tool: what main.c hands to each command.
 */
#ifndef PKIROLL_CLI_H
#define PKIROLL_CLI_H

#include <getopt.h>
#include <time.h>

#include "pkiroll.h"

/* A number macro as a string, for --help texts: CLI_STR(2) is "2". */
#define CLI_STR_(x) #x
#define CLI_STR(x) CLI_STR_(x)

/* Documented exit codes (pkiroll help, README). */
enum {
	EXIT_DONE = 0,	   /* all done, or nothing to do */
	EXIT_SOME = 1,	   /* some communities (or rows) failed */
	EXIT_USAGE = 2,	   /* usage or configuration error */
	EXIT_FATAL = 3,	   /* store, I/O */
	EXIT_NOANSWER = 4, /* ping: no answer from the CA */
	/* a run stopped by a signal, after its workers stopped and what they
	 * finished was saved: 128 + the signal, as a shell reports it (130
	 * SIGINT, 143 SIGTERM); cli_run_exit() says which */
	EXIT_INTERRUPTED = 130,
};

struct cli {
	const char *prog;
	const char *db;	    /* --db, else (cli_store_path()) the config's db */
	int db_given;	    /* --db was on the command line */
	const char *config; /* --config, or NULL */
	int verbose;	    /* -v count */
	int quiet;	    /* -q */
	pkiroll_ctx *ctx;
	int argc; /* the command's arguments, argv[0] = command */
	char **argv;
	/* the configuration, read once (cli_config()) */
	int cfg_state; /* 0 not read yet, 1 read, -1 could not be */
	struct pkiroll_config cfg;
	const char *metrics_file; /* --metrics-file, else the config's */
	double started;		  /* monotonic seconds when the command began */
	int dry_run;		  /* --dry-run: the metrics file, but no run recorded */
};

/* Prints "pkiroll: msg" on stderr (after the journal's "<3>"). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The configuration, with every default filled in (lib/input/config.c):
 * read by main.c the first time a command asks, then the same for the rest
 * of the process. NULL (reported) when it cannot be read.
 */
const struct pkiroll_config *cli_config(struct cli *cli);

/*
 * The store path for commands that use one: --db, else the configuration
 * file's db (default ./pkiroll.db). Returns NULL (reported) when the
 * configuration cannot be read.
 */
const char *cli_store_path(struct cli *cli);

/* 1 when stderr is the journal (JOURNAL_STREAM names it, sd-daemon(3)). */
int cli_journal(void);
/* The sd-daemon priority prefix of a log line at level ("<3>" for an
 * error ...) when stderr is the journal, else "". Every line on stderr
 * starts with it. */
const char *cli_log_prefix(enum pkiroll_level level);

/* ---- monitoring (monitor.c) ---- */

/* Before a command: when it began. */
void cli_monitor_start(struct cli *cli);
/* After a command that opens the store, with its exit code: when a
 * metrics file is configured and the store exists, the run is recorded
 * in the store (not a dry run) and the metrics file written; a failure is
 * reported and leaves the exit code alone. */
void cli_monitor_finish(struct cli *cli, const char *command, int rc);

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
/* cli_store_writer() on the store path (cli_store_path(), into cli->db)
 * for a command that writes to a store it does not create: 0, EXIT_USAGE
 * (the configuration) or EXIT_FATAL. */
int cli_store_existing(struct cli *cli, pkiroll_store **store, pkiroll_lock **lock);

/* ---- the command tail and the shared option groups (options.c) ---- */

/* Prints CMD: unknown option or missing value "ARG" (see pkiroll CMD --help)
 * for the option getopt_long just refused; returns EXIT_USAGE. */
int cli_bad_option(struct cli *cli, const char *cmd);
/* No argument may follow the options: 0, or EXIT_USAGE (reported). */
int cli_no_args(struct cli *cli, const char *cmd);
/* The tail of a command that takes no argument: none may follow the
 * options, then the configuration (cli_config()); NULL (reported) when
 * either fails. */
const struct pkiroll_config *cli_no_args_config(struct cli *cli, const char *cmd);

/* Codes of the shared options, above any letter a command's own table uses. */
enum cli_opt {
	CLI_OPT_CA = 256,
	CLI_OPT_CA_URL,
	CLI_OPT_LIMIT,
	CLI_OPT_DRY_RUN,
	CLI_OPT_DUMP_DIR,
	CLI_OPT_RETRY_FAILED,
	CLI_OPT_DELIMITER,
	CLI_OPT_STRICT,
	CLI_OPT_KEYSTORE_DIR,
	CLI_OPT_PASS_FILE,
	CLI_OPT_PASS_FD,
	CLI_OPT_INSECURE,
	CLI_OPT_DEPLOY_HOOK,
	CLI_OPT_POST_HOOK,
	CLI_OPT_HOOK_TIMEOUT,
	CLI_OPT_REPORT,
	/* the run verbs' own, named in each of their tables (cli_run_misplaced) */
	CLI_OPT_WITHIN,
	CLI_OPT_COMMUNITY,
	CLI_OPT_NOW,
	CLI_OPT_CEM,
	CLI_OPT_BUNDLE,
	CLI_OPT_BUNDLE_DIR,
	CLI_OPT_USAGE,
	CLI_OPT_REASON,
	CLI_OPT_REFERENCE,
	CLI_OPT_CODE_FILE,
	CLI_OPT_REVOKE,
	CLI_OPT_YES,
};

/* One row of a getopt_long table, for the groups below. */
#define CLI_OPTION(name, has_arg, code)                                                            \
	{                                                                                          \
		(name), (has_arg), NULL, (code)                                                    \
	}

/* Keystore options: --keystore-dir (default: the config's keystore_dir). */
#define CLI_KEYSTORE_OPTIONS CLI_OPTION("keystore-dir", required_argument, CLI_OPT_KEYSTORE_DIR)
/* 1 taken (into *dir), 0 not a keystore option. */
int cli_keystore_option(int c, const char **dir);

/* Passphrase options: the keystore passphrase from a file or a descriptor
 * (else PKIROLL_KEYSTORE_PASS), and --insecure-code-files. */
#define CLI_PASS_OPTIONS                                                                           \
	CLI_OPTION("keystore-pass-file", required_argument, CLI_OPT_PASS_FILE),                    \
		CLI_OPTION("keystore-pass-fd", required_argument, CLI_OPT_PASS_FD),                \
		CLI_OPTION("insecure-code-files", no_argument, CLI_OPT_INSECURE)
struct cli_pass {
	const char *file;
	int fd; /* -1: none */
	int insecure;
};
#define CLI_PASS_INIT                                                                              \
	{                                                                                          \
		.file = NULL, .fd = -1, .insecure = 0                                              \
	}
/* 1 taken, 0 not a passphrase option, -1 a bad descriptor (reported as
 * "CMD: --keystore-pass-fd takes a file descriptor number"). */
int cli_pass_option(const char *cmd, int c, struct cli_pass *p);
/* The passphrase the options (or the environment) give, or NULL: none
 * given, or *bad set when one was and could not be read (reported as
 * "CMD: --keystore-pass-file|fd WHY"). Free with cli_pass_free(). */
char *cli_pass_read(const char *cmd, const struct cli_pass *p, int *bad);

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

/* ---- the run verbs: enroll, renew, revoke, retire (run.c) ---- */

/* Run options: -j, --ca, --ca-url, --limit, --dry-run, --dump-dir and the
 * manifest's --retry-failed, --delimiter, --strict; with the keystore and
 * passphrase groups, every run verb takes them. */
#define CLI_RUN_OPTIONS                                                                            \
	CLI_OPTION("jobs", required_argument, 'j'),                                                \
		CLI_OPTION("ca", required_argument, CLI_OPT_CA),                                   \
		CLI_OPTION("ca-url", required_argument, CLI_OPT_CA_URL),                           \
		CLI_OPTION("limit", required_argument, CLI_OPT_LIMIT),                             \
		CLI_OPTION("dry-run", no_argument, CLI_OPT_DRY_RUN),                               \
		CLI_OPTION("retry-failed", no_argument, CLI_OPT_RETRY_FAILED),                     \
		CLI_OPTION("delimiter", required_argument, CLI_OPT_DELIMITER),                     \
		CLI_OPTION("strict", no_argument, CLI_OPT_STRICT),                                 \
		CLI_OPTION("dump-dir", required_argument, CLI_OPT_DUMP_DIR), CLI_KEYSTORE_OPTIONS, \
		CLI_PASS_OPTIONS, CLI_HOOK_OPTIONS
/* Hooks and the report: every run verb and pkiroll deploy. */
#define CLI_HOOK_OPTIONS                                                                           \
	CLI_OPTION("deploy-hook", required_argument, CLI_OPT_DEPLOY_HOOK),                         \
		CLI_OPTION("post-hook", required_argument, CLI_OPT_POST_HOOK),                     \
		CLI_OPTION("hook-timeout", required_argument, CLI_OPT_HOOK_TIMEOUT),               \
		CLI_OPTION("report", required_argument, CLI_OPT_REPORT)
/* The verbs' own options. Every run verb's table holds every group, so
 * that an option meant for another verb is named as such
 * (cli_run_misplaced()) and abbreviations resolve as they always have. */
#define CLI_RENEW_OPTIONS                                                                          \
	CLI_OPTION("within", required_argument, CLI_OPT_WITHIN),                                   \
		CLI_OPTION("community", required_argument, CLI_OPT_COMMUNITY),                     \
		CLI_OPTION("now", no_argument, CLI_OPT_NOW),                                       \
		CLI_OPTION("cem", no_argument, CLI_OPT_CEM)
#define CLI_BUNDLE_OPTIONS                                                                         \
	CLI_OPTION("bundle", no_argument, CLI_OPT_BUNDLE),                                         \
		CLI_OPTION("bundle-dir", required_argument, CLI_OPT_BUNDLE_DIR)
#define CLI_REVOKE_OPTIONS                                                                         \
	CLI_OPTION("usage", required_argument, CLI_OPT_USAGE),                                     \
		CLI_OPTION("reason", required_argument, CLI_OPT_REASON),                           \
		CLI_OPTION("reference", required_argument, CLI_OPT_REFERENCE),                     \
		CLI_OPTION("code-file", required_argument, CLI_OPT_CODE_FILE),                     \
		CLI_OPTION("yes", no_argument, CLI_OPT_YES)
#define CLI_RETIRE_OPTIONS CLI_OPTION("revoke", no_argument, CLI_OPT_REVOKE)

/* The end of an option table. */
#define CLI_OPTIONS_END                                                                            \
	{                                                                                          \
		NULL, 0, NULL, 0                                                                   \
	}

/* What a run verb gathers from its options and hands to its door. */
struct cli_run {
	struct pkiroll_run_opts o;
	struct pkiroll_enroll_opts e; /* the manifest's options */
	struct cli_pass pass;
	const struct pkiroll_config *cfg; /* cli_run_config() */
	char *passphrase;		  /* cli_run_start(), wiped by cli_run_finish() */
	int tty;			  /* progress: stderr is a terminal */
	time_t last;			  /* progress: the last line, when not a terminal */
	int quiet;
	/* hooks and the report (cli_run_report()) */
	const char *post_hook;	 /* --post-hook, else the config's */
	const char *report_path; /* --report */
	struct pkiroll_report report;
	struct pkiroll_run_stats st; /* the door's, from cli_run_finish() */
	double started;
	int ran; /* the door ran to its end */
};
#define CLI_RUN_INIT                                                                               \
	{                                                                                          \
		.pass = CLI_PASS_INIT                                                              \
	}

/* A verb's own option: 1 taken, 0 not its own, -1 a bad value (reported). */
typedef int cli_own_option_fn(int c, void *arg);
/*
 * The option loop of a run verb over its table (-j and the long options
 * of opts): the run, keystore and passphrase groups, then own(c, arg) (may
 * be NULL), and anything else is another verb's or unknown. 0, or the exit
 * code (reported).
 */
int cli_run_parse(struct cli *cli, const char *cmd, const struct option *opts, struct cli_run *run,
		  cli_own_option_fn *own, void *arg);
/* --bundle, --bundle-dir (renew, retire): 1 taken, 0 not one. */
int cli_bundle_option(int c, int *bundle, const char **dir);
/* An option of another run verb, or an unknown one: reported; EXIT_USAGE. */
int cli_run_misplaced(struct cli *cli, const char *cmd, int c);
/* After the arguments: --ca against --ca-url, the configuration, the store
 * path, the keystore directory. 0 or an exit code. */
int cli_run_config(struct cli *cli, const char *cmd, struct cli_run *run);
/* Before the door: the passphrase (not for a dry run), the signals, and
 * the progress line when progress is set. 0 or an exit code. */
int cli_run_start(struct cli *cli, const char *cmd, struct cli_run *run, int progress);
/* After the door: wipes the passphrase; reports err, or prints the dry
 * run's line ("would be WOULD"). -1 when the run's summary is the
 * verb's to print, else the exit code. */
int cli_run_finish(struct cli *cli, const char *cmd, struct cli_run *run, int err,
		   const struct pkiroll_run_stats *st, const char *would);
/* One of CLI_HOOK_OPTIONS: 1 taken, 0 not one, -1 a bad value (reported). */
int cli_hook_option(const char *cmd, int c, struct cli_run *run);
/*
 * The end of every run verb (and pkiroll deploy), given its exit code rc:
 * 1 when a deploy hook failed, then the run's JSON report to the post
 * hook (its failure makes the exit 1) and to --report. Frees the report.
 * Returns the exit code.
 */
int cli_run_report(struct cli *cli, const char *cmd, struct cli_run *run, int rc);
/* The exit code of a run that completed: 130 when a signal stopped it,
 * else 1 when anything was left. */
int cli_run_exit(const struct pkiroll_run_stats *st);
/* 128 + the signal that stopped the run (EXIT_INTERRUPTED if none seen) */
int cli_interrupted_exit(void);
/* -v: memory and CPU of the run, for make bench. */
void cli_run_rusage(struct cli *cli);

/* revoke.c: the revocation's options, shared by revoke and retire --revoke */
struct cli_revoke {
	struct pkiroll_revoke_opts rv;
	const char *code_file;
	int reason_given;
	int yes; /* --yes: no question on a terminal, and none needed without one */
	char code[512];
};
/* One of CLI_REVOKE_OPTIONS: 1 taken, 0 not one, -1 a bad value
 * (reported). */
int cli_revoke_option(const char *cmd, int c, struct cli_revoke *r);
/* After the options: the COMMUNITY arguments (into r->rv), the reason
 * when needed, the usage, the code file. 0 or EXIT_USAGE (reported). */
int cli_revoke_args(struct cli *cli, const char *cmd, struct cli_revoke *r, int need_reason,
		    int insecure);
/* The revocation run of revoke and retire --revoke, after cli_run_config():
 * the door and its summary. The exit code; *done set when it ran to the
 * end (not a dry run, no error), so retire goes on. */
int cli_revoke_run(struct cli *cli, const char *cmd, struct cli_run *run, struct cli_revoke *r,
		   int *done);

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
int cmd_deploy(struct cli *cli);
int cmd_unretire(struct cli *cli);
int cmd_ping(struct cli *cli);
int cmd_rekey(struct cli *cli);

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
extern const char help_deploy[];
extern const char help_unretire[];
extern const char help_ping[];
extern const char help_rekey[];

#endif
