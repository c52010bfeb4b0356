/*
 * The parent-worker codec: what a job is, what a worker reports at each
 * step, and what it sends back, as typed structs, with each writer and its
 * reader side by side in job.c. The run's constants (CA profiles, keystore
 * directory, passphrase) reach the workers once, at fork (struct job_run),
 * not in every job.
 */
#ifndef PKIROLL_JOB_H
#define PKIROLL_JOB_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/fileio.h"
#include "enroll/wire.h"
#include "store/store_enroll.h"

/* What a job does; the pipeline is the same for each. */
enum job_kind {
	JOB_NONE = 0,
	JOB_ENROLL, /* ir with the reference number and authorization code */
	JOB_RENEW,  /* kur, signed with the current certificate */
	JOB_REVOKE, /* rr for the current certificates */
	JOB__MAX
};

/* R_FAULT is a CMP fault (enum cmp_fault), or one of the job's own that
 * happen outside the CMP transaction. */
enum job_fault {
	JOB_F_KEYSTORE = 100, /* the keystore could not be written: certificates rejected */
	JOB_F_EXPIRED,	      /* renew: the signing certificate has expired */
	JOB_F_REENROLL,	      /* renew: the CA profile renews only with new codes */
	JOB_F_NOKEYSTORE,     /* renew: the current keystore cannot be read */
	JOB_F_COMMIT,	      /* renew: confirmed, but the staged keystore is not current yet */
	JOB_F_FOREIGN,	      /* renew: keystore.p12 is not the store's (a backup, another's) */
	JOB_F_UNANSWERED,     /* an ir under implicitConfirm may have been issued for good */
};

/* The run's constants, given to every worker at fork. */
struct job_run {
	const struct pkiroll_ca_profile *profiles; /* a job names one by index */
	int nprofiles;
	const char *keystore_dir;
	const char *pass; /* the PKCS#12 passphrase */
	int legacy;	  /* 3DES/SHA-1 PKCS#12 */
	int keep_keys;	  /* renew: earlier decryption keys kept in the PKCS#12 */
	/* debugging: the workers log through the parent's context (inherited
	 * with the fork, stderr and all) */
	pkiroll_ctx *ctx;
	const char *dump_dir; /* CMP messages as DER files, NULL: none */
	int trace;	      /* a PKIROLL_LOG_TRACE line per CMP message */
	time_t started;	      /* when the run began: older temporaries are leftovers */
	/* the protocolEncrKey (RSA) the CA encrypts central keys to: made by
	 * the parent once per run before the fork, so every worker (and one
	 * that replaces a dead one) has it; only ever in memory */
	EVP_PKEY *kek;
	X509_PUBKEY *kek_pub; /* its public half, encoded once (costly in 3.0) */
};

/* One community's job (parent -> worker). */
struct job {
	long long id;
	int kind; /* enum job_kind */
	int profile;
	char name[256], ref[160], code[512], subject[1024];
	char ksname[FILE_SAFE_NAME_MAX]; /* its keystore directory in the run's */
	int key_type, enc_key_type, dual;
	/* what an interrupted transaction left (the worker decides whether it
	 * resumes at certConf: the resume rule is the worker's alone) */
	int has_tx;
	int step; /* the step it reached (enum cmp_step) */
	unsigned char tid[16], nonce[64], pbm[512];
	size_t nonce_len, pbm_len;
	char kspath[1024];
	char cur_serial[80]; /* renew: the store's current signing certificate */
	/* revoke: the certificates (serials, "" none) and the CRLReason */
	char revoke_sign[80], revoke_enc[80];
	int revoke_reason;
};

/* A step the worker reached, to be recorded before it goes on. */
struct step {
	int step;				/* enum cmp_step */
	const unsigned char *tid, *nonce, *pbm; /* NULL: unchanged */
	size_t nonce_len, pbm_len;
	char kspath[1024]; /* "" unchanged */
};

#define RESULT_CHAIN_MAX OUTCOME_CHAIN_MAX

/* What a job ended with (worker -> parent). Certificates and the chain
 * point into the message (reader) or the worker's buffers (writer); the
 * infos' strings are owned (job_result_clear()). */
struct result {
	int fault; /* enum cmp_fault or enum job_fault; CMP_OK */
	char reason[1200];
	unsigned long failbits;
	int step; /* how far the transaction got (enum cmp_step) */
	int subject_changed;
	struct outcome_cert sign, enc;
	const unsigned char *chain[RESULT_CHAIN_MAX];
	size_t chain_len[RESULT_CHAIN_MAX];
	int nchain;
	char kspath[1024];
	char old_serial[80]; /* renew: the signing certificate it replaced */
	int confirm;	     /* enum cmp_confirm: what the certConf's answer proved */
	int retry_after;     /* rate limit: the CA's Retry-After in seconds, -1 none */
	char kept[1024];     /* a keystore kept aside for unverified certificates */
};

/* Writes a JOB body. Matched by job_read(). */
void job_write(struct wbuf *b, const struct job *j);
/* Reads a JOB body into j. 0, or -1 if malformed (a bug). */
int job_read(struct wbuf *b, struct job *j);

/* Writes a STEP body. Matched by job_step_read(). */
void job_step_write(struct wbuf *b, const struct step *s);
/* Reads a STEP body (pointers into b). 0, or -1 if malformed. */
int job_step_read(struct wbuf *b, struct step *s);

/* Writes an ACK body: the worker waits wait_ms before it goes on (a CA's
 * Retry-After). Matched by job_ack_read(). */
void job_ack_write(struct wbuf *b, long long wait_ms);
/* The wait of an ACK body in ms (0 for none), bounded to a day. */
long long job_ack_read(struct wbuf *b);

/* Writes a RESULT body. Matched by job_result_read(). */
void job_result_write(struct wbuf *b, const struct result *r);
/* Reads a RESULT body (certificates point into b). 0, or -1 if malformed. */
int job_result_read(struct wbuf *b, struct result *r);
/* Frees the certificate infos of a result. */
void job_result_clear(struct result *r);

/* The worker's main loop (pool_worker_fn); arg is the struct job_run. */
void enroll_worker_main(int fd, void *arg);

#endif
