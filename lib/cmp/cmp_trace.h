/*
 * Protocol debugging: every CMP message a client transaction sends or
 * receives, as a DER file in a dump directory and as one trace line
 * through the context's log (PKIROLL_LOG_TRACE). The client calls
 * cmp_trace_message() from its exchange; everything else is here.
 */
#ifndef PKIROLL_CMP_TRACE_H
#define PKIROLL_CMP_TRACE_H

#include "cmp/cmp.h"

struct cmp_trace;

/*
 * A trace for one community's transactions, in one process: dump_dir
 * (NULL: no files; cmp_trace_dir_make() made it), label (the community:
 * the file names use its file-safe form), lines (1: a trace line per
 * message). Dump failures are warned about once, through ctx. The caller
 * frees it; NULL when out of memory.
 */
struct cmp_trace *cmp_trace_new(pkiroll_ctx *ctx, const char *dump_dir, const char *label,
				int lines);
void cmp_trace_free(struct cmp_trace *t);

/*
 * One message of transaction tid, sent (reply 0) or received (reply 1):
 * der as on the wire, m decoded (NULL: a reply that does not decode).
 * Writes LABEL.TIME.TID.SEQ.BODY.request|reply.der (0600, atomically)
 * and logs a trace line. t NULL: nothing.
 */
void cmp_trace_message(struct cmp_trace *t, const unsigned char *tid, int reply,
		       const unsigned char *der, size_t len, const PKR_MSG *m);

/* The last reply the trace saw (for pkiroll ping): its DER (NULL none,
 * owned by t) and the milliseconds since its request went out. */
const unsigned char *cmp_trace_last_reply(const struct cmp_trace *t, size_t *len,
					  long long *rtt_ms);

/* Makes the dump directory (0700) if it is missing. 0, or -1 with err. */
int cmp_trace_dir_make(const char *dir, char *err, size_t errlen);

/* The name of an InfoTypeAndValue's infoType: "caCerts" for the id-it
 * arc (1.3.6.1.5.5.7.4.N), else OpenSSL's, else the dotted OID. */
void cmp_infotype_name(const ASN1_OBJECT *o, char *buf, size_t len);

/* "PBM", "signature" or "none": how a message is protected. */
const char *cmp_protection_name(const PKR_MSG *m);

#endif
