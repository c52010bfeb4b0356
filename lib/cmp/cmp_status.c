/*
 * PKIStatusInfo (RFC 4210 5.2.3) and error bodies as readable text, and
 * the names of the client's faults and steps.
 */
#include <stdio.h>
#include <string.h>

#include "cmp/cmp.h"
#include "cmp/cmp_client.h"

static const char *const status_names[] = {
	"accepted",	     "grantedWithMods",	       "rejection",	   "waiting",
	"revocationWarning", "revocationNotification", "keyUpdateWarning",
};

static const char *const failinfo_names[] = {
	"badAlg",
	"badMessageCheck",
	"badRequest",
	"badTime",
	"badCertId",
	"badDataFormat",
	"wrongAuthority",
	"incorrectData",
	"missingTimeStamp",
	"badPOP",
	"certRevoked",
	"certConfirmed",
	"wrongIntegrity",
	"badRecipientNonce",
	"timeNotAvailable",
	"unacceptedPolicy",
	"unacceptedExtension",
	"addInfoNotAvailable",
	"badSenderNonce",
	"badCertTemplate",
	"signerNotTrusted",
	"transactionIdInUse",
	"unsupportedVersion",
	"notAuthorized",
	"systemUnavail",
	"systemFailure",
	"duplicateCertReq",
};

#define NFAIL ((int)(sizeof(failinfo_names) / sizeof(failinfo_names[0])))

const char *cmp_status_name(int status)
{
	if (status < 0 || status >= (int)(sizeof(status_names) / sizeof(status_names[0])))
		return "unknown status";
	return status_names[status];
}

const char *cmp_failinfo_name(int bit)
{
	return bit >= 0 && bit < NFAIL ? failinfo_names[bit] : NULL;
}

int cmp_pkisi_status(const PKR_PKISI *si)
{
	long v;

	if (si == NULL || si->status == NULL)
		return -1;
	v = ASN1_INTEGER_get(si->status);
	return v >= 0 && v <= CMP_ST_KEY_UPDATE_WARNING ? (int)v : -1;
}

unsigned long cmp_pkisi_failbits(const PKR_PKISI *si)
{
	unsigned long bits = 0;

	if (si == NULL || si->failInfo == NULL)
		return 0;
	for (int i = 0; i < NFAIL; i++)
		if (ASN1_BIT_STRING_get_bit(si->failInfo, i))
			bits |= 1UL << i;
	return bits;
}

void cmp_freetext(const STACK_OF(ASN1_STRING) * t, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (int i = 0; i < sk_ASN1_STRING_num(t) && used + 1 < len; i++) {
		const ASN1_STRING *s = sk_ASN1_STRING_value(t, i);

		if (i > 0 && used + 2 < len) {
			buf[used++] = ';';
			buf[used++] = ' ';
		}
		for (int k = 0; k < ASN1_STRING_length(s) && used + 1 < len; k++) {
			unsigned char c = ASN1_STRING_get0_data(s)[k];

			buf[used++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
		}
	}
	buf[used] = '\0';
}

void cmp_pkisi_text(const PKR_PKISI *si, char *buf, size_t len)
{
	unsigned long bits = cmp_pkisi_failbits(si);
	char text[512];
	size_t used;
	int first = 1;

	if (si == NULL) {
		snprintf(buf, len, "no status");
		return;
	}
	snprintf(buf, len, "%s", cmp_status_name(cmp_pkisi_status(si)));
	used = strlen(buf);
	for (int i = 0; i < NFAIL && used < len; i++) {
		if (!(bits & (1UL << i)))
			continue;
		snprintf(buf + used, len - used, "%s%s", first ? " (" : ", ", failinfo_names[i]);
		used = strlen(buf);
		first = 0;
	}
	if (!first && used < len) {
		snprintf(buf + used, len - used, ")");
		used = strlen(buf);
	}
	cmp_freetext(si->statusString, text, sizeof(text));
	if (text[0] != '\0' && used < len)
		snprintf(buf + used, len - used, ": %s", text);
}

PKR_PKISI *cmp_pkisi_new(int status, unsigned long failbits, const char *text)
{
	PKR_PKISI *si = PKR_PKISI_new();
	ASN1_UTF8STRING *s = NULL;

	if (si == NULL || !ASN1_INTEGER_set(si->status, status))
		goto fail;
	if (failbits != 0) {
		if ((si->failInfo = ASN1_BIT_STRING_new()) == NULL)
			goto fail;
		for (int i = 0; i < NFAIL; i++)
			if ((failbits & (1UL << i)) && !ASN1_BIT_STRING_set_bit(si->failInfo, i, 1))
				goto fail;
	}
	if (text != NULL) {
		if ((si->statusString = sk_ASN1_STRING_new_null()) == NULL ||
		    (s = ASN1_UTF8STRING_new()) == NULL || !ASN1_STRING_set(s, text, -1) ||
		    !sk_ASN1_STRING_push(si->statusString, s))
			goto fail;
	}
	return si;
fail:
	ASN1_UTF8STRING_free(s);
	PKR_PKISI_free(si);
	return NULL;
}

void cmp_error_text(const PKR_ERRMSG *e, char *buf, size_t len)
{
	char details[512];
	size_t used;

	cmp_pkisi_text(e->pKIStatusInfo, buf, len);
	used = strlen(buf);
	if (e->errorCode != NULL && used < len) {
		snprintf(buf + used, len - used, "; errorCode %ld", ASN1_INTEGER_get(e->errorCode));
		used = strlen(buf);
	}
	cmp_freetext(e->errorDetails, details, sizeof(details));
	if (details[0] != '\0' && used < len)
		snprintf(buf + used, len - used, "; details: %s", details);
}

/* ---- the client's faults and steps (cmp_client.h) ---- */

static const char *const fault_names[CMP_F__MAX] = {
	"ok",
	"transient",
	"rejected",
	"bad MAC",
	"protocol error",
	"still waiting",
	"configuration",
	"key mismatch",
	"internal error",
	"rate limited",
	"unverified reply with certificates",
	"confirmation unproven",
};

const char *cmp_fault_name(int fault)
{
	return fault >= 0 && fault < CMP_F__MAX ? fault_names[fault] : "unknown";
}

static const char *const step_names[CMP_STEP__MAX] = {
	"", "request", "response", "keys", "confirm", "confirmed",
};

const char *cmp_step_name(int step)
{
	return step >= 0 && step < CMP_STEP__MAX ? step_names[step] : "unknown";
}

int cmp_step_from_name(const char *name)
{
	for (int i = 0; i < CMP_STEP__MAX; i++)
		if (strcmp(step_names[i], name != NULL ? name : "") == 0)
			return i;
	return -1;
}
