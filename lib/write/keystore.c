/*
 * The keystore directory: the PKCS#12 (keystore_p12.c) and the
 * certificate copies written durably, a staged keystore committed over
 * the current one with the old kept as keystore-SERIAL.p12, the earlier
 * decryption keys a new keystore keeps, and the sweep of temporaries a
 * crashed run left.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "base/fileio.h"
#include "write/keystore.h"

#define STAGED "keystore.p12.staged"

static int pem_of(X509 *x, char **buf, long *len, BIO **b)
{
	char *data;

	if ((*b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(*b, x))
		return -1;
	*len = BIO_get_mem_data(*b, &data);
	*buf = data;
	return 0;
}

/* certificate as NAME.pem and NAME.cer */
static int write_cert(const char *dir, const char *name, X509 *x)
{
	unsigned char *der = NULL;
	char fn[64], *pem;
	long pl;
	BIO *b = NULL;
	int dl, rc = -1;

	if ((dl = i2d_X509(x, &der)) <= 0 || pem_of(x, &pem, &pl, &b) < 0)
		goto out;
	snprintf(fn, sizeof(fn), "%s.cer", name);
	if (file_atomic_write(dir, fn, der, (size_t)dl, 0600, 0) < 0)
		goto out;
	snprintf(fn, sizeof(fn), "%s.pem", name);
	rc = file_atomic_write(dir, fn, pem, (size_t)pl, 0600, 0);
out:
	OPENSSL_free(der);
	BIO_free(b);
	return rc;
}

static int write_p12(const char *dir, const struct keystore_in *in)
{
	unsigned char *der = NULL;
	size_t n = 0;
	int rc;

	if (keystore_p12(in, &der, &n) < 0)
		return -1;
	/* the keys exist nowhere else: on disk before anyone relies on them */
	rc = file_atomic_write(dir,
			       !in->staged ? "keystore.p12"
			       : in->file  ? in->file
					   : STAGED,
			       der, n, 0600, 1);
	OPENSSL_free(der);
	return rc;
}

/* The files of a keystore directory, the PKCS#12 first. */
static const char *const ks_files[] = {"keystore.p12",	 "signing.cer",	   "signing.pem",
				       "encryption.cer", "encryption.pem", "chain.pem"};

/* Removes what a failed keystore_write() renamed into place (mask: bits
 * of ks_files), then syncs the directory. */
static void unwrite(const char *path, unsigned mask)
{
	char p[4200];

	for (size_t i = 0; i < sizeof(ks_files) / sizeof(ks_files[0]); i++)
		if (mask & (1u << i)) {
			snprintf(p, sizeof(p), "%s/%s", path, ks_files[i]);
			(void)unlink(p);
		}
}

static void sync_dir(const char *path)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
}

/* The directory that holds path (".": none named). */
static void sync_parent(const char *path)
{
	char dir[4200];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL && slash[1] == '\0' && slash != dir)
		*slash = '\0'; /* "ks/" is ks */
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0'; /* "/ks" is in "/" */
	sync_dir(dir);
}

/* The certificate copies beside the PKCS#12; *written gets the ks_files
 * bits renamed into place. 0, or -1 with err set. */
static int write_copies(const char *path, X509 *sign, X509 *enc, STACK_OF(X509) * chain,
			unsigned *written, char *err, size_t errlen)
{
	BIO *b = NULL;
	char *data;
	long n;

	if (write_cert(path, "signing", sign) < 0) {
		snprintf(err, errlen, "%s/signing.cer: %s", path, strerror(errno));
		return -1;
	}
	*written |= 3u << 1;
	if (enc != NULL && write_cert(path, "encryption", enc) < 0) {
		snprintf(err, errlen, "%s/encryption.cer: %s", path, strerror(errno));
		return -1;
	}
	*written |= 3u << 3;
	if ((b = BIO_new(BIO_s_mem())) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	for (int i = 0; i < sk_X509_num(chain); i++)
		PEM_write_bio_X509(b, sk_X509_value(chain, i));
	n = BIO_get_mem_data(b, &data);
	if (n > 0 && file_atomic_write(path, "chain.pem", data, (size_t)n, 0600, 0) < 0) {
		snprintf(err, errlen, "%s/chain.pem: %s", path, strerror(errno));
		BIO_free(b);
		return -1;
	}
	BIO_free(b);
	return 0;
}

int keystore_write(const struct keystore_in *in, char *path, size_t pathlen, char *err,
		   size_t errlen)
{
	unsigned written = 0;
	int e, made_base, made_dir;

	/* Phase: the directories, private. */
	if (!(made_base = mkdir(in->base, 0700) == 0) && errno != EEXIST) {
		snprintf(err, errlen, "keystore directory %s: %s", in->base, strerror(errno));
		return -1;
	}
	if (in->dirname[0] == '\0' || strchr(in->dirname, '/') != NULL ||
	    snprintf(path, pathlen, "%s/%s", in->base, in->dirname) >= (int)pathlen) {
		snprintf(err, errlen, "keystore path too long or directory name missing");
		return -1;
	}
	if ((!(made_dir = mkdir(path, 0700) == 0) && errno != EEXIST) || chmod(path, 0700) < 0) {
		snprintf(err, errlen, "keystore directory %s: %s", path, strerror(errno));
		return -1;
	}
	/* a directory made now is durable only once its parent is synced: the
	 * keys in it must survive a power loss before the certConf goes out */
	if (made_base)
		sync_parent(in->base);
	if (made_dir)
		sync_dir(in->base);
	/* Phase: the PKCS#12 first (the keys), then the public copies. */
	if (write_p12(path, in) < 0) {
		snprintf(err, errlen, "%s/%s: %s", path,
			 !in->staged ? "keystore.p12"
			 : in->file  ? in->file
				     : STAGED,
			 strerror(errno));
		return -1;
	}
	if (in->staged) {
		sync_dir(path);
		return 0;
	}
	written |= 1u << 0;
	if (write_copies(path, in->sign_cert, in->enc_cert, in->chain, &written, err, errlen) < 0)
		goto fail;
	/* the renames themselves, durable (the certificate copies can be rebuilt) */
	sync_dir(path);
	return 0;
fail:
	/* certificates the CA will be told to reject: nothing of them stays */
	e = errno;
	unwrite(path, written);
	sync_dir(path);
	errno = e;
	return -1;
}

/* A serial number in upper-case hex, as file and friendly names carry it. */
static void serial_of(const X509 *x, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	snprintf(buf, len, "%s", hex != NULL ? hex : "unknown");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* The previous decryption keys the new keystore keeps: the one being
 * replaced first (when it is), then the ones the current keystore kept. */
int keystore_history(const struct keystore_content *cur, int replaced, int keep,
		     struct keystore_key *h)
{
	int n = 0;

	if (replaced && cur->enc_key != NULL && cur->enc_cert != NULL && n < keep) {
		char serial[64];

		serial_of(cur->enc_cert, serial, sizeof(serial));
		h[n] = (struct keystore_key){cur->enc_key, cur->enc_cert, ""};
		snprintf(h[n].name, sizeof(h[n].name), "encryption-%s", serial);
		n++;
	}
	for (int i = 0; i < cur->nhistory && n < keep && n < KEYSTORE_HISTORY_MAX; i++)
		if (cur->history[i].key != NULL && cur->history[i].cert != NULL)
			h[n++] = cur->history[i];
	return n;
}

int keystore_keep_current(const char *dir)
{
	char cur[4200], prev[4300], serial[80];

	snprintf(cur, sizeof(cur), "%s/keystore.p12", dir);
	if (access(cur, F_OK) != 0)
		return 0;
	/* its serial from the copy beside it: the passphrase may not open it */
	{
		char pem[4200];
		FILE *f;
		X509 *x = NULL;

		snprintf(pem, sizeof(pem), "%s/signing.pem", dir);
		if ((f = fopen(pem, "r")) != NULL) {
			x = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (x != NULL)
			serial_of(x, serial, sizeof(serial));
		else
			snprintf(serial, sizeof(serial), "unknown-%lld", (long long)time(NULL));
		X509_free(x);
		ERR_clear_error();
	}
	snprintf(prev, sizeof(prev), "%s/keystore-%s.p12", dir, serial);
	if (link(cur, prev) < 0 && errno != EEXIST)
		return -1;
	sync_dir(dir);
	return 0;
}

/* Is name file_atomic_write()'s temporary for file: "." file "." and six
 * characters of mkstemp's alphabet? */
static int temp_of(const char *name, const char *file)
{
	size_t n = strlen(file);

	return name[0] == '.' && strncmp(name + 1, file, n) == 0 && name[1 + n] == '.' &&
	       strlen(name + 2 + n) == 6 &&
	       strspn(name + 2 + n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789") == 6;
}

int keystore_sweep_temp(const char *dir, time_t started, pkiroll_ctx *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	/* a first enrollment has no directory yet: nothing to sweep */
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (!temp_of(e->d_name, "keystore.p12") && !temp_of(e->d_name, STAGED))
			continue;
		/* ours, a plain file, and from before this run: nothing else */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_mtime >= started)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			n++;
			if (ctx != NULL)
				ctx_log(ctx, PKIROLL_LOG_DEBUG,
					"%s/%s: removed, a temporary keystore a crashed run left",
					dir, e->d_name);
		}
	}
	closedir(d);
	if (n > 0)
		sync_dir(dir);
	return n;
}

int keystore_has_staged(const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", dir, STAGED);
	return access(p, F_OK) == 0;
}

void keystore_discard_staged(const char *dir)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", dir, STAGED);
	if (unlink(p) == 0)
		sync_dir(dir);
}

int keystore_commit(const char *dir, const char *pass, const char *old_serial,
		    const struct keystore_certs *certs, char *err, size_t errlen)
{
	char cur[4200], staged[4200], prev[4300];
	struct keystore_content k;
	unsigned written = 0;
	int r;

	snprintf(cur, sizeof(cur), "%s/keystore.p12", dir);
	snprintf(staged, sizeof(staged), "%s/%s", dir, STAGED);
	/* Phase: the previous keystore kept, the staged one made current. */
	if (access(staged, F_OK) == 0) {
		if (old_serial != NULL && old_serial[0] != '\0') {
			snprintf(prev, sizeof(prev), "%s/keystore-%s.p12", dir, old_serial);
			if (link(cur, prev) < 0 && errno != EEXIST && errno != ENOENT) {
				snprintf(err, errlen, "%s: %s", prev, strerror(errno));
				return -1;
			}
		}
		if (rename(staged, cur) < 0) {
			snprintf(err, errlen, "%s: %s", cur, strerror(errno));
			return -1;
		}
		sync_dir(dir);
	}
	/* Phase: the certificate copies, from what is now current. */
	if (certs != NULL && certs->sign != NULL) {
		r = write_copies(dir, certs->sign, certs->enc, certs->chain, &written, err, errlen);
		sync_dir(dir);
		return r;
	}
	if ((r = keystore_load(dir, "keystore.p12", pass, &k, err, errlen)) <= 0) {
		if (r == 0)
			snprintf(err, errlen, "%s: no keystore", cur);
		return -1;
	}
	r = k.sign_cert != NULL
		    ? write_copies(dir, k.sign_cert, k.enc_cert, k.chain, &written, err, errlen)
		    : -1;
	if (k.sign_cert == NULL)
		snprintf(err, errlen, "%s: no signing certificate", cur);
	keystore_content_free(&k);
	sync_dir(dir);
	return r;
}

int keystore_read_certs(const char *dir, const char *pass, X509 **sign, X509 **enc)
{
	struct keystore_content k;
	char err[64];
	int r = keystore_load(dir, "keystore.p12", pass, &k, err, sizeof(err));

	*sign = NULL;
	*enc = NULL;
	if (r <= 0)
		return r;
	*sign = k.sign_cert;
	*enc = k.enc_cert;
	k.sign_cert = k.enc_cert = NULL;
	keystore_content_free(&k);
	return 1;
}
