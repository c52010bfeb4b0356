/*
 * The parent-worker codec (job.h): each writer with its reader.
 */
#include <string.h>

#include "cmp/cmp_client.h"
#include "x509/certinfo.h"
#include "enroll/job.h"

/* Field tags. Unknown tags are refused: both sides are one binary. */
enum job_tag {
	/* JOB */
	J_ID = 1,
	J_KIND,
	J_PROFILE,
	J_NAME,
	J_REF,
	J_CODE,
	J_SUBJECT,
	J_KSNAME,
	J_KEYTYPE,
	J_ENCKEYTYPE,
	J_DUAL,
	J_RESUME,
	J_TID,
	J_NONCE,
	J_PBM,
	J_KSPATH,
	J_STEP,
	J_CURSERIAL,
	J_REVSIGN,
	J_REVENC,
	J_REVREASON,
	/* STEP */
	S_STEP = 32,
	S_TID,
	S_NONCE,
	S_PBM,
	S_KSPATH,
	/* RESULT */
	R_FAULT = 64,
	R_REASON,
	R_FAILBITS,
	R_STEP,
	R_SUBJCHANGED,
	R_SIGNCERT,
	R_ENCCERT,
	R_SIGNINFO,
	R_ENCINFO,
	R_CHAIN,
	R_KSPATH,
	R_OLDSERIAL,
	R_CONFIRM,
	R_RETRYAFTER,
	R_KEPT,
	/* ACK */
	A_WAIT = 90,
	/* certificate info, inside R_SIGNINFO / R_ENCINFO */
	CI_SERIAL = 96,
	CI_ISSUER,
	CI_SUBJECT,
	CI_NOTBEFORE,
	CI_NOTAFTER,
	CI_KEYTYPE,
};

static int blob_copy(const unsigned char *v, size_t n, unsigned char *out, size_t cap, size_t *len)
{
	if (n > cap)
		return -1;
	memcpy(out, v, n);
	if (len != NULL)
		*len = n;
	return 0;
}

/* Matched by job_read(). */
void job_write(struct wbuf *b, const struct job *j)
{
	wbuf_int(b, J_ID, j->id);
	wbuf_int(b, J_KIND, j->kind);
	wbuf_int(b, J_PROFILE, j->profile);
	wbuf_str(b, J_NAME, j->name);
	wbuf_str(b, J_REF, j->ref);
	wbuf_str(b, J_CODE, j->code);
	wbuf_str(b, J_SUBJECT, j->subject);
	wbuf_str(b, J_KSNAME, j->ksname);
	wbuf_int(b, J_KEYTYPE, j->key_type);
	wbuf_int(b, J_ENCKEYTYPE, j->enc_key_type);
	wbuf_int(b, J_DUAL, j->dual);
	if (j->cur_serial[0] != '\0')
		wbuf_str(b, J_CURSERIAL, j->cur_serial);
	if (j->kind == JOB_REVOKE) {
		wbuf_str(b, J_REVSIGN, j->revoke_sign);
		wbuf_str(b, J_REVENC, j->revoke_enc);
		wbuf_int(b, J_REVREASON, j->revoke_reason);
	}
	if (j->has_tx) {
		wbuf_int(b, J_RESUME, 1);
		wbuf_blob(b, J_TID, j->tid, sizeof(j->tid));
		wbuf_blob(b, J_NONCE, j->nonce, j->nonce_len);
		if (j->pbm_len > 0)
			wbuf_blob(b, J_PBM, j->pbm, j->pbm_len);
		wbuf_str(b, J_KSPATH, j->kspath);
		wbuf_int(b, J_STEP, j->step);
	}
}

/* Matched by job_write(). */
int job_read(struct wbuf *b, struct job *j)
{
	const unsigned char *v;
	size_t n;
	int tag, r, bad = 0;

	memset(j, 0, sizeof(*j));
	while ((r = wbuf_next(b, &tag, &v, &n)) > 0) {
		switch (tag) {
		case J_ID:
			j->id = wire_int(v, n);
			break;
		case J_KIND:
			j->kind = (int)wire_int(v, n);
			break;
		case J_PROFILE:
			j->profile = (int)wire_int(v, n);
			break;
		case J_NAME:
			wire_str(v, n, j->name, sizeof(j->name));
			break;
		case J_REF:
			wire_str(v, n, j->ref, sizeof(j->ref));
			break;
		case J_CODE:
			wire_str(v, n, j->code, sizeof(j->code));
			break;
		case J_SUBJECT:
			wire_str(v, n, j->subject, sizeof(j->subject));
			break;
		case J_KSNAME:
			wire_str(v, n, j->ksname, sizeof(j->ksname));
			break;
		case J_KEYTYPE:
			j->key_type = (int)wire_int(v, n);
			break;
		case J_ENCKEYTYPE:
			j->enc_key_type = (int)wire_int(v, n);
			break;
		case J_DUAL:
			j->dual = (int)wire_int(v, n);
			break;
		case J_RESUME:
			j->has_tx = (int)wire_int(v, n);
			break;
		case J_TID:
			bad |= n != sizeof(j->tid) || blob_copy(v, n, j->tid, 16, NULL);
			break;
		case J_NONCE:
			bad |= blob_copy(v, n, j->nonce, sizeof(j->nonce), &j->nonce_len);
			break;
		case J_PBM:
			bad |= blob_copy(v, n, j->pbm, sizeof(j->pbm), &j->pbm_len);
			break;
		case J_KSPATH:
			wire_str(v, n, j->kspath, sizeof(j->kspath));
			break;
		case J_STEP:
			j->step = (int)wire_int(v, n);
			break;
		case J_CURSERIAL:
			wire_str(v, n, j->cur_serial, sizeof(j->cur_serial));
			break;
		case J_REVSIGN:
			wire_str(v, n, j->revoke_sign, sizeof(j->revoke_sign));
			break;
		case J_REVENC:
			wire_str(v, n, j->revoke_enc, sizeof(j->revoke_enc));
			break;
		case J_REVREASON:
			j->revoke_reason = (int)wire_int(v, n);
			break;
		default:
			return -1;
		}
	}
	return r < 0 || bad || j->kind <= JOB_NONE || j->kind >= JOB__MAX ? -1 : 0;
}

/* Matched by job_step_read(). */
void job_step_write(struct wbuf *b, const struct step *s)
{
	wbuf_int(b, S_STEP, s->step);
	if (s->tid != NULL)
		wbuf_blob(b, S_TID, s->tid, 16);
	if (s->nonce != NULL)
		wbuf_blob(b, S_NONCE, s->nonce, s->nonce_len);
	if (s->pbm != NULL)
		wbuf_blob(b, S_PBM, s->pbm, s->pbm_len);
	if (s->kspath[0] != '\0')
		wbuf_str(b, S_KSPATH, s->kspath);
}

/* Matched by job_step_write(). */
int job_step_read(struct wbuf *b, struct step *s)
{
	const unsigned char *v;
	size_t n;
	int tag, r;

	memset(s, 0, sizeof(*s));
	while ((r = wbuf_next(b, &tag, &v, &n)) > 0) {
		switch (tag) {
		case S_STEP:
			s->step = (int)wire_int(v, n);
			break;
		case S_TID:
			if (n != 16)
				return -1;
			s->tid = v;
			break;
		case S_NONCE:
			s->nonce = v, s->nonce_len = n;
			break;
		case S_PBM:
			s->pbm = v, s->pbm_len = n;
			break;
		case S_KSPATH:
			wire_str(v, n, s->kspath, sizeof(s->kspath));
			break;
		default:
			return -1;
		}
	}
	return r < 0 || s->step <= CMP_STEP_NONE || s->step >= CMP_STEP__MAX ? -1 : 0;
}

/* A certificate's facts, nested. Matched by cert_info_read(). */
static void cert_info_write(struct wbuf *b, int tag, const struct pkiroll_cert_info *info)
{
	struct wbuf in = {0};

	wbuf_str(&in, CI_SERIAL, info->serial);
	wbuf_str(&in, CI_ISSUER, info->issuer);
	wbuf_str(&in, CI_SUBJECT, info->subject);
	wbuf_int(&in, CI_NOTBEFORE, (long long)info->not_before);
	wbuf_int(&in, CI_NOTAFTER, (long long)info->not_after);
	wbuf_str(&in, CI_KEYTYPE, info->key_type);
	if (wbuf_ok(&in))
		wbuf_blob(b, tag, in.p, in.len);
	wbuf_free(&in);
}

/* Matched by cert_info_write(). 0, or -1 (info cleared) when a field is missing. */
static int cert_info_read(const unsigned char *v, size_t n, struct pkiroll_cert_info *info)
{
	struct wbuf in = {.p = (unsigned char *)v, .len = n, .cap = n};
	const unsigned char *f;
	char buf[2048];
	size_t fl;
	int tag, g, times = 0;

	memset(info, 0, sizeof(*info));
	while ((g = wbuf_next(&in, &tag, &f, &fl)) > 0) {
		char **dst = tag == CI_SERIAL	 ? &info->serial
			     : tag == CI_ISSUER	 ? &info->issuer
			     : tag == CI_SUBJECT ? &info->subject
						 : NULL;

		if (dst != NULL && *dst == NULL) {
			wire_str(f, fl, buf, sizeof(buf));
			*dst = base_strdup(buf);
		} else if (tag == CI_NOTBEFORE) {
			info->not_before = (time_t)wire_int(f, fl);
			times |= 1;
		} else if (tag == CI_NOTAFTER) {
			info->not_after = (time_t)wire_int(f, fl);
			times |= 2;
		} else if (tag == CI_KEYTYPE) {
			wire_str(f, fl, info->key_type, sizeof(info->key_type));
		}
	}
	if (g < 0 || info->serial == NULL || info->issuer == NULL || info->subject == NULL ||
	    times != 3) {
		certinfo_clear(info);
		return -1;
	}
	return 0;
}

/* Matched by job_ack_read(). */
void job_ack_write(struct wbuf *b, long long wait_ms)
{
	wbuf_int(b, A_WAIT, wait_ms);
}

/* Matched by job_ack_write(). */
long long job_ack_read(struct wbuf *b)
{
	const unsigned char *v;
	size_t n;
	int tag;
	long long wait = 0;

	while (wbuf_next(b, &tag, &v, &n) > 0)
		if (tag == A_WAIT)
			wait = wire_int(v, n);
	return wait < 0 ? 0 : wait > 86400000LL ? 86400000LL : wait;
}

/* Matched by job_result_read(). */
void job_result_write(struct wbuf *b, const struct result *r)
{
	wbuf_int(b, R_FAULT, r->fault);
	if (r->reason[0] != '\0')
		wbuf_str(b, R_REASON, r->reason);
	wbuf_int(b, R_FAILBITS, (long long)r->failbits);
	wbuf_int(b, R_STEP, r->step);
	wbuf_int(b, R_SUBJCHANGED, r->subject_changed);
	if (r->sign.der != NULL) {
		wbuf_blob(b, R_SIGNCERT, r->sign.der, r->sign.len);
		if (r->sign.have_info)
			cert_info_write(b, R_SIGNINFO, &r->sign.info);
	}
	if (r->enc.der != NULL) {
		wbuf_blob(b, R_ENCCERT, r->enc.der, r->enc.len);
		if (r->enc.have_info)
			cert_info_write(b, R_ENCINFO, &r->enc.info);
	}
	for (int i = 0; i < r->nchain; i++)
		wbuf_blob(b, R_CHAIN, r->chain[i], r->chain_len[i]);
	if (r->kspath[0] != '\0')
		wbuf_str(b, R_KSPATH, r->kspath);
	if (r->old_serial[0])
		wbuf_str(b, R_OLDSERIAL, r->old_serial);
	wbuf_int(b, R_CONFIRM, r->confirm);
	wbuf_int(b, R_RETRYAFTER, r->retry_after);
	if (r->kept[0] != '\0')
		wbuf_str(b, R_KEPT, r->kept);
}

/* Matched by job_result_write(). */
int job_result_read(struct wbuf *b, struct result *r)
{
	const unsigned char *v;
	size_t n;
	int tag, g;

	memset(r, 0, sizeof(*r));
	r->fault = -1;
	r->retry_after = -1;
	while ((g = wbuf_next(b, &tag, &v, &n)) > 0) {
		switch (tag) {
		case R_FAULT:
			r->fault = (int)wire_int(v, n);
			break;
		case R_REASON:
			wire_str(v, n, r->reason, sizeof(r->reason));
			break;
		case R_FAILBITS:
			r->failbits = (unsigned long)wire_int(v, n);
			break;
		case R_STEP:
			r->step = (int)wire_int(v, n);
			break;
		case R_SUBJCHANGED:
			r->subject_changed = wire_int(v, n) != 0;
			break;
		case R_SIGNCERT:
			r->sign.der = v, r->sign.len = n;
			break;
		case R_ENCCERT:
			r->enc.der = v, r->enc.len = n;
			break;
		case R_SIGNINFO:
			if (!r->sign.have_info)
				r->sign.have_info = cert_info_read(v, n, &r->sign.info) == 0;
			break;
		case R_ENCINFO:
			if (!r->enc.have_info)
				r->enc.have_info = cert_info_read(v, n, &r->enc.info) == 0;
			break;
		case R_CHAIN:
			if (r->nchain < RESULT_CHAIN_MAX && n > 0) {
				r->chain[r->nchain] = v;
				r->chain_len[r->nchain++] = n;
			}
			break;
		case R_KSPATH:
			wire_str(v, n, r->kspath, sizeof(r->kspath));
			break;
		case R_OLDSERIAL:
			wire_str(v, n, r->old_serial, sizeof(r->old_serial));
			break;
		case R_CONFIRM:
			r->confirm = (int)wire_int(v, n);
			break;
		case R_RETRYAFTER:
			r->retry_after = (int)wire_int(v, n);
			break;
		case R_KEPT:
			wire_str(v, n, r->kept, sizeof(r->kept));
			break;
		default:
			g = -1;
			break;
		}
		if (g < 0)
			break;
	}
	if (g < 0 || r->fault < 0) {
		job_result_clear(r);
		return -1;
	}
	return 0;
}

void job_result_clear(struct result *r)
{
	certinfo_clear(&r->sign.info);
	certinfo_clear(&r->enc.info);
	r->sign.have_info = r->enc.have_info = 0;
}
