/*
 * The outcome policy: what a job's result means for its community. Which
 * faults are retried in the run (transient), which need new codes, which
 * fail for good.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmp/cmp_client.h"
#include "enroll/run.h"

#define CODE_BITS                                                                                  \
	((1UL << OSSL_CMP_PKIFAILUREINFO_notAuthorized) |                                          \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_badMessageCheck) |                                        \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_signerNotTrusted) |                                       \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_badRequest))

void outcome_enroll(const struct result *res, struct enroll_outcome *o, char *text, size_t textlen,
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
	case CMP_F_UNCONFIRMED:
		/* the rule: recorded with its certificates, never a second ir */
		o->state = PKIROLL_STATE_ENROLLED;
		o->sign = res->sign;
		o->enc = res->enc;
		snprintf(text, textlen,
			 "warning: confirmation not proven: %s; check at the CA that these "
			 "certificates are confirmed",
			 res->reason);
		o->attention = text;
		break;
	case CMP_F_UNVERIFIED:
		/* counted as issued: the codes may be spent, so never sent again */
		o->state = PKIROLL_STATE_FAILED;
		snprintf(text, textlen,
			 "%s; no certConf was sent and no new request goes out; its key is kept in "
			 "%s (fix the trust anchor or ask the CA, then pkiroll enroll "
			 "--retry-failed)",
			 res->reason, res->kept[0] ? res->kept : "(nothing)");
		o->attention = text;
		break;
	case JOB_F_UNANSWERED:
		/* the codes may be spent for good: never sent again on our own */
		o->state = PKIROLL_STATE_FAILED;
		o->forget_tx = 1;
		snprintf(text, textlen,
			 "%s; the CA may have issued and confirmed (implicitConfirm) with these "
			 "codes, so no second ir is sent on our own: ask the CA whether it issued "
			 "for this reference number, then pkiroll enroll --retry-failed if it did "
			 "not",
			 res->reason);
		o->attention = text;
		break;
	case CMP_F_RATELIMIT:
		o->state = PKIROLL_STATE_FAILED;
		o->retryable = 1;
		*transient = 1;
		if (res->retry_after >= 0)
			o->next_attempt_at = (sqlite3_int64)time(NULL) + res->retry_after;
		snprintf(text, textlen, "rate limited before the CA (no code spent): %s",
			 res->reason);
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
		if (res->confirm == CMP_CONFIRM_REFUSED) {
			/* the CA refused the certificates (rolled back, or not waiting for
			 * this certConf), not the codes: a later run asks again */
			o->state = PKIROLL_STATE_FAILED;
			o->retryable = 1;
			o->forget_tx = 1;
			snprintf(text, textlen,
				 "the CA refused the certConf, so these certificates are not "
				 "valid; the codes were not refused, and a later run enrolls "
				 "again (%s)",
				 res->reason);
		} else if (res->failbits & CODE_BITS) {
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

/* A CA that will not renew with this certificate: only new codes help. */
#define KUR_REFUSED_BITS                                                                           \
	((1UL << OSSL_CMP_PKIFAILUREINFO_certRevoked) | (1UL << OSSL_CMP_PKIFAILUREINFO_badTime) | \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_notAuthorized) |                                          \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_signerNotTrusted) |                                       \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_wrongIntegrity) |                                         \
	 (1UL << OSSL_CMP_PKIFAILUREINFO_badCertId))

#define NEW_CODES_HINT                                                                             \
	"; put a new reference number and authorization code for it in the manifest and run "      \
	"pkiroll enroll (or renew) with it"

void outcome_renew(const struct result *res, int renew_failures, struct enroll_outcome *o,
		   char *text, size_t textlen, int *transient)
{
	int shift = renew_failures < 4 ? renew_failures : 4;

	*transient = 0;
	o->keystore = res->kspath[0] ? res->kspath : NULL;
	o->old_serial = res->old_serial;
	o->count_attempt = 0;
	if (res->fault == CMP_OK) {
		o->state = PKIROLL_STATE_ENROLLED;
		o->renew = 1;
		o->sign = res->sign;
		o->enc = res->enc;
		return;
	}
	if (res->fault == CMP_F_UNCONFIRMED) {
		o->state = PKIROLL_STATE_ENROLLED;
		o->renew = 1;
		o->sign = res->sign;
		o->enc = res->enc;
		snprintf(text, textlen,
			 "warning: renewal confirmation not proven: %s; check at the CA that the "
			 "new certificates are confirmed",
			 res->reason);
		o->attention = text;
		return;
	}
	o->renew = 2;
	o->retryable = 1;
	/* the next runs retry: 1, 2, 4, 8, then 16 hours later (a nightly run
	 * always retries); the renew-after date itself never moves */
	o->next_attempt_at = (sqlite3_int64)time(NULL) + 3600LL * (1LL << shift);
	if (res->fault == JOB_F_EXPIRED || res->fault == JOB_F_REENROLL ||
	    (res->fault == CMP_F_REJECTED && (res->failbits & KUR_REFUSED_BITS))) {
		o->state = PKIROLL_STATE_NEEDS_CODES;
		o->retryable = 0;
		o->next_attempt_at = 0;
		snprintf(text, textlen, "%s%s%s",
			 res->fault == CMP_F_REJECTED ? "the CA refused to renew with the current "
							"certificate: "
						      : "",
			 res->reason, NEW_CODES_HINT);
	} else {
		*transient = res->fault == CMP_F_TRANSIENT || res->fault == CMP_F_WAITING ||
			     res->fault == CMP_F_RATELIMIT;
		if (res->fault == CMP_F_RATELIMIT && res->retry_after >= 0)
			o->next_attempt_at = (sqlite3_int64)time(NULL) + res->retry_after;
		/* a certConf that may have arrived, or a confirmed renewal whose
		 * keystore waits: the next run settles it (only a verified refusal
		 * of the certConf ends the transaction) */
		o->state = (res->step >= CMP_STEP_KEYS && res->confirm != CMP_CONFIRM_REFUSED) ||
					   res->fault == JOB_F_COMMIT
				   ? PKIROLL_STATE_RENEWING
				   : PKIROLL_STATE_ENROLLED;
		snprintf(
			text, textlen,
			"renewal failed (%s: %s); the current certificates stay in use and a later "
			"run retries",
			res->fault >= JOB_F_KEYSTORE ? "local" : cmp_fault_name(res->fault),
			res->reason);
		if (res->fault == JOB_F_FOREIGN) {
			/* nothing sent; a person must put the right keystore back */
			o->retryable = 0;
			o->next_attempt_at = 0;
			o->attention = text;
		}
		if (res->fault == CMP_F_UNVERIFIED) {
			size_t l = strlen(text);

			snprintf(text + l, textlen - l, "; the new key is kept in %s",
				 res->kept[0] ? res->kept : "(nothing)");
			o->attention = text;
		}
	}
	o->reason = text;
}

void outcome_revoke(const struct result *res, int reason, struct enroll_outcome *o, char *text,
		    size_t textlen, int *transient)
{
	const char *rn = pkiroll_revocation_reason_name(reason);

	*transient = 0;
	o->count_attempt = 0;
	o->reason = text;
	if (res->fault == CMP_OK ||
	    (res->fault == CMP_F_REJECTED &&
	     (res->failbits & (1UL << OSSL_CMP_PKIFAILUREINFO_certRevoked)))) {
		/* revoked now, or before (the CA refuses a revoked signer) */
		o->state = PKIROLL_STATE_NEEDS_CODES;
		snprintf(text, textlen, "%s, %s", rn ? rn : "?",
			 res->fault == CMP_OK ? "revoked by the CA" : "already revoked at the CA");
		return;
	}
	o->state = PKIROLL_STATE_FAILED;
	if (res->fault == CMP_F_REJECTED || res->fault == CMP_F_BADMAC) {
		snprintf(text, textlen, "the CA refused: %s", res->reason);
		return;
	}
	o->retryable = 1;
	*transient = res->fault == CMP_F_TRANSIENT || res->fault == CMP_F_WAITING;
	snprintf(text, textlen, "%s: %s",
		 res->fault >= JOB_F_KEYSTORE ? "local" : cmp_fault_name(res->fault), res->reason);
}

const char *outcome_operation(int kind)
{
	return kind == JOB_RENEW ? "kur" : kind == JOB_REVOKE ? "rr" : "ir";
}

const char *outcome_request_result(int fault)
{
	switch (fault) {
	case CMP_OK:
	case CMP_F_UNCONFIRMED:
		return "accepted";
	case CMP_F_REJECTED:
	case CMP_F_BADMAC:
		return "rejected";
	case CMP_F_TRANSIENT:
	case CMP_F_RATELIMIT:
	case CMP_F_WAITING:
	case CMP_F_CONFIG:
	case JOB_F_UNANSWERED:
		return "transport_error";
	case CMP_F_PROTOCOL:
	case CMP_F_UNVERIFIED:
	case CMP_F_KEY:
		return "protocol_error";
	default:
		return "local_error";
	}
}
