/*
 * pkiroll-ca's CMP logic: one request in, one reply (or a transport fault
 * to act out) back. Transport-neutral: listen.c carries the bytes.
 */
#ifndef PKIROLL_CA_HANDLER_H
#define PKIROLL_CA_HANDLER_H

#include <stddef.h>

#include "castate.h"

/* Fault injection, from serve --fault or a user's faults. */
struct faults {
	int delay_ms;	/* before processing */
	int waiting;	/* answer "waiting", then K pollRep before the certificates */
	int drop;	/* read the request, then reset the connection */
	int close_conn; /* read the request, then close without a reply */
	int http500;	/* HTTP 500 (TCP: errorMsgRep) */
	int garbage;	/* random bytes instead of a PKIMessage */
	int wrongmac;	/* protect the reply with a wrong secret */
	int reject_bit; /* reject with this failInfo bit, -1: no */
	int consumed;	/* act as if the codes were used already */
	int slow_ms;	/* after processing, before the reply */
	/* what real CAs do (Nokia NCM / Insta, EJBCA) */
	int responder;	/* signed replies come from a CMP responder certificate,
			 * not the CA's; its pkiConf is bare (no extraCerts, no senderKID) */
	int signpbm;	/* replies to MAC-protected requests are signed */
	int signerrors; /* errors are signed, even the answer to a failed MAC */
	int lostconf;	/* a certConf is confirmed, and its answer lost (connection reset) */
	int reconf_bit; /* a second certConf of a confirmed transaction gets this
			 * failInfo (default certConfirmed), -1: default */
	int badconf;	/* the pkiConf only: a protection that does not verify */
	int flipconf;	/* the pkiConf only: one byte flipped in transit */
	int ejbca;	/* a used code is refused as EJBCA does: badRequest, "Got
			 * request with status GENERATED (40) ..." */
	/* HTTP only (the TCP framings have no status or headers): */
	char ctype[96]; /* the reply's Content-Type instead of application/pkixcmp */
	int chunked;	/* the reply in chunked transfer encoding */
	/* HTTP, server-wide (serve --fault; ignored in a user's faults): a
	 * limiter in front of the CA, see ratelimit_pass() in listen.c */
	int rl_n;	 /* requests per window; -1 no limiter */
	int rl_secs;	 /* the window, seconds */
	int rl_status;	 /* a refused request's status: 503 or 429 */
	int retry_after; /* its Retry-After in seconds, -1 none */
	int retry_date;	 /* that Retry-After as an HTTP-date */
};

/* No faults: what faults_parse() adds to. */
#define FAULTS_NONE                                                                                \
	{                                                                                          \
		.reject_bit = -1, .reconf_bit = -1, .rl_n = -1, .retry_after = -1                  \
	}

/* Parses "delay=200,waiting=2,drop,reject=badPOP,..." into f (adding). */
int faults_parse(const char *spec, struct faults *f, char *err, size_t errlen);

/* Adds the faults of src (a user's) to dst (the server's). */
void faults_add(struct faults *dst, const struct faults *src);

struct ca_cfg {
	const char *dir;
	struct ca_keys keys;
	EVP_PKEY *resp_key; /* the CMP responder (fault responder), made at start */
	X509 *resp_cert;
	long validity;	      /* seconds */
	int allow_implicit;   /* grant implicitConfirm when asked */
	int confirm_timeout;  /* seconds until an unconfirmed issuance is rolled back */
	int check_after;      /* pollRep checkAfter */
	int enc_cipher_nid;   /* EncryptedValue symmetric cipher */
	int oaep;	      /* RSAES-OAEP key transport instead of PKCS#1 v1.5 */
	int log_time;	      /* log lines start with the epoch time in ms */
	struct faults faults; /* for every user */
};

enum ca_action { CA_REPLY = 0, CA_DROP, CA_CLOSE, CA_HTTP500, CA_GARBAGE };

struct ca_reply {
	int action;
	unsigned char *der; /* OPENSSL_malloc'd */
	size_t len;
	int slow_ms;
	char ctype[96]; /* HTTP: Content-Type of the reply, "" application/pkixcmp */
	int chunked;	/* HTTP: chunked transfer encoding */
};

/* Writes one log line on stderr (prefixed with the epoch time in ms
 * when cfg->log_time). */
void ca_log(const struct ca_cfg *cfg, const char *line);

/* Processes one request; via ("http", "tcp") is for the log line. */
void ca_handle(const struct ca_cfg *cfg, const char *via, const unsigned char *req, size_t len,
	       struct ca_reply *out);

#endif
