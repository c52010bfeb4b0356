/*
 * The store's side of enrollment: runs, what is due, each step as it is
 * reached, and each result in one transaction.
 */
#ifndef PKIROLL_STORE_ENROLL_H
#define PKIROLL_STORE_ENROLL_H

#include <openssl/x509.h>

#include "base/fileio.h"
#include "store/store.h"

struct community {
	sqlite3_int64 id;
	char name[256];
	char reference[160];
	char subject[1024];
	char ca[64];
	int key_type, enc_key_type, dual;
	int state; /* enum pkiroll_state */
	int step;  /* enum cmp_step, kept by its name (cmp_step_name()) */
	int retryable;
	int attempts;
	sqlite3_int64 next_attempt_at;
	unsigned char tx_id[16];
	int has_tx;
	unsigned char tx_nonce[64];
	int tx_nonce_len;
	unsigned char tx_pbm[512];
	int tx_pbm_len;
	char keystore[1024];
	char keystore_dir[FILE_SAFE_NAME_MAX]; /* its directory's name, unique in the store */
	int renew_failures;		       /* renewals failed since the last that worked */
	char cur_serial[80]; /* the current signing certificate's serial, "" none */
};

/* Loads a community by name. 1 found, 0 not, -1 error. */
int store_community_get(struct pkiroll_store *s, const char *name, struct community *c);

/* A new run row; *run gets its id. */
int store_run_begin(struct pkiroll_store *s, const char *command, const char *manifest,
		    sqlite3_int64 *run);
int store_run_end(struct pkiroll_store *s, sqlite3_int64 run, const char *status,
		  unsigned long total, unsigned long ok, unsigned long failed);

/*
 * Records a step of an enrollment (state enrolling, or renewing for a
 * renewal) before the next starts:
 * step name, and what resuming needs (transaction id, the CA's nonce and
 * PBM parameters, the keystore path). NULL/0 leave a field as it is.
 * durable: the commit is on disk when this returns (synchronous = FULL
 * for it), not only safe from a crash of the process (NORMAL): for the
 * steps a power loss must not take back (see schedule_on_step()).
 */
int store_step_save(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id, int renewing,
		    int step, const unsigned char *tid, const unsigned char *nonce,
		    size_t nonce_len, const unsigned char *pbm, size_t pbm_len,
		    const char *keystore, int durable);

/* The outcome of one enrollment. */
#define OUTCOME_CHAIN_MAX 8

/* An issued certificate as the worker sent it: DER (borrowed) and, when
 * have_info, what the worker read from it (owned; certinfo_clear()). */
struct outcome_cert {
	const unsigned char *der;
	size_t len;
	struct pkiroll_cert_info info;
	int have_info;
};

struct enroll_outcome {
	int state;	    /* enrolled, failed, needs_codes */
	const char *reason; /* NULL for success */
	int retryable;
	sqlite3_int64 next_attempt_at;
	struct outcome_cert sign, enc; /* der NULL: none */
	const char *keystore;
	int count_attempt;	/* 1: this was an attempt (not a worker lost before it began) */
	const char *code;	/* needs_codes: the refused code, kept as a salted hash */
	int subject_changed;	/* the CA issued another subject than the one asked for */
	int renew;		/* 1 a renewal that worked, 2 one that failed (backoff) */
	const char *old_serial; /* renew: the signing certificate replaced */
	/* the CA certificates above them (DER, issuer first), borrowed */
	const unsigned char *chain[OUTCOME_CHAIN_MAX];
	size_t chain_len[OUTCOME_CHAIN_MAX];
	int nchain;
	/* a warning for the operator that stays on the community (status lists
	 * it under attention) until a later proven issuance; NULL: none, and a
	 * proven issuance clears an earlier one */
	const char *attention;
	int forget_tx; /* the interrupted transaction is over: not resumed again */
};

/* Saves an outcome: certificates (superseding older ones), state, event. */
int store_result_save(struct pkiroll_store *s, sqlite3_int64 run, sqlite3_int64 id,
		      const struct enroll_outcome *o);

#endif
