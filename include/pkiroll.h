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
	PKIROLL_ERR_NOCERT, /* no such certificate */
	PKIROLL_ERR_HOOK,   /* a hook failed */
	PKIROLL_ERR__MAX
};

/* Returns a static, human readable text for an error code. */
const char *pkiroll_strerror(int err);

/* A library pkiroll is built on, and its version: the one running where
 * the library can say, else the one pkiroll was built with (built set). */
struct pkiroll_libversion {
	const char *name;
	char version[96];
	int built;
};
#define PKIROLL_MAX_LIBS 8

/* Fills out[PKIROLL_MAX_LIBS] with the libraries' versions; returns how
 * many it filled. */
size_t pkiroll_library_versions(struct pkiroll_libversion out[PKIROLL_MAX_LIBS]);

/* TRACE: one line per CMP message sent or received (pkiroll -vvv); only
 * when an operation's options ask for it (trace). */
enum pkiroll_level {
	PKIROLL_LOG_ERROR = 0,
	PKIROLL_LOG_WARN,
	PKIROLL_LOG_INFO,
	PKIROLL_LOG_DEBUG,
	PKIROLL_LOG_TRACE
};

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

/* Text from outside made safe to print on a terminal (control and
 * bidirectional characters escaped; see the library's
 * text_escape_display()), into out; returns out. NULL prints as "". */
const char *pkiroll_text_display(const char *in, char *out, size_t outlen);

/* ---- configuration ---- */

#define PKIROLL_MAX_PROFILES 32

/* One CA: how to reach it and how to talk to it. */
struct pkiroll_ca_profile {
	char name[64];
	char url[512];		/* http://, https://, cmp://host:829 */
	char tls_ca_file[512];	/* https: trust anchors for the server */
	char tls_cert[512];	/* https: client certificate (PEM), "" none */
	char tls_key[512];	/* https: its private key (PEM), "" none */
	char proxy[512];	/* http(s) proxy URL, "" the environment's */
	char no_proxy[512];	/* hosts not to proxy, "" the environment's */
	char trust_anchor[512]; /* PEM: CA certificates signed replies chain to */
	char recipient[512];	/* recipient DN, "" for NULL-DN */
	int framing;		/* 0 auto, 1 version 10, 2 version 0 */
	int pbm_owf;		/* NID */
	int pbm_mac;		/* NID */
	int pbm_iterations;
	int pbm_salt_len;
	int implicit_confirm;
	int connect_timeout;   /* seconds */
	int read_timeout;      /* seconds */
	int poll_deadline;     /* seconds */
	int retries;	       /* transient retries per community and run */
	int concurrency;       /* workers on this CA at once */
	double rate;	       /* requests per second, 0: no limit */
	int normalize_codes;   /* 1: drop spaces and dashes, upper-case */
	int breaker;	       /* consecutive transient failures that pause it */
	int renew_encryption;  /* enum pkiroll_renew_enc: what a renewal does with it */
	int revoke_with_codes; /* rr under a MAC with new codes, not the signing key */
};

/* What a renewal does with a dual-key community's encryption key. */
enum pkiroll_renew_enc {
	PKIROLL_RENEW_ENC_KUR = 0, /* a new CA-made pair in the kur (second request) */
	PKIROLL_RENEW_ENC_KEEP,	   /* the current one stays; only the signing key renews */
	PKIROLL_RENEW_ENC_REENROLL /* the CA renews only with new codes (needs_codes) */
};

/* An authorization code as a manifest gives it: the value, env:NAME or
 * file:PATH (a regular file, private unless insecure). 0, or -1 with why. */
int pkiroll_code_resolve(const char *value, int insecure, char *out, size_t outlen, char *why,
			 size_t whylen);

/* Opens a file that holds a secret (a passphrase file) as file: codes are
 * opened: a regular file (a FIFO is refused at once, not waited on), and
 * private (no group or other bits) unless insecure; the same wording as
 * for codes. The descriptor (the caller closes it), or -1 with why. */
int pkiroll_secret_file_open(const char *path, int insecure, char *why, size_t whylen);

/* A CRLReason (RFC 5280 5.3.1) by its name (keyCompromise,
 * affiliationChanged, superseded, cessationOfOperation, unspecified), or -1. */
int pkiroll_revocation_reason(const char *name);
/* The name of a CRLReason code, or NULL. */
const char *pkiroll_revocation_reason_name(int code);

/* A renewal window: seconds before expiry, or a percentage of the lifetime. */
struct pkiroll_window {
	long long secs; /* used when pct is 0 */
	int pct;	/* 1..99 */
};

/* Parses "30d", "12h", "900s", "2w" or "33%". 0, or -1 if malformed. */
int pkiroll_window_parse(const char *s, struct pkiroll_window *w);

/*
 * The defaults pkiroll_config_defaults() fills in, the only place that
 * applies them; a tool's --help names them from these same constants.
 */
#define PKIROLL_DEFAULT_DB "pkiroll.db"
#define PKIROLL_DEFAULT_KEYSTORE_DIR "keystores"
#define PKIROLL_DEFAULT_BUNDLE_DIR "bundles"
#define PKIROLL_DEFAULT_CEM_DIR "cem"
#define PKIROLL_DEFAULT_RENEW_WITHIN "30d"
#define PKIROLL_DEFAULT_CEM_RESPOND_BY "14d"
#define PKIROLL_DEFAULT_KEEP_DECRYPTION_KEYS 2
#define PKIROLL_DEFAULT_HOOK_TIMEOUT 300

struct pkiroll_config {
	char path[512];		/* the file read, "" when none */
	char db[512];		/* default PKIROLL_DEFAULT_DB */
	char keystore_dir[512]; /* default PKIROLL_DEFAULT_KEYSTORE_DIR */
	char bundle_dir[512];	/* default PKIROLL_DEFAULT_BUNDLE_DIR */
	char default_ca[64];
	int key_type; /* default for rows without key_type */
	int enc_key_type;
	int keystore_legacy;		    /* 3DES PKCS#12 for older gateways */
	int jobs;			    /* workers; default: the number of cores */
	struct pkiroll_window renew_within; /* default PKIROLL_DEFAULT_RENEW_WITHIN */
	int keep_decryption_keys;	    /* earlier decryption keys a keystore keeps */
	char cem_dir[512];		    /* where pkiroll cem writes */
	char cem_response_url[1024];	    /* CEM ResponseURL default, "" none */
	long long cem_respond_within;	    /* seconds: RespondByDate (no key; 14 days) */
	char metrics_file[512];		    /* Prometheus metrics after each command, "" none */
	char deploy_hook[1024];		    /* sh -c per changed community, "" none */
	char post_hook[1024];		    /* sh -c once per run, report on stdin, "" none */
	int hook_timeout;		    /* seconds either hook may take */
	size_t nprofiles;
	struct pkiroll_ca_profile profiles[PKIROLL_MAX_PROFILES];
};

/* The built-in configuration: every default, no CA profile. */
void pkiroll_config_defaults(struct pkiroll_config *cfg);

/* Defaults for a CA profile (name and URL empty). */
void pkiroll_ca_profile_defaults(struct pkiroll_ca_profile *p);

/*
 * Loads the configuration: path, else ./pkiroll.conf, else
 * /etc/pkiroll.conf (or the file the environment variable
 * PKIROLL_SYSTEM_CONFIG names; empty: none), else built-in defaults (path
 * NULL searches; a given
 * path must exist). What the file leaves out (or gives empty, for the
 * paths) keeps its default (pkiroll_config_defaults()). Problems are logged
 * as "FILE:LINE: reason".
 */
int pkiroll_config_load(pkiroll_ctx *ctx, const char *path, struct pkiroll_config *cfg);

/* The profile called name (NULL or "": the default one), or NULL. */
const struct pkiroll_ca_profile *pkiroll_config_profile(const struct pkiroll_config *cfg,
							const char *name);

/* ---- manifest ---- */

struct pkiroll_manifest_opts {
	char delimiter;		 /* ',', ';', '\t', or 0 to detect from the header */
	int strict;		 /* stop at the first bad row */
	int insecure_code_files; /* accept file: codes readable by group or others */
	int retire_missing;	 /* import: retire the communities the manifest no longer lists */
	/* import --retire-missing: at most this many retired (-1: 10% of the
	 * store's communities, at least 1) unless force; dry_run: the plan,
	 * nothing written */
	long max_retire;
	int force;
	int dry_run;
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

/*
 * Opens the manifest and reads its header, then closes it: what a command
 * checks before it creates anything. PKIROLL_OK, PKIROLL_ERR_NOENT, _IO (not
 * a regular file, unreadable) or _MANIFEST (bad header); logged.
 */
int pkiroll_manifest_open_check(pkiroll_ctx *ctx, const char *path,
				const struct pkiroll_manifest_opts *opts);

/* ---- store ---- */

typedef struct pkiroll_store pkiroll_store;

/* Upper-case hex pairs separated by colons. */
struct pkiroll_fingerprints {
	char md5[16 * 3];
	char sha1[20 * 3];
	char sha256[32 * 3];
};

/*
 * Opens (and with create set, creates) the SQLite store at path, applying
 * forward migrations. On success *out is the caller's to close.
 */
int pkiroll_store_open(pkiroll_ctx *ctx, const char *path, int create, pkiroll_store **out);

/* A writer's hold on a store: see pkiroll_store_lock(). */
typedef struct pkiroll_lock pkiroll_lock;

/*
 * Takes the store's one-writer lock for every command that writes: on the
 * database file itself, whatever path names it (symlinks, hard links), so
 * two commands never write one store at once. Creates an empty database
 * file if there is none. Returns PKIROLL_OK with *out to release with
 * pkiroll_store_unlock() after the store is closed, PKIROLL_ERR_LOCKED
 * (logged, with the holder's pid) when another command holds it.
 */
int pkiroll_store_lock(pkiroll_ctx *ctx, const char *db, pkiroll_lock **out);
void pkiroll_store_unlock(pkiroll_lock *l);
void pkiroll_store_close(pkiroll_store *store);

/* Schema version of an open store (PRAGMA user_version). */
int pkiroll_store_schema_version(pkiroll_store *store);

struct pkiroll_import_stats {
	unsigned long rows;
	unsigned long bad;
	unsigned long added;
	unsigned long updated;
	unsigned long unchanged;
	unsigned long retired; /* retire_missing: communities it retired (or would) */
	int retire_refused;    /* retire_missing refused: no good row, or over the limit */
};

/*
 * Upserts every good row of a manifest into the store (one transaction).
 * Bad rows are logged and skipped. Importing the same manifest twice changes
 * nothing; a changed row is updated and each change is logged.
 */
int pkiroll_store_import(pkiroll_store *store, const char *path,
			 const struct pkiroll_manifest_opts *opts,
			 struct pkiroll_import_stats *stats);

/* Something about a community that someone must look at. */
struct pkiroll_status_item {
	char *community;
	int state;
	char *reason; /* may be NULL */
	int retryable;
	/* why: "failed", "needs_codes", "renewal_failed" (the certificates stay
	 * in use, a renewal did not work) or "warning" (an issuance not proven) */
	char kind[32];
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
	/* the current, unrevoked certificates of the communities in service */
	unsigned long certificates;
	unsigned long expired; /* of them, past their notAfter */
	time_t soonest;	       /* the earliest notAfter among them; 0 when none */
};

/*
 * Collects the state counts, the communities that need attention (failed,
 * needs_codes, a failed renewal, a warning; by name) and the current,
 * unrevoked certificates that expire before now + days (expired ones too).
 * *out is the caller's; free with pkiroll_status_free().
 */
int pkiroll_status_get(pkiroll_store *store, time_t now, unsigned days,
		       struct pkiroll_status **out);
void pkiroll_status_free(struct pkiroll_status *status);

/* One community as `status` lists it; strings valid during the callback. */
struct pkiroll_status_row {
	const char *community;
	int state;
	const char *reason;	 /* NULL when none */
	const char *sign_serial; /* current signing certificate, or NULL */
	time_t sign_not_after;
	const char *enc_serial; /* current encryption certificate, or NULL */
	time_t enc_not_after;
	const char *keystore;	       /* NULL until written */
	const char *subject;	       /* the current signing certificate's subject, or NULL */
	const char *requested_subject; /* what was asked for, when the CA changed it; else NULL */
	time_t renew_after; /* enrolled: when pkiroll renew takes it (0: no certificate) */
	int sign_revoked, enc_revoked; /* the CA revoked that certificate */
};

typedef int pkiroll_status_row_fn(void *arg, const struct pkiroll_status_row *row);

/* Calls fn for every community, by name; a non-zero return stops. The
 * renew-after dates follow window (NULL: 30 days). */
int pkiroll_status_each(pkiroll_store *store, const struct pkiroll_window *window,
			pkiroll_status_row_fn *fn, void *arg);

/* ---- monitoring ---- */

/*
 * Records a command's run in the store: when it finished and how long it
 * took (seconds since the epoch, seconds), and its exit code (0 success).
 * The last run of each command is kept across runs, for the metrics file.
 * PKIROLL_OK or PKIROLL_ERR_STORE (logged).
 */
int pkiroll_run_record(pkiroll_store *store, const char *command, double finished, double duration,
		       int exit_code);

/*
 * Writes what the store says to path in the Prometheus text exposition
 * format (node_exporter's textfile collector reads it): each current
 * certificate's notAfter, communities per state and needing attention, the
 * last run of each command, the CMP requests per operation, result and
 * failInfo (a counter), the CEM answers pending per partner. Streamed, one
 * query per metric family; put in place atomically (a temporary beside
 * it, renamed, mode 0644). PKIROLL_OK, PKIROLL_ERR_IO or
 * PKIROLL_ERR_STORE (logged).
 */
int pkiroll_metrics_write(pkiroll_store *store, const char *path, time_t now);

/* Retires a community (its partners' bundles become stale); with
 * only_if_revoked, only when none of its current certificates is still
 * valid at the CA. 1 retired, 0 no such community, 2 retired already,
 * 3 not revoked (left as it is), or a PKIROLL_ERR_*. */
int pkiroll_retire(pkiroll_store *store, const char *community, int only_if_revoked,
		   const char *why);

/*
 * Brings a retired community back: enrolled again when it has current
 * certificates and none of them is revoked, else pending (it enrolls with
 * its codes). 1 done, 0 no such community, 2 not retired, 3 its current
 * certificates are revoked (new codes are needed), or -1 (store error,
 * logged). dry_run: the same answer, nothing written.
 */
int pkiroll_unretire(pkiroll_store *store, const char *community, const char *why, int dry_run);

/* One certificate of a community's history; strings valid during the callback. */
struct pkiroll_history_cert {
	const char *usage, *serial, *subject, *issuer, *key_type;
	time_t not_before, not_after;
	struct pkiroll_fingerprints fp;
	int current;		    /* not replaced */
	const char *replaced_by;    /* the serial that replaced it, or NULL */
	time_t revoked_at;	    /* 0: not revoked */
	const char *revoked_reason; /* or NULL */
};

/* One event of a community's history. */
struct pkiroll_history_event {
	time_t at;
	long long run;			/* 0: none */
	const char *from, *to, *reason; /* NULL when none */
};

typedef int pkiroll_history_cert_fn(void *arg, const struct pkiroll_history_cert *c);
typedef int pkiroll_history_event_fn(void *arg, const struct pkiroll_history_event *e);

/*
 * One community's history: *state its state now, then every certificate it
 * had, oldest first, then every event. 1 found, 0 no such community, or a
 * PKIROLL_ERR_*.
 */
int pkiroll_status_history(pkiroll_store *store, const char *community, int *state,
			   pkiroll_history_cert_fn *cert_fn, pkiroll_history_event_fn *event_fn,
			   void *arg);

/* ---- partner bundles ---- */

struct pkiroll_bundle_opts {
	const char *out_dir; /* made (0755) if missing */
	const char *partner; /* only this partner; NULL: every partner */
	int stale;	     /* only partners whose last bundle holds a replaced certificate */
	int cem;	     /* the partner's latest CEM requests under cem/ */
};

struct pkiroll_bundle_stats {
	unsigned long partners;	    /* partners considered */
	unsigned long written;	    /* zips written */
	unsigned long unchanged;    /* zips that came out the same as the last: not rewritten */
	unsigned long empty;	    /* partners with no certificate yet: no zip */
	unsigned long removed;	    /* zips removed: their communities all revoked or retired */
	unsigned long failed;	    /* zips that could not be written */
	unsigned long communities;  /* communities in the written zips */
	unsigned long certificates; /* certificates in the written zips */
	unsigned long missing;	    /* linked communities left out: no current certificate */
};

/*
 * Writes OUT_DIR/PARTNER.zip for every partner (or the one named) from the
 * store: the current, unexpired certificates of its communities, the CA
 * chain, fingerprint sheets and SHA256SUMS; records each bundle. Entry
 * dates come from the certificates, as MS-DOS times in UTC: the same input
 * gives the same bytes in any time zone.
 * Returns PKIROLL_OK, PKIROLL_ERR_USAGE (no such partner),
 * PKIROLL_ERR_CONFIG (out_dir cannot be made or written: one line says why,
 * nothing was written), PKIROLL_ERR_IO (a zip could not be written; the
 * others were) or PKIROLL_ERR_STORE.
 */
int pkiroll_bundle_write(pkiroll_store *store, const struct pkiroll_bundle_opts *opts,
			 struct pkiroll_bundle_stats *stats);

/* ---- certificate exchange messages (CEM) ---- */

struct pkiroll_cem_opts {
	const char *out_dir;	     /* DIR/PARTNER/COMMUNITY-REQUESTID.mime and .xml */
	const char *const *partners; /* only these (NULL, 0: all) */
	int npartners;
	const char *const *communities; /* only these */
	int ncommunities;
	long long respond_within; /* seconds: RespondByDate */
	const char *response_url; /* for communities without their own */
	int sign;		  /* S/MIME with the previous signing key */
	const char *keystore_dir; /* sign: where that key is */
	const char *pass;	  /* sign: its passphrase */
	int reissue;		  /* also certificates asked about already: a new request */
	unsigned long kill_after; /* tests: SIGKILL after staging this many requests */
};

struct pkiroll_cem_stats {
	unsigned long written;	      /* requests written */
	unsigned long signed_;	      /* of them signed */
	unsigned long unsigned_first; /* --sign, but no previous key (first enrollment) */
	unsigned long failed;
};

/* Writes a CEM request for every partner and community whose current
 * certificates that partner has not been asked about yet (with reissue:
 * or has been), and records it.
 * PKIROLL_OK, PKIROLL_ERR_IO (some failed, logged), PKIROLL_ERR_STORE. */
int pkiroll_cem_write(pkiroll_store *store, const struct pkiroll_cem_opts *opts,
		      struct pkiroll_cem_stats *stats);

/* Reads one CEM response file (XML or MIME) and records its answers, all or
 * none. 0 recorded, 1 refused (logged: file and element), or a
 * PKIROLL_ERR_*. */
int pkiroll_cem_response(pkiroll_store *store, const char *file);

/* One partner's answer on a community's current certificates (for each,
 * the latest request that partner got about it): state is
 * "accepted" (all of them), "rejected", "pending", "unanswered" (asked, no
 * answer yet) or "not asked"; reason: a rejection's, or NULL. */
typedef int pkiroll_cem_state_fn(void *arg, const char *partner, const char *state,
				 const char *reason);

/* Calls fn for each partner of the community, by name. 1 found, 0 no such
 * community, or a PKIROLL_ERR_*. */
int pkiroll_status_cem(pkiroll_store *store, const char *community, pkiroll_cem_state_fn *fn,
		       void *arg);

/* ---- export ---- */

enum pkiroll_export_format {
	PKIROLL_EXPORT_DER = 0, /* one certificate */
	PKIROLL_EXPORT_PEM,	/* one certificate */
	PKIROLL_EXPORT_P7B,	/* the certificates and the CA chain, certs-only PKCS#7 */
	PKIROLL_EXPORT_P12	/* the keystore under a new passphrase */
};

struct pkiroll_export_opts {
	const char *community;
	int usage;	    /* 1 signing, 2 encryption, 3 both; 0: signing for der and pem */
	int format;	    /* enum pkiroll_export_format */
	const char *serial; /* der, pem, p7b: this certificate of its history, not the current */
	/* p12: the community's keystore and its passphrase, the new passphrase */
	const char *keystore_dir;
	const char *pass;
	const char *out_pass;
	int legacy; /* p12: 3DES/SHA-1 for old importers */
};

/*
 * The community's certificates (or keys) as asked: *out (OPENSSL_free it),
 * *len. PKIROLL_ERR_USAGE for an unknown community or a bad combination
 * (logged), PKIROLL_ERR_NOCERT when it has no such certificate,
 * PKIROLL_ERR_IO when the keystore cannot be read.
 */
int pkiroll_export(pkiroll_store *store, const struct pkiroll_export_opts *opts,
		   unsigned char **out, size_t *len);

/* ---- one passphrase for a store's keystores ---- */

struct pkiroll_rekey_opts {
	const char *keystore_dir;
	const char *pass;     /* the keystores' passphrase now (the store's verifier) */
	const char *new_pass; /* the one they get */
	int dry_run;	      /* say what would be done; write nothing */
	/* tests: SIGKILL after this many keystore files written or renamed
	 * (crash-safety); 0 never */
	unsigned long kill_after;
};

struct pkiroll_rekey_stats {
	unsigned long files;	 /* keystore files of the store's communities */
	unsigned long rewrapped; /* moved to the new passphrase by this run */
	unsigned long already;	 /* under the new passphrase already (an interrupted run's) */
	unsigned long neither;	 /* open with neither passphrase (nothing switched) */
	int resumed;		 /* this run finished an interrupted one */
};

/*
 * Re-wraps every keystore of the store (keystore.p12, a staged one, the
 * kept keystore-SERIAL.p12 and unverified-*.p12) under new_pass, crash-
 * safe: each new file is written and synced beside its original as
 * NAME.rekey, then the store records "rekey in progress" with the new
 * passphrase's verifier, then each is renamed over its original, and
 * only then the verifier switches. A rerun after a crash anywhere
 * finishes the job. The caller holds the store's lock. PKIROLL_OK;
 * PKIROLL_ERR_CONFIG (logged): pass is not the store's passphrase, or an
 * interrupted rekey was to another new passphrase; PKIROLL_ERR_USAGE: the
 * same passphrase twice; PKIROLL_ERR_IO: some keystores open with neither
 * passphrase or could not be written (logged; stats->neither), nothing
 * switched; PKIROLL_ERR_STORE.
 */
int pkiroll_rekey_keystores(pkiroll_store *store, const struct pkiroll_rekey_opts *o,
			    struct pkiroll_rekey_stats *st);

/* ---- runs: enroll, renew, revoke (the engine behind each door) ---- */

struct pkiroll_run_stats {
	unsigned long rows; /* manifest rows */
	unsigned long bad_rows;
	unsigned long due; /* communities dispatched (first attempts) */
	unsigned long enrolled;
	unsigned long failed;
	unsigned long needs_codes;
	unsigned long renewed; /* renew: communities with new certificates */
	unsigned long revoked; /* revoke: communities whose certificates the CA revoked */
	unsigned long retries; /* in-run retries of transient faults */
	unsigned long skipped; /* due but not attempted (CA paused, no profile) */
	unsigned long in_flight;
	double elapsed; /* seconds */
	int interrupted;
	unsigned long deployed;	     /* deploy hooks that succeeded */
	unsigned long deploy_failed; /* deploy hooks that failed (left pending) */
	unsigned long retired;	     /* pkiroll retire: communities retired */
};

/* ---- deploy hooks and the run report ---- */

/* A community's deploy hook in this run. */
enum pkiroll_deploy_result {
	PKIROLL_DEPLOY_NONE = 0, /* none ran */
	PKIROLL_DEPLOY_OK,
	PKIROLL_DEPLOY_FAILED,	/* non-zero exit, or it could not start */
	PKIROLL_DEPLOY_TIMEOUT, /* killed at the hook timeout */
	PKIROLL_DEPLOY_PENDING, /* owed, not run (a dry run) */
	PKIROLL_DEPLOY__MAX
};

/* "none", "ok", "failed", "timeout", "pending". */
const char *pkiroll_deploy_result_name(int result);

/* One community in a run's report. */
struct pkiroll_report_item {
	char name[256];
	/* enrolled, renewed, revoked, retired, failed, needs_codes, retrying,
	 * skipped (due, not attempted: reason says why); "" when
	 * only its deploy hook ran (owed from an earlier run) */
	char outcome[16];
	char reason[512];
	char failinfo[128]; /* the CA's failInfo bit names, comma-separated, "" */
	char serials[256];  /* the new certificates', space-separated */
	double duration;    /* seconds, from its first dispatch to its end */
	int retries;	    /* in-run retries */
	int deploy;	    /* enum pkiroll_deploy_result */
	char deploy_event[16];
	int deploy_status; /* the hook's exit status (128 + signal) */
};

/* What a run did, per community (malloc'd items; pkiroll_report_free()). */
struct pkiroll_report {
	struct pkiroll_report_item *items;
	size_t n, cap;
};

/* The item for name, added when missing; NULL when out of memory. */
struct pkiroll_report_item *pkiroll_report_item(struct pkiroll_report *rep, const char *name);
void pkiroll_report_free(struct pkiroll_report *rep);

/*
 * The report as one JSON object (see pkiroll(1), --report): command,
 * started and finished (Unix seconds), duration, exit code, the counts of
 * st and the items. Returns a malloc'd string (the caller frees), or NULL.
 */
char *pkiroll_report_json(const char *command, double started, double finished, int exit_code,
			  const struct pkiroll_run_stats *st, const struct pkiroll_report *rep);

/* Writes text to path atomically (0600). PKIROLL_OK or PKIROLL_ERR_IO (logged). */
int pkiroll_report_write(pkiroll_ctx *ctx, const char *path, const char *text);

/*
 * Runs the post hook (sh -c command) with text on its stdin, killed after
 * timeout_s seconds; its output is logged. PKIROLL_OK when it exited 0,
 * else PKIROLL_ERR_HOOK (logged).
 */
int pkiroll_post_hook(pkiroll_ctx *ctx, const char *command, const char *text, int timeout_s,
		      volatile int *interrupted);

/*
 * While armed, a change that gives a community new certificates (or
 * revokes or retires them) marks it deploy_pending in the transaction
 * that commits the change (the run doors arm it when a deploy hook is
 * set; pkiroll retire's caller arms it itself).
 */
void pkiroll_store_deploy_arm(pkiroll_store *store, int armed);

/* Progress: called about twice a second and once at the end (final = 1). */
typedef void pkiroll_progress_fn(void *arg, const struct pkiroll_run_stats *st, int final);

/* What every run shares, whatever it does to the communities. */
struct pkiroll_run_opts {
	const char *db;
	const struct pkiroll_config *config; /* resolved; NULL: pkiroll_config_defaults() */
	const char *ca;			     /* profile name (--ca); NULL: the default */
	const char *ca_url;		     /* --ca-url: a profile made of this URL */
	const char *keystore_dir;
	const char *passphrase; /* the PKCS#12 passphrase; never logged */
	int jobs;		/* workers; 0: the config's */
	unsigned long limit;	/* at most this many communities, 0: all */
	int dry_run;		/* show what would be done; write nothing */
	pkiroll_progress_fn *progress;
	void *progress_arg;
	volatile int *interrupted; /* the caller's signal count: 1 finish, 2 abort */
	/* debugging: every CMP message as DER into dump_dir (made 0700 if
	 * missing; NULL: none), and with trace a PKIROLL_LOG_TRACE line each */
	const char *dump_dir;
	int trace;
	/* after the run: sh -c deploy_hook per community whose certificates
	 * changed (or still owe it), killed after hook_timeout seconds (0:
	 * the config's); NULL: the config's deploy_hook, "" none */
	const char *deploy_hook;
	int hook_timeout;
	const char *pass_file;	       /* where the passphrase came from, for the hook; NULL */
	struct pkiroll_report *report; /* filled when not NULL */
};

/*
 * pkiroll deploy: runs the deploy hook of every community that still owes
 * one (only the named ones when ncommunities > 0), one by one; with
 * run->dry_run lists them only. stats->deployed and deploy_failed count.
 * PKIROLL_OK, or an error; PKIROLL_ERR_USAGE when no hook is configured.
 */
int pkiroll_deploy(pkiroll_ctx *ctx, const struct pkiroll_run_opts *run,
		   const char *const *communities, int ncommunities,
		   struct pkiroll_run_stats *stats);

/* pkiroll_enroll: a manifest's communities. */
struct pkiroll_enroll_opts {
	const char *manifest;
	struct pkiroll_manifest_opts mopts;
	int retry_failed; /* also retry failed communities marked not retryable */
};

/*
 * Imports the manifest and enrolls every community that is due, in forked
 * workers. Returns PKIROLL_OK when the run completed (see stats for
 * failures), PKIROLL_ERR_LOCKED when another run holds the store, or
 * another error.
 */
int pkiroll_enroll(pkiroll_ctx *ctx, const struct pkiroll_run_opts *run,
		   const struct pkiroll_enroll_opts *opts, struct pkiroll_run_stats *stats);

/* pkiroll_renew: the enrolled communities whose certificates expire soon. */
struct pkiroll_renew_opts {
	/* first, as pkiroll_enroll, a manifest's due rows (manifest NULL: none) */
	struct pkiroll_enroll_opts enroll;
	struct pkiroll_window within;	/* secs and pct 0: the config's renew_within */
	int now;			/* no spreading offset inside the window */
	const char *const *communities; /* only these, whatever their dates */
	int ncommunities;
};

/* Renews (kur) every enrolled community that is due; returns as
 * pkiroll_enroll. */
int pkiroll_renew(pkiroll_ctx *ctx, const struct pkiroll_run_opts *run,
		  const struct pkiroll_renew_opts *opts, struct pkiroll_run_stats *stats);

/* pkiroll_revoke: an rr for the named communities' current certificates. */
struct pkiroll_revoke_opts {
	const char *const *communities;
	int ncommunities;
	int usage;  /* 1 signing, 2 encryption, 3 both */
	int reason; /* a CRLReason */
	/* revoke_protection = codes: the rr under a MAC with these (one community) */
	const char *reference;
	const char *code;
};

/* Revokes; stats->revoked counts the communities the CA revoked. Returns as
 * pkiroll_enroll. Retiring them afterwards is pkiroll_retire()'s. */
int pkiroll_revoke(pkiroll_ctx *ctx, const struct pkiroll_run_opts *run,
		   const struct pkiroll_revoke_opts *opts, struct pkiroll_run_stats *stats);

/* ---- ping: a genm to the CA (RFC 4210 5.3.19) ---- */

struct pkiroll_ping_opts {
	const struct pkiroll_config *config;
	const char *ca;	    /* profile name; NULL: the community's, else the default */
	const char *ca_url; /* a profile made of this URL */
	/* PBM (the code is used for the MAC only, never sent or logged) ... */
	const char *reference;
	const char *code;
	/* ... or a signature with the community's current keystore */
	const char *community;
	const char *db;
	const char *keystore_dir;
	const char *passphrase;
	int empty;	      /* an empty genm instead of one asking for id-it-caCerts */
	const char *dump_dir; /* as for pkiroll_run_opts */
	int trace;
};

/* How a ping ended. */
enum pkiroll_ping_outcome {
	PKIROLL_PING_OK = 0,	 /* a genp whose protection verified */
	PKIROLL_PING_NOANSWER,	 /* no CMP reply: refused, timeout, TLS, HTTP status */
	PKIROLL_PING_REFUSED,	 /* the CA answered with an error message */
	PKIROLL_PING_UNVERIFIED, /* a reply whose protection did not verify */
	PKIROLL_PING_PROTOCOL,	 /* a reply that is no genp for this request */
	PKIROLL_PING__MAX
};

struct pkiroll_ping_result {
	int outcome;	     /* enum pkiroll_ping_outcome */
	char reason[1024];   /* why it is not OK; "" when it is */
	char body[16];	     /* the reply's body type ("genp", "error"); "" no reply */
	char protection[16]; /* the reply's: "PBM", "signature", "none" */
	int verified;	     /* that protection verified */
	char trust[600];     /* how it verified, or why not */
	char info[1024];     /* genp: its infoTypes; error: status, failInfo, text */
	char tid[33];	     /* the transactionID, hex */
	long long rtt_ms;    /* request sent to reply received; -1: no reply */
};

/*
 * Sends one genm, PBM-protected with opts->reference and opts->code, or
 * signed with opts->community's keystore, and reads the answer into *res.
 * PKIROLL_OK when it was sent (res->outcome says how it went), else
 * PKIROLL_ERR_USAGE, _CONFIG (no CA, no keystore), _NOENT or _NOMEM
 * (logged).
 */
int pkiroll_ping(pkiroll_ctx *ctx, const struct pkiroll_ping_opts *opts,
		 struct pkiroll_ping_result *res);

/* ---- certificates ---- */

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
