/*
 * The metrics file: what the store says, in the Prometheus text exposition
 * format (version 0.0.4) for node_exporter's textfile collector. Every
 * family has its HELP and TYPE lines and its samples together; label
 * values are escaped as the format says. Streamed from one query per
 * family into a temporary that is renamed over the file, so a scrape
 * never reads half of it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/fileio.h"
#include "store/store_monitor.h"

/* A label value as the format wants it: backslash, double quote and line
 * feed escaped; a value that is not UTF-8 (never from a manifest, which
 * refuses it) has its non-ASCII bytes as '?'. */
static void label(FILE *f, const char *v)
{
	int utf8 = base_utf8_valid((const unsigned char *)(v ? v : ""), v ? strlen(v) : 0);

	for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p >= 0x80 && !utf8)
			fputc('?', f);
		else
			fputc(*p, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int cert_line(void *arg, const char *community, const char *usage, const char *serial,
		     long long not_after)
{
	FILE *f = arg;

	fputs("pkiroll_certificate_not_after_seconds{community=\"", f);
	label(f, community);
	fputs("\",usage=\"", f);
	label(f, usage);
	fputs("\",serial=\"", f);
	label(f, serial);
	fprintf(f, "\"} %lld\n", not_after);
	return ferror(f) != 0;
}

/* The attention kinds counted: the known ones first (0 when none), then
 * any other a source gives. */
#define KINDS_MAX 16
struct kinds {
	char name[KINDS_MAX][32];
	unsigned long n[KINDS_MAX];
	int count;
};

static int count_kind(void *arg, const struct store_attention *a)
{
	struct kinds *k = arg;
	int i;

	for (i = 0; i < k->count; i++)
		if (strcmp(k->name[i], a->kind ? a->kind : "") == 0)
			break;
	if (i == k->count) {
		if (k->count == KINDS_MAX)
			return 0;
		snprintf(k->name[k->count++], sizeof(k->name[0]), "%s", a->kind ? a->kind : "");
	}
	k->n[i]++;
	return 0;
}

/* Communities per state and per kind of attention. */
static int write_communities(struct pkiroll_store *s, FILE *f)
{
	unsigned long count[PKIROLL_STATE__MAX];
	struct kinds k = {.count = 0};

	if (store_metrics_states(s, count) < 0)
		return -1;
	family(f, "pkiroll_communities", "gauge", "Communities in the store per state.");
	for (int i = 0; i < PKIROLL_STATE__MAX; i++)
		fprintf(f, "pkiroll_communities{state=\"%s\"} %lu\n", pkiroll_state_name(i),
			count[i]);
	for (int i = 0; store_attention_kinds[i] != NULL && i < KINDS_MAX; i++)
		snprintf(k.name[k.count++], sizeof(k.name[0]), "%s", store_attention_kinds[i]);
	if (store_attention_each(s, count_kind, &k) < 0)
		return -1;
	family(f, "pkiroll_attention_communities", "gauge",
	       "Communities that need someone, per kind (pkiroll status lists them).");
	for (int i = 0; i < k.count; i++) {
		fputs("pkiroll_attention_communities{kind=\"", f);
		label(f, k.name[i]);
		fprintf(f, "\"} %lu\n", k.n[i]);
	}
	return 0;
}

/* The last run of each command: four families, one pass each (a handful of rows). */
static const struct {
	const char *name, *help;
} run_families[] = {
	{"pkiroll_last_run_timestamp_seconds", "When the command last finished (Unix time)."},
	{"pkiroll_last_run_duration_seconds", "How long the command's last run took."},
	{"pkiroll_last_run_exit_code", "The exit code of the command's last run (0 success)."},
	{"pkiroll_last_run_success", "1 when the command's last run exited 0, else 0."},
	{"pkiroll_last_success_timestamp_seconds", "When the command last exited 0 (Unix time)."},
};

struct run_pass {
	FILE *f;
	int which; /* index in run_families */
};

static int run_line(void *arg, const char *command, double finished, double duration, int exit_code,
		    double succeeded)
{
	struct run_pass *p = arg;
	double v[] = {finished, duration, exit_code, exit_code == 0, succeeded};

	if (p->which == 4 && succeeded <= 0)
		return 0;
	fprintf(p->f, "%s{command=\"", run_families[p->which].name);
	label(p->f, command);
	/* times with milliseconds; the exit code and success as integers */
	fprintf(p->f, p->which == 2 || p->which == 3 ? "\"} %.0f\n" : "\"} %.3f\n", v[p->which]);
	return ferror(p->f) != 0;
}

static int cmp_line(void *arg, const char *operation, const char *result, const char *failinfo,
		    long long n)
{
	FILE *f = arg;

	fputs("pkiroll_cmp_requests_total{operation=\"", f);
	label(f, operation);
	fputs("\",result=\"", f);
	label(f, result);
	fputs("\",failinfo=\"", f);
	label(f, failinfo);
	fprintf(f, "\"} %lld\n", n);
	return ferror(f) != 0;
}

static int cem_line(void *arg, const char *partner, long long pending)
{
	FILE *f = arg;

	fputs("pkiroll_cem_pending_answers{partner=\"", f);
	label(f, partner);
	fprintf(f, "\"} %lld\n", pending);
	return ferror(f) != 0;
}

/* Every family, in order; 0 or -1 (the store's error is logged). */
static int write_all(struct pkiroll_store *s, FILE *f, time_t now)
{
	family(f, "pkiroll_certificate_not_after_seconds", "gauge",
	       "notAfter of each current, unrevoked certificate of a community in service "
	       "(Unix time).");
	if (store_metrics_certs(s, cert_line, f) < 0 || write_communities(s, f) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(run_families) / sizeof(run_families[0]); i++) {
		struct run_pass p = {.f = f, .which = (int)i};

		family(f, run_families[i].name, "gauge", run_families[i].help);
		if (store_metrics_runs(s, run_line, &p) < 0)
			return -1;
	}
	family(f, "pkiroll_cmp_requests_total", "counter",
	       "CMP transactions sent, per operation (ir, kur, rr), result and the CA's "
	       "failInfo, since the store was made.");
	if (store_metrics_cmp(s, cmp_line, f) < 0)
		return -1;
	family(f, "pkiroll_cem_pending_answers", "gauge",
	       "CEM answers a partner still owes on current certificates (asked, or Pending).");
	if (store_metrics_cem(s, cem_line, f) < 0)
		return -1;
	family(f, "pkiroll_metrics_written_timestamp_seconds", "gauge",
	       "When pkiroll wrote this file (Unix time).");
	fprintf(f, "pkiroll_metrics_written_timestamp_seconds %lld\n", (long long)now);
	return 0;
}

int pkiroll_metrics_write(pkiroll_store *s, const char *path, time_t now)
{
	struct file_atomic a;
	struct stat sb;
	int ok;

	/* the rename would replace whatever is there: a device, a FIFO (run
	 * as root, metrics_file = /dev/null would become a regular file) */
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode)) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"metrics file %s: not a regular file; it is left as it is", path);
		return PKIROLL_ERR_IO;
	}
	if (file_atomic_open(&a, path) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "metrics file %s: %s", path, strerror(errno));
		return PKIROLL_ERR_IO;
	}
	ok = write_all(s, a.f, now) == 0;
	if (!ok) {
		file_atomic_commit(&a, 0, 0644);
		return PKIROLL_ERR_STORE;
	}
	if (file_atomic_commit(&a, 1, 0644) < 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR, "metrics file %s: %s", path, strerror(errno));
		return PKIROLL_ERR_IO;
	}
	return PKIROLL_OK;
}
