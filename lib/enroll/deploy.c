/*
 * Deploy hooks: what a hook is told (its environment, never a secret),
 * its run, and the result in the store, the log and the report.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "enroll/deploy.h"
#include "input/manifest.h"
#include "write/hook.h"

extern char **environ;

/* What the environment never passes on to a hook: secrets, and the names
 * the hook gets from us (a stale one from our own caller would lie). */
static const char *const withheld[] = {
	"PKIROLL_KEYSTORE_PASS",
	"PKIROLL_NEW_KEYSTORE_PASS",
	"PKIROLL_EXPORT_PASS",
	"PKIROLL_CODE",
	"PKIROLL_EVENT",
	"PKIROLL_COMMUNITY",
	"PKIROLL_AS2_ID",
	"PKIROLL_KEYSTORE",
	"PKIROLL_PREVIOUS_KEYSTORE",
	"PKIROLL_SIGNING_CERT",
	"PKIROLL_ENCRYPTION_CERT",
	"PKIROLL_CHAIN",
	"PKIROLL_SERIALS",
	"PKIROLL_KEYSTORE_PASS_FILE",
};

static int withhold(const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t len = eq ? (size_t)(eq - entry) : strlen(entry);

	for (size_t i = 0; i < sizeof(withheld) / sizeof(withheld[0]); i++)
		if (strlen(withheld[i]) == len && strncmp(withheld[i], entry, len) == 0)
			return 1;
	/* a code a manifest read from the environment (env:NAME) */
	return manifest_code_env_named(entry, len);
}

/* The previous keystore a renewal kept: keystore-SERIAL.p12 by the
 * replaced certificate's serial, else the newest keystore-*.p12. */
static void previous_keystore(const char *dir, const struct deploy_item *it, char *out,
			      size_t outlen)
{
	struct dirent *e;
	time_t best = 0;
	DIR *dp;

	out[0] = '\0';
	if (strcmp(it->event, "renewed") != 0)
		return;
	snprintf(out, outlen, "%s/keystore-%s.p12", dir, it->prev_serial);
	if (it->prev_serial[0] && access(out, F_OK) == 0)
		return;
	out[0] = '\0';
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		char path[PATH_MAX + 300];
		struct stat st;
		size_t n = strlen(e->d_name);

		if (strncmp(e->d_name, "keystore-", 9) != 0 || n < 13 ||
		    strcmp(e->d_name + n - 4, ".p12") != 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
		    strlen(path) >= outlen)
			continue;
		if (stat(path, &st) == 0 && st.st_mtime >= best) {
			best = st.st_mtime;
			memcpy(out, path, strlen(path) + 1);
		}
	}
	closedir(dp);
}

/* ders as PEM certificates into dir/name, atomically, 0644 (they are
 * public). 0, or -1 with errno set. */
static int pem_write(const char *dir, const char *name, const struct export_cert *ders, int n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = -1;

	if (b == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (!PEM_write_bio(b, "CERTIFICATE", "", ders[i].der, (long)ders[i].len)) {
			errno = ENOMEM;
			goto out;
		}
	if ((len = BIO_get_mem_data(b, &data)) > 0)
		rc = file_atomic_write(dir, name, data, (size_t)len, 0644, 0);
out:
	BIO_free(b);
	return rc;
}

/* The PEM files a hook is named that the keystore directory lacks (a
 * copy removed, a keystore from elsewhere): written from the store's
 * certificates before the hook runs. Failures are logged; the hook then
 * gets "" for that file. */
static void pems_fill(const struct deploy_run *d, const struct deploy_item *it, const char *dir)
{
	static const char *const names[] = {"signing.pem", "encryption.pem", "chain.pem"};
	struct export_set e;
	char path[PATH_MAX + 16];
	int missing = 0;

	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		missing |= access(path, F_OK) != 0;
	}
	if (!missing || access(dir, W_OK) != 0 || store_deploy_certs(d->s, it->id, &e) < 0)
		return;
	for (int i = 0; i < 3; i++) {
		const struct export_cert *c = i == 2 ? e.chain : NULL;
		int n = i == 2 ? e.nchain : 0;

		for (int k = 0; i < 2 && k < e.ncert; k++)
			if (strcmp(e.cert[k].usage, i == 0 ? "signing" : "encryption") == 0) {
				c = &e.cert[k];
				n = 1;
			}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (n == 0 || access(path, F_OK) == 0)
			continue;
		if (pem_write(dir, names[i], c, n) < 0)
			ctx_log(d->ctx, PKIROLL_LOG_WARN, "%s: %s: %s", it->name, path,
				strerror(errno));
		else
			ctx_log(d->ctx, PKIROLL_LOG_INFO,
				"%s: %s written from the store for its hook", it->name, path);
	}
	store_export_clear(&e);
}

/* NAME=value, malloc'd; NULL when out of memory. */
static char *var(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *v = malloc(n);

	if (v != NULL)
		snprintf(v, n, "%s=%s", name, value);
	return v;
}

static void env_free(char **env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* Our environment without what is withheld, room for extra more;
 * NULL-terminated, every entry malloc'd (env_free()); NULL: no memory. */
static char **env_base(size_t extra, size_t *k)
{
	size_t n = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + extra + 1, sizeof(*env))) == NULL)
		return NULL;
	*k = 0;
	for (size_t i = 0; i < n; i++) {
		if (withhold(environ[i]))
			continue;
		if ((env[(*k)++] = strdup(environ[i])) == NULL) {
			env_free(env);
			return NULL;
		}
	}
	return env;
}

/* The hook's environment: env_base(), then what changed. NULL when out
 * of memory. */
static char **hook_env(const struct deploy_run *d, const struct deploy_item *it)
{
	char dir[PATH_MAX], ks[PATH_MAX + 16], prev[PATH_MAX + 200], sign[PATH_MAX + 16],
		enc[PATH_MAX + 16], chain[PATH_MAX + 16], pass[PATH_MAX];
	size_t k, k0;
	char **env;

	/* the store keeps the keystore's directory; the hook gets absolute
	 * paths, whatever directory it works in */
	if (realpath(it->keystore, dir) == NULL)
		snprintf(dir, sizeof(dir), "%s", it->keystore);
	snprintf(ks, sizeof(ks), "%s/keystore.p12", dir);
	pems_fill(d, it, dir);
	previous_keystore(dir, it, prev, sizeof(prev));
	snprintf(sign, sizeof(sign), "%s/signing.pem", dir);
	snprintf(enc, sizeof(enc), "%s/encryption.pem", dir);
	snprintf(chain, sizeof(chain), "%s/chain.pem", dir);
	if ((env = env_base(10, &k)) == NULL)
		return NULL;
	k0 = k;
	env[k++] = var("PKIROLL_EVENT", it->event);
	env[k++] = var("PKIROLL_COMMUNITY", it->name);
	env[k++] = var("PKIROLL_AS2_ID", it->as2_id);
	env[k++] = var("PKIROLL_KEYSTORE", access(ks, F_OK) == 0 ? ks : "");
	env[k++] = var("PKIROLL_PREVIOUS_KEYSTORE", prev);
	env[k++] = var("PKIROLL_SIGNING_CERT", access(sign, F_OK) == 0 ? sign : "");
	env[k++] = var("PKIROLL_ENCRYPTION_CERT", access(enc, F_OK) == 0 ? enc : "");
	env[k++] = var("PKIROLL_CHAIN", access(chain, F_OK) == 0 ? chain : "");
	env[k++] = var("PKIROLL_SERIALS", it->serials);
	if (d->pass_file != NULL)
		env[k++] = var("PKIROLL_KEYSTORE_PASS_FILE",
			       realpath(d->pass_file, pass) ? pass : d->pass_file);
	for (size_t i = k0; i < k; i++)
		if (env[i] == NULL) {
			/* free what follows the hole too */
			for (size_t j = i + 1; j < k; j++)
				free(env[j]);
			env_free(env);
			return NULL;
		}
	return env;
}

/* One community's hook: run, recorded, reported. 0, or -1 (store). */
static int deploy_one(const struct deploy_run *d, const struct deploy_item *it)
{
	struct pkiroll_report_item *ri =
		d->report != NULL ? pkiroll_report_item(d->report, it->name) : NULL;
	struct hook_result *res;
	char *shown = NULL, text[1024 + 4 * HOOK_OUTPUT_MAX + 16];
	char **env;
	int ok, result;

	if (ri != NULL)
		snprintf(ri->deploy_event, sizeof(ri->deploy_event), "%s", it->event);
	if (d->dry_run) {
		ctx_log(d->ctx, PKIROLL_LOG_INFO, "%s: deploy hook owed (%s)", it->name, it->event);
		if (ri != NULL)
			ri->deploy = PKIROLL_DEPLOY_PENDING;
		return 0;
	}
	if ((res = malloc(sizeof(*res))) == NULL ||
	    (shown = malloc(4 * HOOK_OUTPUT_MAX + 1)) == NULL || (env = hook_env(d, it)) == NULL) {
		free(res);
		free(shown);
		return -1;
	}
	ok = hook_run(d->hook, env, NULL, 0, d->timeout, d->interrupted, res) == 0;
	env_free(env);
	text_escape_display(res->output, shown, 4 * HOOK_OUTPUT_MAX + 1);
	result = ok		  ? PKIROLL_DEPLOY_OK
		 : res->timed_out ? PKIROLL_DEPLOY_TIMEOUT
				  : PKIROLL_DEPLOY_FAILED;
	if (ok)
		snprintf(text, sizeof(text), "deploy hook (%s) succeeded%s%s", it->event,
			 shown[0] ? ": " : "", shown);
	else if (res->timed_out)
		snprintf(
			text, sizeof(text),
			"deploy hook (%s) killed after %d s; still pending: run pkiroll deploy%s%s",
			it->event, d->timeout, shown[0] ? ": " : "", shown);
	else
		snprintf(text, sizeof(text),
			 "deploy hook (%s) failed (%s %d); still pending: run pkiroll deploy%s%s",
			 it->event, res->started ? "exit status" : "not started", res->status,
			 shown[0] ? ": " : "", shown);
	ctx_log(d->ctx, ok ? PKIROLL_LOG_INFO : PKIROLL_LOG_ERROR, "%s: %s", it->name, text);
	if (ok)
		d->st->deployed++;
	else
		d->st->deploy_failed++;
	if (ri != NULL) {
		ri->deploy = result;
		ri->deploy_status = res->status;
	}
	free(res);
	free(shown);
	return store_deploy_settle(d->s, d->run, it->id, ok, text);
}

int deploy_owed(const struct deploy_run *d, const char *const *names, int nnames)
{
	struct deploy_item *items;
	size_t n;
	int err = PKIROLL_OK;

	if (store_deploy_list(d->s, names, nnames, &items, &n) < 0)
		return PKIROLL_ERR_STORE;
	for (size_t i = 0; i < n; i++) {
		if (d->interrupted != NULL && *d->interrupted && !d->dry_run)
			break; /* still owed: the next run */
		if (deploy_one(d, &items[i]) < 0) {
			err = PKIROLL_ERR_STORE;
			break;
		}
	}
	free(items);
	return err;
}

int pkiroll_post_hook(pkiroll_ctx *ctx, const char *command, const char *text, int timeout_s,
		      volatile int *interrupted)
{
	struct hook_result *res = malloc(sizeof(*res));
	char *shown = malloc(4 * HOOK_OUTPUT_MAX + 1);
	char **env = NULL;
	size_t k;
	int ok;

	if (res == NULL || shown == NULL || (env = env_base(0, &k)) == NULL) {
		free(res);
		free(shown);
		return PKIROLL_ERR_NOMEM;
	}
	ok = hook_run(command, env, text, strlen(text), timeout_s, interrupted, res) == 0;
	env_free(env);
	text_escape_display(res->output, shown, 4 * HOOK_OUTPUT_MAX + 1);
	if (!ok)
		ctx_log(ctx, PKIROLL_LOG_ERROR, "post hook %s (%s %d)%s%s",
			res->timed_out ? "killed at its timeout" : "failed",
			res->started ? "exit status" : "not started", res->status,
			shown[0] ? ": " : "", shown);
	else if (shown[0])
		ctx_log(ctx, PKIROLL_LOG_INFO, "post hook: %s", shown);
	free(res);
	free(shown);
	return ok ? PKIROLL_OK : PKIROLL_ERR_HOOK;
}

const char *deploy_hook_of(const struct pkiroll_run_opts *o, const struct pkiroll_config *cfg)
{
	return o->deploy_hook != NULL ? o->deploy_hook : cfg->deploy_hook;
}

int deploy_timeout_of(const struct pkiroll_run_opts *o, const struct pkiroll_config *cfg)
{
	if (o->hook_timeout > 0)
		return o->hook_timeout;
	return cfg->hook_timeout > 0 ? cfg->hook_timeout : PKIROLL_DEFAULT_HOOK_TIMEOUT;
}

int pkiroll_deploy(pkiroll_ctx *ctx, const struct pkiroll_run_opts *o,
		   const char *const *communities, int ncommunities, struct pkiroll_run_stats *st)
{
	struct pkiroll_config defaults;
	const struct pkiroll_config *cfg = o->config;
	struct deploy_run d = {.ctx = ctx,
			       .pass_file = o->pass_file,
			       .interrupted = o->interrupted,
			       .report = o->report,
			       .st = st,
			       .dry_run = o->dry_run};
	pkiroll_lock *lock = NULL;
	long long start = base_now_ms();
	int err;

	memset(st, 0, sizeof(*st));
	if (cfg == NULL) {
		pkiroll_config_defaults(&defaults);
		cfg = &defaults;
	}
	d.hook = deploy_hook_of(o, cfg);
	d.timeout = deploy_timeout_of(o, cfg);
	if (d.hook[0] == '\0' && !o->dry_run) {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"deploy: no deploy hook (deploy_hook in the configuration, or "
			"--deploy-hook)");
		return PKIROLL_ERR_USAGE;
	}
	/* one run per store: a renewal's hooks are not run twice at once */
	if (!o->dry_run && (err = pkiroll_store_lock(ctx, o->db, &lock)) != PKIROLL_OK)
		return err;
	if ((err = pkiroll_store_open(ctx, o->db, 0, &d.s)) == PKIROLL_OK) {
		err = deploy_owed(&d, communities, ncommunities);
		pkiroll_store_close(d.s);
	}
	pkiroll_store_unlock(lock);
	st->elapsed = (double)(base_now_ms() - start) / 1000.0;
	return err;
}
