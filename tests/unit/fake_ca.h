/*
 * A small in-test CMP responder over the TCP framing: it answers our
 * client's ir/certConf/pollReq correctly, or with one chosen fault, so each
 * bad-reply check of the client can be exercised.
 */
#ifndef PKIROLL_FAKE_CA_H
#define PKIROLL_FAKE_CA_H

enum fake_mode {
	FAKE_OK = 0,
	FAKE_TRUNCATED,
	FAKE_OVERSIZED,
	FAKE_WRONG_TAG,
	FAKE_WRONG_BODY,
	FAKE_WRONG_TID,
	FAKE_WRONG_NONCE,
	FAKE_UNPROTECTED,
	FAKE_ALTERED,
	FAKE_WRONG_MAC,
	FAKE_COUNT,
	FAKE_ENCVAL_GARBAGE,
	FAKE_KEY_MISMATCH,
	FAKE_SIGN_KEY_MISMATCH,
	FAKE_UNPROTECTED_ERROR,
	FAKE_WAITING, /* waiting once, then the certificates */
	FAKE_V0_ONLY, /* speaks only the RFC 2510 framing */
};

struct fake_ca {
	int pid;
	int port;
	char url[64];
};

/* When set before fake_ca_start(), every request and reply is saved there
 * as req-N.der / rep-N.der. */
extern const char *fake_ca_dump_dir;

/* Starts the responder in a child process with this secret and mode. */
int fake_ca_start(struct fake_ca *f, const char *secret, int mode);
void fake_ca_stop(struct fake_ca *f);

#endif
