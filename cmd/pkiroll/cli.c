/*
 * What every command of the tool shares: its errors, the configuration
 * (read once), the store's path, opening it under the writers' lock, and
 * the exit code of a library error. main.c dispatches to the commands,
 * the commands call these: the calls run one way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("pkiroll: ", stderr);
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
