/*
 * A run's report: per community what happened and what its deploy hook
 * did, as one JSON object for --report and the post hook.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "base/fileio.h"

static const char *const deploy_names[PKIROLL_DEPLOY__MAX] = {
	[PKIROLL_DEPLOY_NONE] = "none",	      [PKIROLL_DEPLOY_OK] = "ok",
	[PKIROLL_DEPLOY_FAILED] = "failed",   [PKIROLL_DEPLOY_TIMEOUT] = "timeout",
	[PKIROLL_DEPLOY_PENDING] = "pending",
};

const char *pkiroll_deploy_result_name(int result)
{
	return result >= 0 && result < PKIROLL_DEPLOY__MAX ? deploy_names[result] : "unknown";
}

struct pkiroll_report_item *pkiroll_report_item(struct pkiroll_report *rep, const char *name)
{
	struct pkiroll_report_item *it;

	for (size_t i = 0; i < rep->n; i++)
		if (strcmp(rep->items[i].name, name) == 0)
			return &rep->items[i];
	if (BASE_GROW(rep->items, rep->cap, rep->n + 1) < 0)
		return NULL;
	it = &rep->items[rep->n++];
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	return it;
}

void pkiroll_report_free(struct pkiroll_report *rep)
{
	free(rep->items);
	memset(rep, 0, sizeof(*rep));
}

/* "" becomes null: a field that does not apply. */
static json_t *text_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *item_json(const struct pkiroll_report_item *it)
{
	json_t *o = json_object(), *ser = json_array(), *dep = json_object();
	char buf[sizeof(it->serials)], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", it->serials);
	for (char *t = strtok_r(buf, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		json_array_append_new(ser, json_string(t));
	json_object_set_new(dep, "result", json_string(pkiroll_deploy_result_name(it->deploy)));
	json_object_set_new(dep, "event", text_or_null(it->deploy_event));
	json_object_set_new(dep, "status",
			    it->deploy == PKIROLL_DEPLOY_NONE ||
					    it->deploy == PKIROLL_DEPLOY_PENDING
				    ? json_null()
				    : json_integer(it->deploy_status));
	json_object_set_new(o, "name", json_string(it->name));
	json_object_set_new(o, "outcome", text_or_null(it->outcome));
	json_object_set_new(o, "reason", text_or_null(it->reason));
	json_object_set_new(o, "failInfo", text_or_null(it->failinfo));
	json_object_set_new(o, "serials", ser);
	json_object_set_new(o, "duration", json_real(it->duration));
	json_object_set_new(o, "retries", json_integer(it->retries));
	json_object_set_new(o, "deploy", dep);
	return o;
}

char *pkiroll_report_json(const char *command, double started, double finished, int exit_code,
			  const struct pkiroll_run_stats *st, const struct pkiroll_report *rep)
{
	json_t *root = json_object(), *counts = json_object(), *list = json_array();
	char *out;

	json_object_set_new(counts, "rows", json_integer((json_int_t)st->rows));
	json_object_set_new(counts, "bad_rows", json_integer((json_int_t)st->bad_rows));
	json_object_set_new(counts, "due", json_integer((json_int_t)st->due));
	json_object_set_new(counts, "enrolled", json_integer((json_int_t)st->enrolled));
	json_object_set_new(counts, "renewed", json_integer((json_int_t)st->renewed));
	json_object_set_new(counts, "revoked", json_integer((json_int_t)st->revoked));
	json_object_set_new(counts, "retired", json_integer((json_int_t)st->retired));
	json_object_set_new(counts, "failed", json_integer((json_int_t)st->failed));
	json_object_set_new(counts, "needs_codes", json_integer((json_int_t)st->needs_codes));
	json_object_set_new(counts, "skipped", json_integer((json_int_t)st->skipped));
	json_object_set_new(counts, "retries", json_integer((json_int_t)st->retries));
	json_object_set_new(counts, "deployed", json_integer((json_int_t)st->deployed));
	json_object_set_new(counts, "deploy_failed", json_integer((json_int_t)st->deploy_failed));
	for (size_t i = 0; rep != NULL && i < rep->n; i++)
		json_array_append_new(list, item_json(&rep->items[i]));
	json_object_set_new(root, "command", json_string(command));
	json_object_set_new(root, "started", json_real(started));
	json_object_set_new(root, "finished", json_real(finished));
	json_object_set_new(root, "duration", json_real(finished - started));
	json_object_set_new(root, "exit_code", json_integer(exit_code));
	json_object_set_new(root, "interrupted", json_boolean(st->interrupted));
	json_object_set_new(root, "counts", counts);
	json_object_set_new(root, "communities", list);
	out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return out;
}

int pkiroll_report_write(pkiroll_ctx *ctx, const char *path, const char *text)
{
	struct file_atomic a;
	int ok;

	if (file_atomic_open(&a, path) < 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", path, strerror(errno));
		return PKIROLL_ERR_IO;
	}
	ok = fputs(text, a.f) >= 0 && fputc('\n', a.f) != EOF;
	if (file_atomic_commit(&a, ok, 0600) < 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %s", path, strerror(errno));
		return PKIROLL_ERR_IO;
	}
	return PKIROLL_OK;
}
