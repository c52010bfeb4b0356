/*
 * A worker process: one community at a time, keygen -> ir -> ip ->
 * verify/decrypt -> keystore -> certConf, reporting each step to the
 * parent and waiting until it is recorded. Workers never touch the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "x509/certinfo.h"
#include "cmp/cmp_client.h"
#include "x509/dn.h"
#include "base/fileio.h"
#include "enroll/job.h"
#include "x509/keys.h"
#include "out/keystore.h"

static const char *const step_names[STEP__MAX] = {"", "request", "response", "keys", "confirm"};

const char *job_step_name(int step)
{
	return step > 0 && step < STEP__MAX ? step_names[step] : "";
}

struct job {
	long long id;
	char name[256], ref[160], code[512], subject[1024];
	int key_type, enc_key_type, dual;
	char url[512], tls_ca[512], recipient[512];
	struct pkiroll_ca_profile prof;
	char ksdir[1024], pass[1024], kspath[1024], ksname[FILE_SAFE_NAME_MAX];
	int legacy, resume;
	unsigned char tid[16], nonce[64], pbm[512];
	size_t nonce_len, pbm_len;
};

struct worker {
	int fd;
	struct job *job;
	struct cmp_tx *tx;
	int rejecting; /* a certConf that rejects is no step to resume at */
};

/* Reads a JOB frame. Matched by job_write() in enroll.c. */
static int job_read(struct wbuf *b, struct job *j)
{
	const unsigned char *v;
	size_t n;
	int tag, r;

	memset(j, 0, sizeof(*j));
	pkiroll_ca_profile_defaults(&j->prof);
	while ((r = wbuf_next(b, &tag, &v, &n)) > 0) {
		switch (tag) {
		case J_ID:
			j->id = wire_int(v, n);
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
		case J_KEYTYPE:
			j->key_type = (int)wire_int(v, n);
			break;
		case J_ENCKEYTYPE:
			j->enc_key_type = (int)wire_int(v, n);
			break;
		case J_DUAL:
			j->dual = (int)wire_int(v, n);
			break;
		case J_URL:
			wire_str(v, n, j->url, sizeof(j->url));
			break;
		case J_TLSCA:
			wire_str(v, n, j->tls_ca, sizeof(j->tls_ca));
			break;
		case J_RECIPIENT:
			wire_str(v, n, j->recipient, sizeof(j->recipient));
			break;
		case J_FRAMING:
			j->prof.framing = (int)wire_int(v, n);
			break;
		case J_OWF:
			j->prof.pbm_owf = (int)wire_int(v, n);
			break;
		case J_MAC:
			j->prof.pbm_mac = (int)wire_int(v, n);
			break;
		case J_ITER:
			j->prof.pbm_iterations = (int)wire_int(v, n);
			break;
		case J_SALT:
			j->prof.pbm_salt_len = (int)wire_int(v, n);
			break;
		case J_IMPLICIT:
			j->prof.implicit_confirm = (int)wire_int(v, n);
			break;
		case J_CONNTO:
			j->prof.connect_timeout = (int)wire_int(v, n);
			break;
		case J_READTO:
			j->prof.read_timeout = (int)wire_int(v, n);
			break;
		case J_POLLDL:
			j->prof.poll_deadline = (int)wire_int(v, n);
			break;
		case J_KSDIR:
			wire_str(v, n, j->ksdir, sizeof(j->ksdir));
			break;
		case J_PASS:
			wire_str(v, n, j->pass, sizeof(j->pass));
			break;
		case J_LEGACY:
			j->legacy = (int)wire_int(v, n);
			break;
		case J_RESUME:
			j->resume = (int)wire_int(v, n);
			break;
		case J_TID:
			if (n == 16)
				memcpy(j->tid, v, 16);
			break;
		case J_NONCE:
			if (n <= sizeof(j->nonce)) {
				memcpy(j->nonce, v, n);
				j->nonce_len = n;
			}
			break;
		case J_PBM:
			if (n <= sizeof(j->pbm)) {
				memcpy(j->pbm, v, n);
				j->pbm_len = n;
			}
			break;
		case J_KSPATH:
			wire_str(v, n, j->kspath, sizeof(j->kspath));
			break;
		case J_KSNAME:
			wire_str(v, n, j->ksname, sizeof(j->ksname));
			break;
		default:
			return -1;
		}
	}
	return r;
}

/* Sends a STEP and waits for its ACK. Matched by on_step() in enroll.c. */
static int report_step(struct worker *w, int step, const char *kspath)
{
	struct wbuf b = {0};
	int type, r;

	wbuf_int(&b, R_STEP, step);
	if (w->tx != NULL) {
		const struct cmp_result *res = cmp_tx_result(w->tx);
		const ASN1_OCTET_STRING *nonce = cmp_tx_their_nonce(w->tx);
		const X509_ALGOR *pbm = cmp_tx_reply_pbm(w->tx);

		wbuf_blob(&b, R_TID, res->tid, sizeof(res->tid));
		if (nonce != NULL)
			wbuf_blob(&b, R_NONCE, nonce->data, (size_t)nonce->length);
		if (pbm != NULL) {
			unsigned char *der = NULL;
			int n = i2d_X509_ALGOR(pbm, &der);

			if (n > 0)
				wbuf_blob(&b, R_PBM, der, (size_t)n);
			OPENSSL_free(der);
		}
	}
	wbuf_str(&b, R_KSPATH, kspath);
	if (wire_write(w->fd, WIRE_STEP, &b) <= 0) {
		wbuf_free(&b);
		_exit(1); /* the parent is gone: nothing to report to */
	}
	r = wire_read(w->fd, &type, &b);
	wbuf_free(&b);
	if (r <= 0 || type != WIRE_ACK)
		_exit(r == 0 ? 0 : 3);
	return 0;
}

/* cmp_step_fn: the transaction's steps become the store's. */
static int on_cmp_step(void *arg, int step, const struct cmp_result *r)
{
	struct worker *w = arg;

	(void)r;
	switch (step) {
	case CMP_STEP_REQUEST:
		return report_step(w, STEP_REQUEST, NULL);
	case CMP_STEP_RESPONSE:
		return report_step(w, STEP_RESPONSE, NULL);
	case CMP_STEP_CONFIRM:
		return w->rejecting ? 0 : report_step(w, STEP_CONFIRM, NULL);
	default:
		return 0;
	}
}

static void put_cert(struct wbuf *b, int tag, X509 *x)
{
	unsigned char *der = NULL;
	int n;

	if (x != NULL && (n = i2d_X509(x, &der)) > 0)
		wbuf_blob(b, tag, der, (size_t)n);
	OPENSSL_free(der);
}

/* A certificate and what it says; matched by cert_info_read() in enroll.c. */
static void put_cert_info(struct wbuf *b, int tag, int info_tag, X509 *x)
{
	struct pkiroll_cert_info info;
	struct wbuf in = {0};

	if (x == NULL)
		return;
	put_cert(b, tag, x);
	if (certinfo_from_x509(x, &info) != PKIROLL_OK)
		return;
	wbuf_str(&in, CI_SERIAL, info.serial);
	wbuf_str(&in, CI_ISSUER, info.issuer);
	wbuf_str(&in, CI_SUBJECT, info.subject);
	wbuf_int(&in, CI_NOTBEFORE, (long long)info.not_before);
	wbuf_int(&in, CI_NOTAFTER, (long long)info.not_after);
	wbuf_str(&in, CI_KEYTYPE, info.key_type);
	if (wbuf_ok(&in))
		wbuf_blob(b, info_tag, in.p, in.len);
	wbuf_free(&in);
	certinfo_clear(&info);
}

/* The CA certificates (DER), one R_CHAIN field each, issuer of the
 * community's certificates first: caPubs, else the extraCerts that are CA
 * certificates. */
static void put_chain(struct wbuf *b, const STACK_OF(X509) * certs)
{
	for (int i = 0; i < sk_X509_num(certs) && i < 8; i++) {
		X509 *x = sk_X509_value(certs, i);

		if (X509_check_ca(x) > 0)
			put_cert(b, R_CHAIN, x);
	}
}

/* chain.pem of a keystore written by an earlier run. */
static STACK_OF(X509) * load_chain(const char *dir)
{
	char p[2048];
	STACK_OF(X509) *sk = sk_X509_new_null();
	FILE *f;
	X509 *x;

	snprintf(p, sizeof(p), "%s/chain.pem", dir);
	if (sk != NULL && (f = fopen(p, "r")) != NULL) {
		while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(sk, x))
				X509_free(x);
		fclose(f);
	}
	ERR_clear_error();
	return sk;
}

static X509 *load_cer(const char *dir, const char *name)
{
	char p[2048];
	FILE *f;
	X509 *x = NULL;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "rb")) != NULL) {
		x = d2i_X509_fp(f, NULL);
		fclose(f);
	}
	return x;
}

/*
 * The certificates a resumed job confirms: the DER copies, else the
 * PKCS#12 (the one file synced before the keys step was recorded).
 * 1 both there, 0 the keystore is incomplete, so no certConf accepted
 * them and the community enrolls again (what is left is moved aside), -1
 * it cannot be read (err says why; a wrong passphrase must not cost it).
 */
static int load_resume_certs(const struct job *j, X509 **sign, X509 **enc, char *err, size_t errlen)
{
	char from[2048], to[2100];
	X509 *ps = NULL, *pe = NULL;
	int r;

	*sign = load_cer(j->kspath, "signing.cer");
	*enc = j->dual ? load_cer(j->kspath, "encryption.cer") : NULL;
	if (*sign != NULL && (!j->dual || *enc != NULL))
		return 1;
	if ((r = keystore_read_certs(j->kspath, j->pass, &ps, &pe)) < 0) {
		snprintf(err, errlen,
			 "cannot resume: %.400s/keystore.p12 cannot be read with this passphrase",
			 j->kspath);
		return -1;
	}
	X509_free(*sign);
	X509_free(*enc);
	*sign = ps;
	*enc = j->dual ? pe : NULL;
	if (!j->dual)
		X509_free(pe);
	if (*sign != NULL && (!j->dual || *enc != NULL))
		return 1;
	X509_free(*sign);
	X509_free(*enc);
	*sign = *enc = NULL;
	if (r == 1) {
		snprintf(from, sizeof(from), "%s/keystore.p12", j->kspath);
		snprintf(to, sizeof(to), "%s.incomplete", from);
		(void)rename(from, to);
	}
	return 0;
}

#define KEK_USES 64

/*
 * The RSA key the CA encrypts central keys to (protocolEncrKey). It never
 * leaves this process; a worker makes a new one every KEK_USES jobs, which
 * saves most of a 2048-bit key generation per community.
 */
static EVP_PKEY *worker_kek(void)
{
	static EVP_PKEY *kek;
	static int uses;

	if (kek == NULL || ++uses >= KEK_USES) {
		EVP_PKEY_free(kek);
		kek = keys_generate(KEY_RSA2048);
		uses = 0;
	}
	return kek;
}

static void run_job(int fd, struct job *j)
{
	struct worker w = {.fd = fd, .job = j};
	struct transport_cfg tc = {.url = j->url,
				   .tls_ca_file = j->tls_ca[0] ? j->tls_ca : NULL,
				   .framing = j->prof.framing,
				   .connect_timeout = j->prof.connect_timeout,
				   .read_timeout = j->prof.read_timeout};
	struct cmp_client_cfg cc = {.pbm = {j->prof.pbm_owf, j->prof.pbm_mac,
					    j->prof.pbm_iterations, j->prof.pbm_salt_len},
				    .implicit_confirm = j->prof.implicit_confirm,
				    .poll_deadline = j->prof.poll_deadline};
	struct cmp_request rq = {.type = CMP_REQ_IR,
				 .reference = j->ref,
				 .dual = j->dual,
				 .enc_key_type = j->enc_key_type};
	X509_NAME *subject = NULL, *recipient = NULL;
	X509 *old_sign = NULL, *old_enc = NULL;
	char err[512], kspath[1024] = "";
	struct wbuf res = {0};
	int fault = CMP_F_INTERNAL, resumed = 0, after_resume = 0, ks_failed = 0;
	const struct cmp_result *r = NULL;

	rq.secret = (const unsigned char *)j->code;
	rq.secret_len = strlen(j->code);
	/* Phase: what the transaction needs. */
	if ((cc.transport = transport_new(&tc, err, sizeof(err))) == NULL) {
		fault = CMP_F_CONFIG;
		goto report;
	}
	if ((subject = dn_parse(j->subject, err, sizeof(err))) == NULL)
		goto report;
	rq.subject = subject;
	if (j->recipient[0] != '\0' &&
	    (recipient = dn_parse(j->recipient, err, sizeof(err))) == NULL) {
		fault = CMP_F_CONFIG;
		goto report;
	}
	cc.recipient = recipient;

	if (j->resume) {
		/* certConf for certificates an interrupted run already stored */
		int got = load_resume_certs(j, &old_sign, &old_enc, err, sizeof(err));

		if (got < 0) {
			fault = CMP_F_CONFIG;
			goto report;
		}
		if (got == 0)
			goto fresh; /* never confirmed by us: enroll again */
		if ((w.tx = cmp_tx_resume(&cc, &rq, j->tid, j->nonce, j->nonce_len,
					  j->pbm_len ? j->pbm : NULL, j->pbm_len, old_sign,
					  old_enc)) == NULL) {
			snprintf(err, sizeof(err), "cannot resume the transaction of %.400s",
				 j->kspath);
			goto report;
		}
		snprintf(kspath, sizeof(kspath), "%s", j->kspath);
		report_step(&w, STEP_CONFIRM, NULL);
		fault = cmp_tx_confirm(w.tx, 1);
		if (fault == CMP_OK || fault == CMP_F_TRANSIENT || fault == CMP_F_CONFIG) {
			resumed = fault == CMP_OK;
			goto report;
		}
		/*
		 * The CA no longer waits for this certConf: it either confirmed it
		 * (the interrupted run's certConf arrived) or rolled it back. A new
		 * request tells which: codes already used mean confirmed.
		 */
		cmp_tx_free(w.tx);
		w.tx = NULL;
		kspath[0] = '\0';
		after_resume = 1;
	}

fresh:
	/* Phase: a new key and the request. */
	rq.kek = j->dual ? worker_kek() : NULL;
	if ((rq.new_key = keys_generate(j->key_type)) == NULL) {
		snprintf(err, sizeof(err), "key generation failed");
		goto report;
	}
	if ((w.tx = cmp_tx_new(&cc, &rq, on_cmp_step, &w)) == NULL)
		goto report;
	if ((fault = cmp_tx_request(w.tx)) != CMP_OK) {
		if (after_resume && fault == CMP_F_REJECTED &&
		    ((cmp_tx_result(w.tx)->failbits[0] | cmp_tx_result(w.tx)->failbits[1]) &
		     (1UL << OSSL_CMP_PKIFAILUREINFO_notAuthorized))) {
			/* the interrupted run's certificates were confirmed: keep them */
			fault = CMP_OK;
			resumed = 1;
			snprintf(kspath, sizeof(kspath), "%s", j->kspath);
		}
		goto report;
	}
	r = cmp_tx_result(w.tx);

	/* Phase: the keystore, on disk before the CA hears we accept. */
	{
		struct keystore_in ks = {.base = j->ksdir,
					 .dirname = j->ksname,
					 .pass = j->pass,
					 .sign_key = rq.new_key,
					 .sign_cert = r->sign_cert,
					 .enc_key = r->enc_key,
					 .enc_cert = r->enc_cert,
					 .chain = r->ca_pubs ? r->ca_pubs : r->extra_certs,
					 .legacy = j->legacy};

		if (keystore_write(&ks, kspath, sizeof(kspath), err, sizeof(err)) < 0) {
			size_t l = strlen(err);

			/* the reason is ours, not the certConf's; nothing to resume */
			w.rejecting = 1;
			(void)cmp_tx_confirm(w.tx, 0);
			fault = JOB_F_KEYSTORE;
			snprintf(err + l, sizeof(err) - l,
				 "; the CA was told to reject the certificates, the codes stay "
				 "usable");
			kspath[0] = '\0';
			ks_failed = 1;
			goto report;
		}
	}
	report_step(&w, STEP_KEYS, kspath);
	fault = cmp_tx_confirm(w.tx, 1);

report:
	/* RESULT; matched by on_result() in enroll.c */
	r = w.tx ? cmp_tx_result(w.tx) : NULL;
	wbuf_int(&res, R_FAULT, fault);
	if (fault != CMP_OK)
		wbuf_str(&res, R_REASON, r && r->reason[0] && !ks_failed ? r->reason : err);
	if (r != NULL) {
		wbuf_int(&res, R_STEP, r->step);
		wbuf_int(&res, R_FAILBITS, (long long)(r->failbits[0] | r->failbits[1]));
		wbuf_int(&res, R_SUBJCHANGED, r->subject_changed);
	}
	if (fault == CMP_OK && resumed) {
		STACK_OF(X509) *chain = load_chain(j->kspath);

		put_cert_info(&res, R_SIGNCERT, R_SIGNINFO, old_sign);
		put_cert_info(&res, R_ENCCERT, R_ENCINFO, old_enc);
		put_chain(&res, chain);
		sk_X509_pop_free(chain, X509_free);
	} else if (fault == CMP_OK && r != NULL) {
		put_cert_info(&res, R_SIGNCERT, R_SIGNINFO, r->sign_cert);
		put_cert_info(&res, R_ENCCERT, R_ENCINFO, r->enc_cert);
		put_chain(&res, r->ca_pubs ? r->ca_pubs : r->extra_certs);
	}
	wbuf_str(&res, R_KSPATH, kspath[0] ? kspath : NULL);
	if (wire_write(fd, WIRE_RESULT, &res) <= 0)
		_exit(1);
	wbuf_free(&res);
	cmp_tx_free(w.tx);
	transport_free(cc.transport);
	EVP_PKEY_free(rq.new_key);
	X509_NAME_free(subject);
	X509_NAME_free(recipient);
	X509_free(old_sign);
	X509_free(old_enc);
	ERR_clear_error();
}

void enroll_worker_main(int fd, void *arg)
{
	struct wbuf msg = {0};
	struct job *j = malloc(sizeof(*j));
	int type;

	(void)arg;
	if (j == NULL)
		_exit(2);
	for (;;) {
		int r = wire_read(fd, &type, &msg);

		if (r <= 0 || type == WIRE_STOP)
			break;
		if (type != WIRE_JOB || job_read(&msg, j) < 0)
			_exit(3); /* a malformed frame is a bug */
		wbuf_free(&msg);
		run_job(fd, j);
		OPENSSL_cleanse(j, sizeof(*j));
	}
	wbuf_free(&msg);
	free(j);
}
