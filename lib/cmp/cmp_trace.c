/*
 * Protocol debugging: dump files and trace lines of CMP messages.
 *
 * A dump file is named LABEL.TIME.TID.SEQ.BODY.DIR.der: the community's
 * file-safe name, the UTC time of the transaction's first message
 * (YYYYMMDDTHHMMSSZ), the transactionID in hex, the message's number in
 * the transaction (001, 002, ...), the body type (cmp_body_name()) and
 * "request" or "reply". So `ls` lists a community's transactions in the
 * order they began and each one's messages in the order they went over
 * the wire. A transaction resumed by another process (certConf after a
 * crash) goes on with the numbers and the time its files already have.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "cmp/cmp_trace.h"

#define STAMP_LEN 16 /* YYYYMMDDTHHMMSSZ */

struct cmp_trace {
	pkiroll_ctx *ctx;
	char *dir; /* NULL: no files */
	char label[256];
	char safe[FILE_SAFE_NAME_MAX];
	int lines;
	int warned;
	/* the transaction being traced */
	unsigned char tid[CMP_NONCE_LEN];
	int have_tid;
	int seq;
	char stamp[STAMP_LEN + 1];
	long long sent_ms;
	/* the last reply */
	unsigned char *last;
	size_t last_len;
	long long last_rtt;
};

struct cmp_trace *cmp_trace_new(pkiroll_ctx *ctx, const char *dump_dir, const char *label,
				int lines)
{
	struct cmp_trace *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	if (dump_dir != NULL && (t->dir = strdup(dump_dir)) == NULL) {
		free(t);
		return NULL;
	}
	t->ctx = ctx;
	t->lines = lines;
	t->last_rtt = -1;
	snprintf(t->label, sizeof(t->label), "%s", label ? label : "");
	file_safe_name(t->label[0] ? t->label : "cmp", 0, t->safe, sizeof(t->safe));
	return t;
}

void cmp_trace_free(struct cmp_trace *t)
{
	if (t == NULL)
		return;
	free(t->dir);
	free(t->last);
	free(t);
}

const unsigned char *cmp_trace_last_reply(const struct cmp_trace *t, size_t *len, long long *rtt_ms)
{
	*len = t->last_len;
	*rtt_ms = t->last_rtt;
	return t->last;
}

int cmp_trace_dir_make(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", dir,
			 errno == 0 || S_ISDIR(st.st_mode) ? "is not a directory"
							   : strerror(errno));
		return -1;
	}
	return 0;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A nonce for a trace line: its first 8 octets in hex, "-" when absent. */
static void short_hex(const ASN1_OCTET_STRING *o, char *out, size_t len)
{
	char h[2 * 8 + 1];
	size_t n;

	if (o == NULL || o->length <= 0) {
		snprintf(out, len, "-");
		return;
	}
	n = o->length > 8 ? 8 : (size_t)o->length;
	hex(o->data, n, h);
	snprintf(out, len, "%s%s", h, o->length > 8 ? ".." : "");
}

/* RFC 4210 5.3.19 and RFC 9810 5.3.19: id-it 1.3.6.1.5.5.7.4.N */
static const char *const id_it_names[] = {
	NULL,
	"caProtEncCert",
	"signKeyPairTypes",
	"encKeyPairTypes",
	"preferredSymmAlg",
	"caKeyUpdateInfo",
	"currentCRL",
	"unsupportedOIDs",
	NULL,
	NULL,
	"keyPairParamReq",
	"keyPairParamRep",
	"revPassphrase",
	"implicitConfirm",
	"confirmWaitTime",
	"origPKIMessage",
	"suppLangTags",
	"caCerts",
	"rootCaKeyUpdate",
	"certReqTemplate",
	"rootCaCert",
	"certProfile",
	"crlStatusList",
	"crls",
};

void cmp_infotype_name(const ASN1_OBJECT *o, char *buf, size_t len)
{
	static const char arc[] = "1.3.6.1.5.5.7.4.";
	char dotted[128];
	int nid;

	if (o == NULL || OBJ_obj2txt(dotted, sizeof(dotted), o, 1) <= 0) {
		snprintf(buf, len, "?");
		return;
	}
	if (strncmp(dotted, arc, sizeof(arc) - 1) == 0) {
		char *end;
		long n = strtol(dotted + sizeof(arc) - 1, &end, 10);

		if (*end == '\0' && n > 0 &&
		    n < (long)(sizeof(id_it_names) / sizeof(id_it_names[0])) &&
		    id_it_names[n] != NULL) {
			snprintf(buf, len, "%s", id_it_names[n]);
			return;
		}
	}
	nid = OBJ_obj2nid(o);
	snprintf(buf, len, "%s", nid != NID_undef ? OBJ_nid2sn(nid) : dotted);
}

const char *cmp_protection_name(const PKR_MSG *m)
{
	if (m == NULL || m->header->protectionAlg == NULL || m->protection == NULL)
		return "none";
	return OBJ_obj2nid(m->header->protectionAlg->algorithm) == NID_id_PasswordBasedMAC
		       ? "PBM"
		       : "signature";
}

/* Appends to buf at *off, bounded. */
static void add(char *buf, size_t len, size_t *off, const char *fmt, ...) PRINTF_LIKE(4, 5);

static void add(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < len ? *off + (size_t)n : len;
}

static void add_itavs(char *buf, size_t len, size_t *off, const STACK_OF(PKR_ITAV) * sk)
{
	char name[128];

	add(buf, len, off, ": infoTypes");
	if (sk_PKR_ITAV_num(sk) == 0)
		add(buf, len, off, " (none)");
	for (int i = 0; i < sk_PKR_ITAV_num(sk); i++) {
		cmp_infotype_name(sk_PKR_ITAV_value(sk, i)->infoType, name, sizeof(name));
		add(buf, len, off, "%s%s", i ? ", " : " ", name);
	}
}

/* What a body says that an operator wants to see: statuses and failInfo,
 * checkAfter, infoTypes. */
static void body_summary(const PKR_BODY *b, char *buf, size_t len, size_t *off)
{
	char text[600];

	switch (b->type) {
	case CMP_BODY_IP:
	case CMP_BODY_CP:
	case CMP_BODY_KUP:
		for (int i = 0; i < sk_PKR_CERTRESP_num(b->value.ip->response); i++) {
			const PKR_CERTRESP *cr = sk_PKR_CERTRESP_value(b->value.ip->response, i);

			cmp_pkisi_text(cr->status, text, sizeof(text));
			add(buf, len, off, "%s certReqId %ld %s", i ? ";" : ":",
			    ASN1_INTEGER_get(cr->certReqId), text);
		}
		break;
	case CMP_BODY_ERROR:
		cmp_error_text(b->value.error, text, sizeof(text));
		add(buf, len, off, ": %s", text);
		break;
	case CMP_BODY_RP:
		for (int i = 0; i < sk_PKR_PKISI_num(b->value.rp->status); i++) {
			cmp_pkisi_text(sk_PKR_PKISI_value(b->value.rp->status, i), text,
				       sizeof(text));
			add(buf, len, off, "%s status[%d] %s", i ? ";" : ":", i, text);
		}
		break;
	case CMP_BODY_POLLREP:
		for (int i = 0; i < sk_PKR_POLLREP_num(b->value.pollRep); i++) {
			const PKR_POLLREP *pr = sk_PKR_POLLREP_value(b->value.pollRep, i);

			add(buf, len, off, "%s certReqId %ld checkAfter %lds", i ? ";" : ":",
			    ASN1_INTEGER_get(pr->certReqId), ASN1_INTEGER_get(pr->checkAfter));
		}
		break;
	case CMP_BODY_CERTCONF:
		for (int i = 0; i < sk_PKR_CERTSTATUS_num(b->value.certConf); i++) {
			const PKR_CERTSTATUS *cs = sk_PKR_CERTSTATUS_value(b->value.certConf, i);

			if (cs->statusInfo != NULL)
				cmp_pkisi_text(cs->statusInfo, text, sizeof(text));
			else
				snprintf(text, sizeof(text), "accepted");
			add(buf, len, off, "%s certReqId %ld %s", i ? ";" : ":",
			    ASN1_INTEGER_get(cs->certReqId), text);
		}
		break;
	case CMP_BODY_GENM:
	case CMP_BODY_GENP:
		add_itavs(buf, len, off, b->value.genm);
		break;
	default:
		break;
	}
}

/* The number and time of a transaction whose files another process began
 * (a certConf resumed after a crash): the highest SEQ in the directory. */
static void continue_numbers(struct cmp_trace *t, const char *tidhex)
{
	size_t pl = strlen(t->safe);
	struct dirent *de;
	DIR *d;

	if ((d = opendir(t->dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name, *s;
		char *end;
		long seq;

		/* LABEL.STAMP.TID.SEQ. */
		if (strncmp(n, t->safe, pl) != 0 || n[pl] != '.' ||
		    strlen(n) < pl + 1 + STAMP_LEN + 1 + 32 + 2)
			continue;
		s = n + pl + 1;
		if (s[STAMP_LEN] != '.' || strncmp(s + STAMP_LEN + 1, tidhex, 32) != 0 ||
		    s[STAMP_LEN + 1 + 32] != '.')
			continue;
		seq = strtol(s + STAMP_LEN + 1 + 32 + 1, &end, 10);
		if (*end != '.' || seq <= t->seq || seq > 99999)
			continue;
		t->seq = (int)seq;
		memcpy(t->stamp, s, STAMP_LEN);
		t->stamp[STAMP_LEN] = '\0';
	}
	closedir(d);
}

static void dump(struct cmp_trace *t, const char *tidhex, const char *body, int reply,
		 const unsigned char *der, size_t len)
{
	char name[FILE_SAFE_NAME_MAX + 128];

	snprintf(name, sizeof(name), "%s.%s.%s.%03d.%s.%s.der", t->safe, t->stamp, tidhex, t->seq,
		 body, reply ? "reply" : "request");
	if (file_atomic_write(t->dir, name, der, len, 0600, 0) < 0 && !t->warned) {
		t->warned = 1;
		ctx_log(t->ctx, PKIROLL_LOG_WARN, "%s: --dump-dir %s: cannot write %s: %s",
			t->label, t->dir, name, strerror(errno));
	}
}

void cmp_trace_message(struct cmp_trace *t, const unsigned char *tid, int reply,
		       const unsigned char *der, size_t len, const PKR_MSG *m)
{
	char tidhex[2 * CMP_NONCE_LEN + 1], sn[24], rn[24], line[2048];
	const char *body = m != NULL ? cmp_body_name(m->body->type) : "undecodable";
	size_t off = 0;

	if (t == NULL)
		return;
	hex(tid, CMP_NONCE_LEN, tidhex);

	/* Phase: which transaction, which message of it. */
	if (!t->have_tid || memcmp(t->tid, tid, CMP_NONCE_LEN) != 0) {
		time_t now = time(NULL);
		struct tm tm;

		memcpy(t->tid, tid, CMP_NONCE_LEN);
		t->have_tid = 1;
		t->seq = 0;
		gmtime_r(&now, &tm);
		strftime(t->stamp, sizeof(t->stamp), "%Y%m%dT%H%M%SZ", &tm);
		if (t->dir != NULL)
			continue_numbers(t, tidhex);
	}
	t->seq++;
	if (!reply) {
		t->sent_ms = base_now_ms();
	} else {
		unsigned char *copy = len > 0 ? malloc(len) : NULL;

		free(t->last);
		t->last = copy;
		t->last_len = copy != NULL ? len : 0;
		if (copy != NULL)
			memcpy(copy, der, len);
		t->last_rtt = t->sent_ms > 0 ? base_now_ms() - t->sent_ms : -1;
	}

	/* Phase: the file and the line. */
	if (t->dir != NULL)
		dump(t, tidhex, body, reply, der, len);
	if (!t->lines)
		return;
	short_hex(m ? m->header->senderNonce : NULL, sn, sizeof(sn));
	short_hex(m ? m->header->recipNonce : NULL, rn, sizeof(rn));
	add(line, sizeof(line), &off,
	    "%s: CMP %s %s tid=%s senderNonce=%s recipNonce=%s protection=%s, %zu bytes", t->label,
	    reply ? "received" : "sent", body, tidhex, sn, rn, cmp_protection_name(m), len);
	if (reply && t->last_rtt >= 0)
		add(line, sizeof(line), &off, " after %lld ms", t->last_rtt);
	if (m != NULL)
		body_summary(m->body, line, sizeof(line), &off);
	ctx_log(t->ctx, PKIROLL_LOG_TRACE, "%s", line);
}
