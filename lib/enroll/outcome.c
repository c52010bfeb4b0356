/*
 * The outcome policy: what a job's result means for its community. Which
 * faults are retried in the run (transient), which need new codes, which
 * fail for good.
 */
#include <stdio.h>

#include "cmp/cmp_client.h"
#include "enroll/run.h"

#define CODE_BITS                                                                                  \
	((1UL << OSSL_CMP_PKIFAILUREINFO_notAuthorized) |                                          \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_badMessageCheck) |                                        \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_signerNotTrusted) |                                       \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_badRequest))

void outcome_of(const struct result *res, struct enroll_outcome *o, char *text, size_t textlen,
		int *transient)
{
	*transient = 0;
	o->keystore = res->kspath[0] ? res->kspath : NULL;
	switch (res->fault) {
	case CMP_OK:
		o->state = PKIROLL_STATE_ENROLLED;
		o->sign = res->sign;
		o->enc = res->enc;
		break;
	case CMP_F_TRANSIENT:
	case CMP_F_WAITING:
		o->state = PKIROLL_STATE_FAILED;
		o->retryable = 1;
		*transient = 1;
		snprintf(text, textlen, "%s: %s", cmp_fault_name(res->fault), res->reason);
		break;
	case CMP_F_BADMAC:
		o->state = PKIROLL_STATE_NEEDS_CODES;
		snprintf(
			text, textlen,
			"the CA did not accept the authorization code (MAC): new codes are needed; "
			"not retried, as retries can lock the CA user (%s)",
			res->reason);
		break;
	case CMP_F_REJECTED:
		if (res->failbits & CODE_BITS) {
			o->state = PKIROLL_STATE_NEEDS_CODES;
			snprintf(text, textlen,
				 "the CA refused the activation codes (used already, unknown or "
				 "wrong): "
				 "new codes are needed (%s)",
				 res->reason);
		} else {
			o->state = PKIROLL_STATE_FAILED;
			snprintf(text, textlen, "rejected by the CA, not retried: %s", res->reason);
		}
		break;
	case JOB_F_KEYSTORE:
		/* a local fault: the next run may succeed once the disk is fixed */
		o->state = PKIROLL_STATE_FAILED;
		o->retryable = 1;
		snprintf(text, textlen, "keystore not written: %s", res->reason);
		break;
	case CMP_F_CONFIG:
	case CMP_F_PROTOCOL:
	case CMP_F_INTERNAL:
		o->state = PKIROLL_STATE_FAILED;
		o->retryable = 1;
		*transient = res->fault != CMP_F_INTERNAL;
		snprintf(text, textlen, "%s: %s", cmp_fault_name(res->fault), res->reason);
		break;
	default:
		o->state = PKIROLL_STATE_FAILED;
		snprintf(text, textlen, "%s: %s", cmp_fault_name(res->fault), res->reason);
	}
	if (o->state != PKIROLL_STATE_ENROLLED)
		o->reason = text;
}
