/*
 * pkiroll: bulk enrollment of B2B trading communities on an Entrust-style
 * PKI over CMP. This is the library's whole public interface: the tool in
 * cmd/ includes nothing else. The library never prints and never exits; it
 * returns an enum pkiroll_err and reports details through the log callback
 * of its context.
 */
#ifndef PKIROLL_H
#define PKIROLL_H

#include <stddef.h>
#include <time.h>

#define PKIROLL_VERSION "0.1.0"

enum pkiroll_err {
	PKIROLL_OK = 0,
	PKIROLL_ERR_USAGE,    /* bad argument from the caller */
	PKIROLL_ERR_CONFIG,   /* configuration file or option */
	PKIROLL_ERR_IO,	      /* file or network I/O */
	PKIROLL_ERR_STORE,    /* SQLite store */
	PKIROLL_ERR_MANIFEST, /* manifest cannot be read at all */
	PKIROLL_ERR_STRICT,   /* --strict: stopped at the first bad row */
	PKIROLL_ERR_NOMEM,
	PKIROLL_ERR_CRYPTO, /* OpenSSL call failed */
	PKIROLL_ERR_NOENT,  /* no such store or file */
	PKIROLL_ERR_LOCKED, /* store is locked by another run */
	PKIROLL_ERR_SCHEMA, /* store written by a newer pkiroll */
	PKIROLL_ERR__MAX
};

/* Returns a static, human readable text for an error code. */
const char *pkiroll_strerror(int err);

enum pkiroll_level { PKIROLL_LOG_ERROR = 0, PKIROLL_LOG_WARN, PKIROLL_LOG_INFO, PKIROLL_LOG_DEBUG };

/* Receives every diagnostic of the library, one line without newline. */
typedef void pkiroll_log_fn(void *arg, enum pkiroll_level level, const char *msg);

typedef struct pkiroll_ctx pkiroll_ctx;

/* New context; log may be NULL (diagnostics dropped). Caller frees. */
pkiroll_ctx *pkiroll_ctx_new(pkiroll_log_fn *log, void *arg);
void pkiroll_ctx_free(pkiroll_ctx *ctx);

/* Community states; the store is the source of truth. */
enum pkiroll_state {
	PKIROLL_STATE_PENDING = 0,
	PKIROLL_STATE_ENROLLING,
	PKIROLL_STATE_ENROLLED,
	PKIROLL_STATE_FAILED,
	PKIROLL_STATE_NEEDS_CODES,
	PKIROLL_STATE_RENEWING,
	PKIROLL_STATE_RETIRED,
	PKIROLL_STATE__MAX
};

/* Name of a state as stored and shown ("pending", ...), or NULL. */
const char *pkiroll_state_name(int state);

/* ---- manifest ---- */

struct pkiroll_manifest_opts {
	char delimiter; /* ',', ';', '\t', or 0 to detect from the header */
	int strict;	/* stop at the first bad row */
};

struct pkiroll_manifest_stats {
	unsigned long rows; /* data rows seen */
	unsigned long good;
	unsigned long bad;
	unsigned long warnings;
};

/*
 * Reads and validates a whole manifest without contacting any CA or store.
 * Every problem is logged as "FILE:LINE: column: reason". Returns PKIROLL_OK
 * when the file could be read (even with bad rows: see stats),
 * PKIROLL_ERR_STRICT when opts->strict stopped it, or another error.
 */
int pkiroll_manifest_check(pkiroll_ctx *ctx, const char *path,
			   const struct pkiroll_manifest_opts *opts,
			   struct pkiroll_manifest_stats *stats);

/* ---- store ---- */

typedef struct pkiroll_store pkiroll_store;

/*
 * Opens (and with create set, creates) the SQLite store at path, applying
 * forward migrations. On success *out is the caller's to close.
 */
int pkiroll_store_open(pkiroll_ctx *ctx, const char *path, int create, pkiroll_store **out);
void pkiroll_store_close(pkiroll_store *store);

/* Schema version of an open store (PRAGMA user_version). */
int pkiroll_store_schema_version(pkiroll_store *store);

struct pkiroll_import_stats {
	unsigned long rows;
	unsigned long bad;
	unsigned long added;
	unsigned long updated;
	unsigned long unchanged;
};

/*
 * Upserts every good row of a manifest into the store (one transaction).
 * Bad rows are logged and skipped. Importing the same manifest twice changes
 * nothing; a changed row is updated and each change is logged.
 */
int pkiroll_store_import(pkiroll_store *store, const char *path,
			 const struct pkiroll_manifest_opts *opts,
			 struct pkiroll_import_stats *stats);

struct pkiroll_status_item {
	char *community;
	int state;
	char *reason; /* may be NULL */
	int retryable;
};

struct pkiroll_status_cert {
	char *community;
	char *usage;  /* "signing" or "encryption" */
	char *serial; /* hex */
	time_t not_after;
};

struct pkiroll_status {
	unsigned long communities;
	unsigned long count[PKIROLL_STATE__MAX];
	size_t nattention;
	struct pkiroll_status_item *attention;
	size_t nexpiring;
	struct pkiroll_status_cert *expiring;
};

/*
 * Collects the state counts, the communities that need attention (failed,
 * needs_codes) and the current certificates that expire before now + days.
 * *out is the caller's; free with pkiroll_status_free().
 */
int pkiroll_status_get(pkiroll_store *store, time_t now, unsigned days,
		       struct pkiroll_status **out);
void pkiroll_status_free(struct pkiroll_status *status);

/* ---- certificates ---- */

/* Upper-case hex pairs separated by colons. */
struct pkiroll_fingerprints {
	char md5[16 * 3];
	char sha1[20 * 3];
	char sha256[32 * 3];
};

/* Fingerprints of a DER certificate (or any DER blob). */
int pkiroll_fingerprints(const unsigned char *der, size_t len, struct pkiroll_fingerprints *fp);

struct pkiroll_cert_info {
	char *subject; /* RFC 2253 string */
	char *issuer;
	char *serial; /* upper-case hex */
	time_t not_before, not_after;
	char key_type[16]; /* rsa2048, p256, ... */
	struct pkiroll_fingerprints fp;
};

/*
 * Reads every certificate of a PEM or DER file. *out is an array of *n
 * entries, the caller's; free with pkiroll_cert_info_free().
 */
int pkiroll_cert_file_info(pkiroll_ctx *ctx, const char *path, struct pkiroll_cert_info **out,
			   size_t *n);
void pkiroll_cert_info_free(struct pkiroll_cert_info *info, size_t n);

#endif
