/*
 * The fields of the JOB, STEP and RESULT frames of an enrollment.
 * Written by enroll.c and enroll_worker.c; each writer is matched by the
 * reader on the other side.
 */
#ifndef PKIROLL_JOB_H
#define PKIROLL_JOB_H

#include "enroll/wire.h"

enum job_tag {
	/* JOB (parent -> worker) */
	J_ID = 1,
	J_NAME,
	J_REF,
	J_CODE,
	J_SUBJECT,
	J_KEYTYPE,
	J_ENCKEYTYPE,
	J_DUAL,
	J_URL,
	J_TLSCA,
	J_FRAMING,
	J_OWF,
	J_MAC,
	J_ITER,
	J_SALT,
	J_IMPLICIT,
	J_CONNTO,
	J_READTO,
	J_POLLDL,
	J_RECIPIENT,
	J_KSDIR,
	J_PASS,
	J_LEGACY,
	J_RESUME,
	J_TID,
	J_NONCE,
	J_PBM,
	J_KSPATH,
	J_KSNAME, /* the community's keystore directory name, as the store recorded it */
	/* STEP and RESULT (worker -> parent) */
	R_STEP = 64,
	R_TID,
	R_NONCE,
	R_PBM,
	R_KSPATH,
	R_FAULT,
	R_REASON,
	R_SIGNCERT,
	R_ENCCERT,
	R_FAILBITS,
	R_SUBJCHANGED,
	R_CHAIN, /* R_CHAIN: one per CA certificate */
	R_SIGNINFO,
	R_ENCINFO, /* what the worker read from each certificate (CI_* fields) */
};

/* Fields of R_SIGNINFO/R_ENCINFO: the parent records them without parsing
 * the certificate again (in OpenSSL 3.0 a parse costs a key decoder). */
enum certinfo_tag { CI_SERIAL = 1, CI_ISSUER, CI_SUBJECT, CI_NOTBEFORE, CI_NOTAFTER, CI_KEYTYPE };

/* R_FAULT is a CMP fault (enum cmp_fault), or one of the job's own that
 * happen outside the CMP transaction. */
enum job_fault {
	JOB_F_KEYSTORE = 100, /* the keystore could not be written: certificates rejected */
};

/* Steps as the store names them; a worker reports each before going on. */
enum job_step { STEP_NONE = 0, STEP_REQUEST, STEP_RESPONSE, STEP_KEYS, STEP_CONFIRM, STEP__MAX };

const char *job_step_name(int step);

/* The worker's main loop (pool_worker_fn). */
void enroll_worker_main(int fd, void *arg);

#endif
