/*
 * pkiroll rekey-keystores: every keystore of a store moved to a new
 * passphrase, so that a crash anywhere leaves a state a rerun finishes.
 *
 *   1. each keystore file under the old passphrase is re-wrapped beside
 *      itself as NAME.rekey (written, synced, read back and compared);
 *   2. the store records "rekey in progress" with the new verifier;
 *   3. each NAME.rekey is renamed over NAME;
 *   4. the new verifier becomes the current one.
 *
 * A rerun takes a file that opens with the new passphrase as done, a
 * NAME.rekey that does (after step 2) as ready to rename, and one that
 * opens with the old passphrase as still to do. Before step 2 nothing the
 * other commands read has changed; after it they refuse to run until the
 * rekey is finished (keystore_pass_guard()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "store/store_pass.h"
#include "write/keystore.h"

#define REKEY_SUFFIX ".rekey"

enum rk_state {
	RK_TODO = 0, /* under the old passphrase: to re-wrap */
	RK_READY,    /* NAME.rekey opens with the new one: to rename */
	RK_DONE,     /* NAME opens with the new one */
	RK_NEITHER   /* opens with neither */
};

struct rk_file {
	char dir[1200];
	char name[256];
	int state;
};

struct rekey {
	pkiroll_store *s;
	const struct pkiroll_rekey_opts *o;
	struct pkiroll_rekey_stats *st;
	struct rk_file *f;
	size_t n, cap;
	unsigned long steps; /* files written and renamed, for kill_after */
};

/* A keystore file of a community's directory: keystore.p12, its staged
 * successor, a kept keystore-SERIAL.p12, an unverified-TID.p12, an
 * unconfirmed-TIME.p12 (a staged one set aside, renew_job.c). */
static int is_keystore_file(const char *name)
{
	size_t n = strlen(name);
	int p12 = n > 4 && strcmp(name + n - 4, ".p12") == 0;

	return strcmp(name, "keystore.p12") == 0 || strcmp(name, "keystore.p12.staged") == 0 ||
	       (p12 && strncmp(name, "keystore-", 9) == 0) ||
	       (p12 && strncmp(name, "unverified-", 11) == 0) ||
	       (p12 && strncmp(name, "unconfirmed-", 12) == 0);
}

/* store_keystore_dir_fn: the keystore files of one community's directory */
static int collect(void *arg, const char *community, const char *ksdir)
{
	struct rekey *rk = arg;
	char dir[1200];
	struct dirent *e;
	DIR *d;

	(void)community;
	snprintf(dir, sizeof(dir), "%s/%s", rk->o->keystore_dir, ksdir);
	if ((d = opendir(dir)) == NULL)
		return 0; /* never enrolled: no directory */
	while ((e = readdir(d)) != NULL) {
		struct stat sb;

		/* regular files only, not followed if a link */
		if (!is_keystore_file(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode) || strlen(e->d_name) >= sizeof(rk->f[0].name))
			continue;
		if (BASE_GROW(rk->f, rk->cap, rk->n + 1) < 0) {
			closedir(d);
			return -1;
		}
		memset(&rk->f[rk->n], 0, sizeof(rk->f[0]));
		snprintf(rk->f[rk->n].dir, sizeof(rk->f[0].dir), "%s", dir);
		snprintf(rk->f[rk->n].name, sizeof(rk->f[0].name), "%s", e->d_name);
		rk->n++;
	}
	closedir(d);
	return 0;
}

/* The communities whose keystore the store records, and how many of
 * those are under the keystore directory given. */
struct recorded {
	struct rekey *rk;
	unsigned long on_record, here;
};

/* store_keystore_dir_fn: is this recorded keystore.p12 where it should be? */
static int count_recorded(void *arg, const char *community, const char *ksdir)
{
	struct recorded *r = arg;
	char p[1300];
	struct stat sb;

	r->on_record++;
	snprintf(p, sizeof(p), "%s/%s/keystore.p12", r->rk->o->keystore_dir, ksdir);
	if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
		r->here++;
	else
		ctx_log(r->rk->s->ctx, PKIROLL_LOG_WARN, "community %s: no keystore at %s",
			community, p);
	return 0;
}

/* Keystores on record but none under the directory given: a wrong
 * --keystore-dir, where a rekey would re-wrap nothing and still switch
 * the store to the new passphrase. 0, or a PKIROLL_ERR_*. */
static int check_dir(struct rekey *rk)
{
	struct recorded r = {.rk = rk};

	if (store_keystore_dirs(rk->s, 1, count_recorded, &r) < 0)
		return PKIROLL_ERR_STORE;
	if (r.on_record > 0 && r.here == 0) {
		ctx_log(rk->s->ctx, PKIROLL_LOG_ERROR,
			"the store records %lu keystore%s but none is under %s: is --keystore-dir "
			"(or keystore_dir) right? nothing switched",
			r.on_record, r.on_record == 1 ? "" : "s", rk->o->keystore_dir);
		return PKIROLL_ERR_CONFIG;
	}
	return PKIROLL_OK;
}

static int by_path(const void *a, const void *b)
{
	const struct rk_file *x = a, *y = b;
	int c = strcmp(x->dir, y->dir);

	return c != 0 ? c : strcmp(x->name, y->name);
}

/* The test hook: a crash (SIGKILL, no cleanup) after kill_after steps. */
static void step(struct rekey *rk)
{
	if (rk->o->kill_after > 0 && ++rk->steps >= rk->o->kill_after)
		raise(SIGKILL);
}

static void sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Where each file stands; resuming: a NAME.rekey may be ready. */
static void classify(struct rekey *rk, struct rk_file *f, int resuming)
{
	char tmp[300];

	snprintf(tmp, sizeof(tmp), "%s" REKEY_SUFFIX, f->name);
	if (resuming && keystore_opens(f->dir, tmp, rk->o->new_pass) == 1)
		f->state = RK_READY;
	else if (keystore_opens(f->dir, f->name, rk->o->new_pass) == 1)
		f->state = RK_DONE;
	else if (keystore_opens(f->dir, f->name, rk->o->pass) == 1)
		f->state = RK_TODO;
	else
		f->state = RK_NEITHER;
}

static int same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	return a == NULL ? b == NULL : b != NULL && EVP_PKEY_eq(a, b) == 1;
}

static int same_cert(X509 *a, X509 *b)
{
	return a == NULL ? b == NULL : b != NULL && X509_cmp(a, b) == 0;
}

/* Does b hold everything a holds? */
static int same_content(const struct keystore_content *a, const struct keystore_content *b)
{
	if (!same_key(a->sign_key, b->sign_key) || !same_cert(a->sign_cert, b->sign_cert) ||
	    !same_key(a->enc_key, b->enc_key) || !same_cert(a->enc_cert, b->enc_cert) ||
	    a->nhistory != b->nhistory || sk_X509_num(a->chain) != sk_X509_num(b->chain) ||
	    a->legacy != b->legacy)
		return 0;
	for (int i = 0; i < a->nhistory; i++)
		if (strcmp(a->history[i].name, b->history[i].name) != 0 ||
		    !same_key(a->history[i].key, b->history[i].key) ||
		    !same_cert(a->history[i].cert, b->history[i].cert))
			return 0;
	return 1;
}

/* Every key with its certificate: nothing a re-wrap would leave out. */
static int pairs_complete(const struct keystore_content *k)
{
	if ((k->sign_key == NULL) != (k->sign_cert == NULL) ||
	    (k->enc_key == NULL) != (k->enc_cert == NULL))
		return 0;
	for (int i = 0; i < k->nhistory; i++)
		if (k->history[i].key == NULL || k->history[i].cert == NULL)
			return 0;
	return 1;
}

/* f under the new passphrase as NAME.rekey beside it, synced, read back
 * and compared. 0, or -1 (logged). */
static int rewrap(struct rekey *rk, struct rk_file *f)
{
	struct keystore_content k, back;
	char tmp[300], err[600] = "";
	unsigned char *der = NULL;
	size_t n = 0;
	int rc = -1;

	snprintf(tmp, sizeof(tmp), "%s" REKEY_SUFFIX, f->name);
	memset(&back, 0, sizeof(back));
	if (keystore_load(f->dir, f->name, rk->o->pass, &k, err, sizeof(err)) != 1) {
		ctx_log(rk->s->ctx, PKIROLL_LOG_ERROR, "%s/%s: %s", f->dir, f->name,
			err[0] ? err : "gone");
		return -1;
	}
	if (!pairs_complete(&k)) {
		snprintf(err, sizeof(err),
			 "holds a key or certificate without its pair, which a "
			 "re-wrap would lose");
		goto out;
	}
	{
		struct keystore_in in = {.pass = rk->o->new_pass,
					 .sign_key = k.sign_key,
					 .sign_cert = k.sign_cert,
					 .enc_key = k.enc_key,
					 .enc_cert = k.enc_cert,
					 .chain = k.chain,
					 .legacy = k.legacy,
					 .history = k.history,
					 .nhistory = k.nhistory};

		if (keystore_p12(&in, &der, &n) < 0) {
			snprintf(err, sizeof(err), "cannot be re-encoded");
			goto out;
		}
	}
	/* Phase: on disk, synced, and read back whole under the new passphrase. */
	if (file_atomic_write(f->dir, tmp, der, n, 0600, 1) < 0) {
		snprintf(err, sizeof(err), "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (keystore_load(f->dir, tmp, rk->o->new_pass, &back, err, sizeof(err)) != 1 ||
	    !same_content(&k, &back)) {
		snprintf(err, sizeof(err), "%s does not read back as the same keystore", tmp);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		ctx_log(rk->s->ctx, PKIROLL_LOG_ERROR, "%s/%s: %s", f->dir, f->name, err);
	if (der != NULL)
		OPENSSL_clear_free(der, n);
	keystore_content_free(&k);
	keystore_content_free(&back);
	return rc;
}

/* Removes the NAME.rekey files of the list (stale, or left by a failure). */
static void drop_temps(struct rekey *rk)
{
	char p[1600];

	for (size_t i = 0; i < rk->n; i++) {
		snprintf(p, sizeof(p), "%s/%s" REKEY_SUFFIX, rk->f[i].dir, rk->f[i].name);
		(void)unlink(p);
	}
}

/* The passphrases: the current one the store's, the new one another (or,
 * resuming, the one the interrupted run recorded). 0, or a PKIROLL_ERR_*. */
static int check_passes(struct rekey *rk, int *resuming)
{
	struct store_verifier v;
	int r, err;

	if ((err = keystore_pass_current(rk->s, rk->o->keystore_dir, rk->o->pass)) != PKIROLL_OK)
		return err;
	if ((r = store_verifier_get(rk->s, "rekey", &v)) < 0)
		return PKIROLL_ERR_STORE;
	*resuming = r == 1;
	if (r == 1 && store_verifier_match(&v, rk->o->new_pass) != 1) {
		ctx_log(rk->s->ctx, PKIROLL_LOG_ERROR,
			"an interrupted rekey to another new passphrase is on record: give that "
			"new passphrase again to finish it");
		return PKIROLL_ERR_CONFIG;
	}
	if (r == 0 && strcmp(rk->o->pass, rk->o->new_pass) == 0) {
		ctx_log(rk->s->ctx, PKIROLL_LOG_ERROR,
			"the new keystore passphrase is the current one: nothing to do");
		return PKIROLL_ERR_USAGE;
	}
	return PKIROLL_OK;
}

/* Steps 1 (each file to do re-wrapped) and 2 (the record). 0 or an error. */
static int prepare(struct rekey *rk, int resuming)
{
	struct store_verifier v;
	int r;

	for (size_t i = 0; i < rk->n; i++) {
		if (rk->f[i].state != RK_TODO)
			continue;
		if (rewrap(rk, &rk->f[i]) < 0)
			return PKIROLL_ERR_IO;
		rk->f[i].state = RK_READY;
		step(rk);
	}
	if (resuming)
		return PKIROLL_OK;
	r = store_verifier_make(rk->o->new_pass, &v) == 0 ? store_verifier_put(rk->s, "rekey", &v)
							  : -1;
	OPENSSL_cleanse(&v, sizeof(v));
	return r < 0 ? PKIROLL_ERR_STORE : PKIROLL_OK;
}

/* Step 3: each ready file over its original. 0 or PKIROLL_ERR_IO. */
static int commit(struct rekey *rk)
{
	char from[1600], to[1600];

	for (size_t i = 0; i < rk->n; i++) {
		struct rk_file *f = &rk->f[i];

		if (f->state != RK_READY)
			continue;
		snprintf(from, sizeof(from), "%s/%s" REKEY_SUFFIX, f->dir, f->name);
		snprintf(to, sizeof(to), "%s/%s", f->dir, f->name);
		if (rename(from, to) < 0) {
			ctx_log(rk->s->ctx, PKIROLL_LOG_ERROR, "%s: %s", to, strerror(errno));
			return PKIROLL_ERR_IO;
		}
		sync_dir(f->dir);
		f->state = RK_DONE;
		rk->st->rewrapped++;
		ctx_log(rk->s->ctx, PKIROLL_LOG_DEBUG, "%s: under the new passphrase", to);
		step(rk);
	}
	return PKIROLL_OK;
}

/* What classify() found, said; the files that open with neither named. */
static void report(struct rekey *rk)
{
	for (size_t i = 0; i < rk->n; i++) {
		const struct rk_file *f = &rk->f[i];

		if (f->state == RK_DONE)
			rk->st->already++;
		if (f->state == RK_NEITHER) {
			rk->st->neither++;
			ctx_log(rk->s->ctx, PKIROLL_LOG_ERROR,
				"%s/%s: opens with neither the current nor the new passphrase",
				f->dir, f->name);
		}
		if (rk->o->dry_run && (f->state == RK_TODO || f->state == RK_READY))
			ctx_log(rk->s->ctx, PKIROLL_LOG_INFO, "would re-wrap %s/%s", f->dir,
				f->name);
	}
}

int pkiroll_rekey_keystores(pkiroll_store *s, const struct pkiroll_rekey_opts *o,
			    struct pkiroll_rekey_stats *st)
{
	struct rekey rk = {.s = s, .o = o, .st = st};
	int err, resuming = 0;

	memset(st, 0, sizeof(*st));
	if (o->keystore_dir == NULL || o->pass == NULL || o->pass[0] == '\0' ||
	    o->new_pass == NULL || o->new_pass[0] == '\0')
		return PKIROLL_ERR_USAGE;
	if ((err = check_passes(&rk, &resuming)) != PKIROLL_OK)
		return err;
	st->resumed = resuming;
	if ((err = check_dir(&rk)) != PKIROLL_OK)
		return err;
	/* Phase: the files, and where each stands. */
	if (store_keystore_dirs(s, 0, collect, &rk) < 0) {
		err = PKIROLL_ERR_STORE;
		goto out;
	}
	if (rk.n > 1)
		qsort(rk.f, rk.n, sizeof(rk.f[0]), by_path);
	st->files = rk.n;
	for (size_t i = 0; i < rk.n; i++)
		classify(&rk, &rk.f[i], resuming);
	report(&rk);
	if (st->neither > 0) {
		ctx_log(s->ctx, PKIROLL_LOG_ERROR,
			"%lu keystore file%s open%s with neither passphrase: nothing switched",
			st->neither, st->neither == 1 ? "" : "s", st->neither == 1 ? "s" : "");
		err = PKIROLL_ERR_IO;
		goto out;
	}
	if (o->dry_run)
		goto out;
	/* Phase: the new files beside the old, the record, the renames, the switch. */
	if ((err = prepare(&rk, resuming)) != PKIROLL_OK) {
		if (!resuming)
			drop_temps(&rk);
		goto out;
	}
	if ((err = commit(&rk)) != PKIROLL_OK)
		goto out;
	if (store_verifier_switch(s) < 0) {
		err = PKIROLL_ERR_STORE;
		goto out;
	}
	drop_temps(&rk);
	ctx_log(s->ctx, PKIROLL_LOG_INFO,
		"store %s: every keystore is under the new passphrase (%lu re-wrapped now, %lu "
		"before)",
		s->path, st->rewrapped, st->already);
out:
	free(rk.f);
	return err;
}
