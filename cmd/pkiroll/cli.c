/*
 * What every command of the tool shares: its errors (and every log line's
 * journal priority), the configuration
 * (read once), the store's path, opening it under the writers' lock, and
 * the exit code of a library error. main.c dispatches to the commands,
 * the commands call these: the calls run one way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* -1 not looked at yet, else 0 or 1 */
static int journal = -1;

int cli_journal(void)
{
	const char *e;
	unsigned long long dev, ino;
	struct stat st;
	char extra;

	if (journal >= 0)
		return journal;
	/* sd-daemon(3), JOURNAL_STREAM: "DEV:INO" of the stream systemd
	 * connected; it is the journal only if it is still our stderr (a
	 * redirection in a script inherits the variable) */
	e = getenv("JOURNAL_STREAM");
	journal = e != NULL && sscanf(e, "%llu:%llu%c", &dev, &ino, &extra) == 2 &&
		  fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
		  (unsigned long long)st.st_ino == ino;
	return journal;
}

const char *cli_log_prefix(enum pkiroll_level level)
{
	/* sd-daemon(3): SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG */
	static const char *const prefix[] = {
		[PKIROLL_LOG_ERROR] = "<3>", [PKIROLL_LOG_WARN] = "<4>",
		[PKIROLL_LOG_INFO] = "<6>",  [PKIROLL_LOG_DEBUG] = "<7>",
		[PKIROLL_LOG_TRACE] = "<7>",
	};

	if (!cli_journal() || (int)level < 0 || level > PKIROLL_LOG_TRACE)
		return "";
	return prefix[level];
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%spkiroll: ", cli_log_prefix(PKIROLL_LOG_ERROR));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const struct pkiroll_config *cli_config(struct cli *cli)
{
	if (cli->cfg_state == 0)
		cli->cfg_state = pkiroll_config_load(cli->ctx, cli->config, &cli->cfg) == PKIROLL_OK
					 ? 1
					 : -1;
	return cli->cfg_state > 0 ? &cli->cfg : NULL;
}

const char *cli_store_path(struct cli *cli)
{
	const struct pkiroll_config *cfg;

	if (cli->db_given)
		return cli->db;
	cfg = cli_config(cli);
	return cfg != NULL ? cfg->db : NULL;
}

int cli_store_writer(struct cli *cli, const char *db, int create, pkiroll_store **store,
		     pkiroll_lock **lock)
{
	int err;

	*store = NULL;
	*lock = NULL;
	/* no store yet and none to be made: the open says so, nothing is made */
	if (!create && access(db, F_OK) != 0)
		return pkiroll_store_open(cli->ctx, db, 0, store) == PKIROLL_OK ? 0 : EXIT_FATAL;
	if ((err = pkiroll_store_lock(cli->ctx, db, lock)) != PKIROLL_OK)
		return EXIT_FATAL;
	if (pkiroll_store_open(cli->ctx, db, create, store) != PKIROLL_OK) {
		pkiroll_store_unlock(*lock);
		*lock = NULL;
		return EXIT_FATAL;
	}
	return 0;
}

int cli_store_existing(struct cli *cli, pkiroll_store **store, pkiroll_lock **lock)
{
	if ((cli->db = cli_store_path(cli)) == NULL)
		return EXIT_USAGE;
	return cli_store_writer(cli, cli->db, 0, store, lock) != 0 ? EXIT_FATAL : 0;
}

void cli_store_done(pkiroll_store *store, pkiroll_lock *lock)
{
	pkiroll_store_close(store);
	pkiroll_store_unlock(lock);
}

int cli_exit_for(int err)
{
	switch (err) {
	case PKIROLL_OK:
		return EXIT_DONE;
	case PKIROLL_ERR_USAGE:
	case PKIROLL_ERR_CONFIG:
	case PKIROLL_ERR_MANIFEST:
		return EXIT_USAGE;
	case PKIROLL_ERR_STRICT:
		return EXIT_SOME;
	default:
		return EXIT_FATAL;
	}
}
