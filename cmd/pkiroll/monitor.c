/*
 * What monitoring sees of each command: after every command that opens
 * the store, its run recorded there and the metrics file written
 * (metrics_file, --metrics-file). The journal's priority prefix of the
 * log lines is cli.c's, with the errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Wall-clock seconds, with the fraction. */
static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_monitor_start(struct cli *cli)
{
	cli->started = mono_now();
}

void cli_monitor_finish(struct cli *cli, const char *command, int rc)
{
	const struct pkiroll_config *cfg;
	const char *path = cli->metrics_file, *db;
	pkiroll_store *store = NULL;
	double now = wall_now();

	/* Phase: is there a metrics file, and a store to read it from? */
	if (path == NULL) {
		if ((cfg = cli_config(cli)) == NULL || cfg->metrics_file[0] == '\0')
			return;
		path = cfg->metrics_file;
	}
	if ((db = cli_store_path(cli)) == NULL || access(db, F_OK) != 0)
		return;
	if (pkiroll_store_open(cli->ctx, db, 0, &store) != PKIROLL_OK) {
		cli_error("metrics file %s not written: the store cannot be opened", path);
		return;
	}

	/* Phase: this run (a dry run is none), kept in the store; then
	 * everything into the file. */
	if ((!cli->dry_run && pkiroll_run_record(store, command, now, mono_now() - cli->started,
						 rc) != PKIROLL_OK) ||
	    pkiroll_metrics_write(store, path, (time_t)now) != PKIROLL_OK)
		cli_error("metrics file %s not written", path);
	pkiroll_store_close(store);
}
