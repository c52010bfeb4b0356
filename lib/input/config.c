/*
 * The configuration file (INI, read with inih): [pkiroll] and one
 * [ca NAME] section per CA profile. Every key is in pkiroll.conf(5)
 * (cmd/pkiroll/pkiroll.conf.5; tests/it/install.sh checks that).
 *
 * inih returns only the line of the first error and calls the handler
 * without a line number, so the lines go through our own reader: it counts
 * them, checks their shape as inih will see it and bounds their length.
 * Every problem is reported with its own line. Comments: a line starting
 * with ';' or '#', and inline, a ';' or '#' after whitespace (inih strips
 * "; ..." itself; Debian builds it with ';' as the only inline prefix).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/objects.h>

#include "base/fileio.h"
#include "base/base.h"

#define MAX_PROBLEMS 20 /* reported one by one; the rest are counted */

struct loader {
	pkiroll_ctx *ctx;
	struct pkiroll_config *cfg;
	char why[256];
	const char *path;
	FILE *f;
	int lineno;  /* of the line inih is parsing */
	int in_pair; /* a key line seen since the last section: indented lines continue it */
	int nproblems;
};

void pkiroll_ca_profile_defaults(struct pkiroll_ca_profile *p)
{
	memset(p, 0, sizeof(*p));
	p->pbm_owf = NID_sha256;
	p->pbm_mac = NID_hmacWithSHA256;
	p->pbm_iterations = 500;
	p->pbm_salt_len = 16;
	p->connect_timeout = 10;
	p->read_timeout = 60;
	p->poll_deadline = 300;
	p->retries = 3;
	p->concurrency = 16;
	p->breaker = 5;
}

static int yesno(const char *v, int *out)
{
	if (base_ascii_casecmp(v, "yes") == 0 || base_ascii_casecmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*out = 1;
	else if (base_ascii_casecmp(v, "no") == 0 || base_ascii_casecmp(v, "false") == 0 ||
		 strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int number(const char *v, int lo, int hi, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (*v == '\0' || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = (int)n;
	return 0;
}

static int copy(char *dst, size_t n, const char *v)
{
	if (strlen(v) >= n)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* A path key: an empty value keeps the default. */
static int path_key(char *dst, size_t n, const char *v)
{
	return *v == '\0' ? 0 : copy(dst, n, v);
}

static int nid_of(const char *v, int mac)
{
	static const struct {
		const char *name;
		int nid;
		int mac;
	} t[] = {
		{"sha1", NID_sha1, 0},
		{"sha256", NID_sha256, 0},
		{"sha384", NID_sha384, 0},
		{"sha512", NID_sha512, 0},
		{"hmac-sha1", NID_hmac_sha1, 1},
		{"hmacWithSHA1", NID_hmacWithSHA1, 1},
		{"hmac-sha256", NID_hmacWithSHA256, 1},
		{"hmacWithSHA256", NID_hmacWithSHA256, 1},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].mac == mac && base_ascii_casecmp(v, t[i].name) == 0)
			return t[i].nid;
	return NID_undef;
}

static int profile_key(struct loader *l, struct pkiroll_ca_profile *p, const char *k, const char *v)
{
	int ok = 0;

	if (strcmp(k, "url") == 0)
		ok = copy(p->url, sizeof(p->url), v) == 0 &&
		     (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0 ||
		      strncmp(v, "cmp://", 6) == 0);
	else if (strcmp(k, "tls_ca_file") == 0)
		ok = copy(p->tls_ca_file, sizeof(p->tls_ca_file), v) == 0;
	else if (strcmp(k, "tls_cert") == 0)
		ok = copy(p->tls_cert, sizeof(p->tls_cert), v) == 0;
	else if (strcmp(k, "tls_key") == 0)
		ok = copy(p->tls_key, sizeof(p->tls_key), v) == 0;
	else if (strcmp(k, "proxy") == 0)
		ok = copy(p->proxy, sizeof(p->proxy), v) == 0;
	else if (strcmp(k, "no_proxy") == 0)
		ok = copy(p->no_proxy, sizeof(p->no_proxy), v) == 0;
	else if (strcmp(k, "trust_anchor") == 0)
		ok = copy(p->trust_anchor, sizeof(p->trust_anchor), v) == 0;
	else if (strcmp(k, "recipient") == 0)
		ok = copy(p->recipient, sizeof(p->recipient), v) == 0;
	else if (strcmp(k, "framing") == 0) {
		ok = 1;
		if (strcmp(v, "auto") == 0)
			p->framing = 0;
		else if (strcmp(v, "v10") == 0 || strcmp(v, "10") == 0)
			p->framing = 1;
		else if (strcmp(v, "v0") == 0 || strcmp(v, "0") == 0 || strcmp(v, "rfc2510") == 0)
			p->framing = 2;
		else
			ok = 0;
	} else if (strcmp(k, "pbm_owf") == 0)
		ok = (p->pbm_owf = nid_of(v, 0)) != NID_undef;
	else if (strcmp(k, "pbm_mac") == 0)
		ok = (p->pbm_mac = nid_of(v, 1)) != NID_undef;
	else if (strcmp(k, "pbm_iterations") == 0)
		ok = number(v, 100, 100000, &p->pbm_iterations) == 0;
	else if (strcmp(k, "pbm_salt_length") == 0)
		ok = number(v, 8, 128, &p->pbm_salt_len) == 0;
	else if (strcmp(k, "implicit_confirm") == 0)
		ok = yesno(v, &p->implicit_confirm) == 0;
	else if (strcmp(k, "connect_timeout") == 0)
		ok = number(v, 1, 3600, &p->connect_timeout) == 0;
	else if (strcmp(k, "read_timeout") == 0)
		ok = number(v, 1, 3600, &p->read_timeout) == 0;
	else if (strcmp(k, "poll_deadline") == 0)
		ok = number(v, 1, 86400, &p->poll_deadline) == 0;
	else if (strcmp(k, "retries") == 0)
		ok = number(v, 0, 100, &p->retries) == 0;
	else if (strcmp(k, "concurrency") == 0)
		ok = number(v, 1, 1024, &p->concurrency) == 0;
	else if (strcmp(k, "circuit_breaker") == 0)
		ok = number(v, 1, 100000, &p->breaker) == 0;
	else if (strcmp(k, "rate") == 0) {
		char *end;

		p->rate = strtod(v, &end);
		ok = *v != '\0' && *end == '\0' && p->rate >= 0;
	} else if (strcmp(k, "renew_encryption") == 0) {
		ok = 1;
		if (strcmp(v, "kur") == 0)
			p->renew_encryption = PKIROLL_RENEW_ENC_KUR;
		else if (strcmp(v, "keep") == 0)
			p->renew_encryption = PKIROLL_RENEW_ENC_KEEP;
		else if (strcmp(v, "reenroll") == 0)
			p->renew_encryption = PKIROLL_RENEW_ENC_REENROLL;
		else
			ok = 0;
	} else if (strcmp(k, "revoke_protection") == 0) {
		ok = strcmp(v, "signature") == 0 || strcmp(v, "codes") == 0;
		p->revoke_with_codes = strcmp(v, "codes") == 0;
	} else if (strcmp(k, "code_normalization") == 0) {
		ok = strcmp(v, "raw") == 0 || strcmp(v, "strip") == 0;
		p->normalize_codes = strcmp(v, "strip") == 0;
	} else {
		snprintf(l->why, sizeof(l->why), "unknown key \"%s\" in [ca %s]", k, p->name);
		return 0;
	}
	if (!ok)
		snprintf(l->why, sizeof(l->why), "[ca %s] %s: bad value \"%.60s\"", p->name, k, v);
	return ok;
}

int pkiroll_window_parse(const char *s, struct pkiroll_window *w)
{
	char *end;
	long long n;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || n <= 0 || n > 100000000LL || end[0] == '\0' || end[1] != '\0')
		return -1;
	w->pct = 0;
	w->secs = 0;
	switch (*end) {
	case '%':
		if (n > 99)
			return -1;
		w->pct = (int)n;
		return 0;
	case 's':
		w->secs = n;
		return 0;
	case 'm':
		w->secs = n * 60;
		return 0;
	case 'h':
		w->secs = n * 3600;
		return 0;
	case 'd':
		w->secs = n * 86400;
		return 0;
	case 'w':
		w->secs = n * 7 * 86400;
		return 0;
	default:
		return -1;
	}
}

static int on_key(void *arg, const char *section, const char *k, const char *v)
{
	struct loader *l = arg;
	struct pkiroll_config *c = l->cfg;
	int ok = 0, t;

	if (strcmp(section, "pkiroll") == 0) {
		if (strcmp(k, "db") == 0)
			ok = path_key(c->db, sizeof(c->db), v) == 0;
		else if (strcmp(k, "keystore_dir") == 0)
			ok = path_key(c->keystore_dir, sizeof(c->keystore_dir), v) == 0;
		else if (strcmp(k, "bundle_dir") == 0)
			ok = path_key(c->bundle_dir, sizeof(c->bundle_dir), v) == 0;
		else if (strcmp(k, "default_ca") == 0)
			ok = copy(c->default_ca, sizeof(c->default_ca), v) == 0;
		else if (strcmp(k, "key_type") == 0)
			ok = (c->key_type = t = base_key_type_from_name(v)) >= 0;
		else if (strcmp(k, "encryption_key_type") == 0)
			ok = (c->enc_key_type = t = base_key_type_from_name(v)) >= 0;
		else if (strcmp(k, "keystore_format") == 0) {
			ok = strcmp(v, "aes256") == 0 || strcmp(v, "legacy-3des") == 0;
			c->keystore_legacy = strcmp(v, "legacy-3des") == 0;
		} else if (strcmp(k, "jobs") == 0)
			ok = number(v, 1, 1024, &c->jobs) == 0;
		else if (strcmp(k, "renew_within") == 0)
			ok = pkiroll_window_parse(v, &c->renew_within) == 0;
		else if (strcmp(k, "cem_dir") == 0)
			ok = path_key(c->cem_dir, sizeof(c->cem_dir), v) == 0;
		else if (strcmp(k, "cem_response_url") == 0)
			ok = copy(c->cem_response_url, sizeof(c->cem_response_url), v) == 0;
		else if (strcmp(k, "metrics_file") == 0)
			ok = copy(c->metrics_file, sizeof(c->metrics_file), v) == 0;
		else if (strcmp(k, "deploy_hook") == 0)
			ok = copy(c->deploy_hook, sizeof(c->deploy_hook), v) == 0;
		else if (strcmp(k, "post_hook") == 0)
			ok = copy(c->post_hook, sizeof(c->post_hook), v) == 0;
		else if (strcmp(k, "hook_timeout") == 0)
			ok = number(v, 1, 86400, &c->hook_timeout) == 0;
		else if (strcmp(k, "keep_decryption_keys") == 0)
			ok = number(v, 0, 6, &c->keep_decryption_keys) == 0;
		else {
			snprintf(l->why, sizeof(l->why), "unknown key \"%s\" in [pkiroll]", k);
			return 0;
		}
		if (!ok)
			snprintf(l->why, sizeof(l->why), "[pkiroll] %s: bad value \"%.60s\"", k, v);
		return ok;
	}
	if (strncmp(section, "ca ", 3) == 0 && section[3] != '\0') {
		struct pkiroll_ca_profile *p = NULL;

		for (size_t i = 0; i < c->nprofiles; i++)
			if (strcmp(c->profiles[i].name, section + 3) == 0)
				p = &c->profiles[i];
		if (p == NULL) {
			if (c->nprofiles == PKIROLL_MAX_PROFILES ||
			    strlen(section + 3) >= sizeof(p->name)) {
				snprintf(l->why, sizeof(l->why),
					 "too many CA profiles or name too long");
				return 0;
			}
			p = &c->profiles[c->nprofiles++];
			pkiroll_ca_profile_defaults(p);
			copy(p->name, sizeof(p->name), section + 3);
		}
		return profile_key(l, p, k, v);
	}
	snprintf(l->why, sizeof(l->why), "unknown section [%s] ([pkiroll] or [ca NAME])", section);
	return 0;
}

/* Reports "PATH:LINE: text" (the first MAX_PROBLEMS of them). */
static void problem(struct loader *l, const char *text)
{
	if (l->nproblems++ < MAX_PROBLEMS)
		ctx_log(l->ctx, PKIROLL_LOG_ERROR, "%s:%d: %s", l->path, l->lineno, text);
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\f' || *s == '\v')
		s++;
	return s;
}

/* The first of chars in s before an inline comment (';' or '#' after
 * whitespace), or NULL. */
static const char *find_before_comment(const char *s, const char *chars)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (strchr(chars, *p) != NULL)
			return p;
		if ((*p == ';' || *p == '#') && p > s && (p[-1] == ' ' || p[-1] == '\t'))
			return NULL;
	}
	return NULL;
}

/* What inih will make of a line: NULL when it can parse it, else why not. */
static const char *line_shape(struct loader *l, const char *line)
{
	const char *s = skip_space(line);

	if (*s == '\0' || *s == ';' || *s == '#')
		return NULL;
	if (*s == '[') {
		l->in_pair = 0;
		return find_before_comment(s + 1, "]") ? NULL : "section header without ']'";
	}
	if (l->in_pair && s > line)
		return NULL; /* inih's continuation of the previous value */
	if (find_before_comment(s, "=:") == NULL)
		return "expected \"key = value\" or \"[section]\"";
	l->in_pair = 1;
	return NULL;
}

/*
 * inih's reader (fgets-like): one physical line into str, counted. A line
 * longer than inih's buffer is reported and handed over as a blank line,
 * so that its rest is not parsed as lines of its own.
 */
static char *read_line(char *str, int num, void *arg)
{
	struct loader *l = arg;
	const char *text = str, *why;
	size_t n;
	int c;

	if (fgets(str, num, l->f) == NULL)
		return NULL;
	l->lineno++;
	n = strlen(str);
	if (n > 0 && str[n - 1] != '\n' && !feof(l->f)) {
		while ((c = getc(l->f)) != EOF && c != '\n')
			;
		snprintf(l->why, sizeof(l->why), "line longer than %d characters", num - 3);
		problem(l, l->why);
		memcpy(str, "\n", 2);
		return str;
	}
	if (l->lineno == 1 && strncmp(str, "\xef\xbb\xbf", 3) == 0)
		text += 3; /* inih skips the BOM */
	if ((why = line_shape(l, text)) != NULL)
		problem(l, why);
	return str;
}

/*
 * inih's handler: the value without an inline '#' comment (a '#' at its
 * start or after whitespace), then on_key(). A refusal is reported with the
 * line it is on.
 */
static int on_pair(void *arg, const char *section, const char *k, const char *v)
{
	struct loader *l = arg;
	char val[1024];
	size_t n = strlen(v);

	for (size_t i = 0; i < n; i++)
		if (v[i] == '#' && (i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t')) {
			n = i;
			break;
		}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= sizeof(val)) {
		problem(l, "value too long");
		return 0;
	}
	memcpy(val, v, n);
	val[n] = '\0';
	l->why[0] = '\0';
	if (on_key(l, section, k, val))
		return 1;
	problem(l, l->why[0] ? l->why : "bad entry");
	return 0;
}

void pkiroll_config_defaults(struct pkiroll_config *cfg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct pkiroll_window w;

	memset(cfg, 0, sizeof(*cfg));
	copy(cfg->db, sizeof(cfg->db), PKIROLL_DEFAULT_DB);
	copy(cfg->keystore_dir, sizeof(cfg->keystore_dir), PKIROLL_DEFAULT_KEYSTORE_DIR);
	copy(cfg->bundle_dir, sizeof(cfg->bundle_dir), PKIROLL_DEFAULT_BUNDLE_DIR);
	copy(cfg->cem_dir, sizeof(cfg->cem_dir), PKIROLL_DEFAULT_CEM_DIR);
	cfg->key_type = KEY_RSA2048;
	cfg->enc_key_type = KEY_RSA2048;
	cfg->jobs = cores > 0 ? (int)cores : 2;
	pkiroll_window_parse(PKIROLL_DEFAULT_RENEW_WITHIN, &cfg->renew_within);
	pkiroll_window_parse(PKIROLL_DEFAULT_CEM_RESPOND_BY, &w);
	cfg->cem_respond_within = w.secs;
	cfg->keep_decryption_keys = PKIROLL_DEFAULT_KEEP_DECRYPTION_KEYS;
	cfg->hook_timeout = PKIROLL_DEFAULT_HOOK_TIMEOUT;
}

int pkiroll_config_load(pkiroll_ctx *ctx, const char *path, struct pkiroll_config *cfg)
{
	struct loader l = {.ctx = ctx, .cfg = cfg};
	char why[1200];
	FILE *f;
	int line;

	pkiroll_config_defaults(cfg);
	if (path == NULL) {
		/* PKIROLL_SYSTEM_CONFIG stands in for /etc/pkiroll.conf (the
		 * test suite points it away from an installed configuration) */
		const char *sys = getenv("PKIROLL_SYSTEM_CONFIG");

		if (sys == NULL)
			sys = "/etc/pkiroll.conf";
		if (access("pkiroll.conf", F_OK) == 0)
			path = "pkiroll.conf";
		else if (sys[0] != '\0' && access(sys, F_OK) == 0)
			path = sys;
		else
			return PKIROLL_OK;
	}
	copy(cfg->path, sizeof(cfg->path), path);
	if ((f = file_fopen_regular(path, NULL, why, sizeof(why))) == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "cannot read the configuration: %s", why);
		return PKIROLL_ERR_CONFIG;
	}
	l.path = path;
	l.f = f;
	line = ini_parse_stream(read_line, &l, on_pair, &l);
	fclose(f);
	if (line < 0) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: cannot read: out of memory", path);
		return PKIROLL_ERR_CONFIG;
	}
	if (line > 0 && l.nproblems == 0) {
		/* inih saw a problem that our reader did not: name its line */
		l.lineno = line;
		problem(&l, "syntax error");
	}
	if (l.nproblems > MAX_PROBLEMS)
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: %d more problems", path,
			l.nproblems - MAX_PROBLEMS);
	if (l.nproblems > 0)
		return PKIROLL_ERR_CONFIG;
	for (size_t i = 0; i < cfg->nprofiles; i++)
		if (cfg->profiles[i].url[0] == '\0') {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: [ca %s] has no url", path,
				cfg->profiles[i].name);
			return PKIROLL_ERR_CONFIG;
		}
	if (cfg->default_ca[0] != '\0' && pkiroll_config_profile(cfg, cfg->default_ca) == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "%s: default_ca \"%s\" has no [ca %s] section",
			path, cfg->default_ca, cfg->default_ca);
		return PKIROLL_ERR_CONFIG;
	}
	return PKIROLL_OK;
}

const struct pkiroll_ca_profile *pkiroll_config_profile(const struct pkiroll_config *cfg,
							const char *name)
{
	if (name == NULL || *name == '\0') {
		name = cfg->default_ca;
		if (*name == '\0')
			return cfg->nprofiles > 0 ? &cfg->profiles[0] : NULL;
	}
	for (size_t i = 0; i < cfg->nprofiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}
