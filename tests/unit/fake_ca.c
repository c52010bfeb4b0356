/*
 * The in-test responder: a forked child that serves connections on a
 * loopback port until it is stopped.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmp/cmp_server.h"
#include "mint.h"
#include "fake_ca.h"
#include "x509/keys.h"
#include "cmp/transport.h"

static EVP_PKEY *ca_key;
static X509 *ca_cert;
static const char *secret;
static int mode;
static int served_waiting, dumped;
const char *fake_ca_dump_dir;

static void dump(const char *what, const unsigned char *p, size_t n)
{
	char path[4096];
	FILE *f;

	if (fake_ca_dump_dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s-%d.der", fake_ca_dump_dir, what, dumped);
	if ((f = fopen(path, "wb")) != NULL) {
		fwrite(p, 1, n, f);
		fclose(f);
	}
}

static int protect(PKR_MSG *m, const char *sec, const X509_ALGOR *reuse)
{
	struct cmp_protection p = {.type = CMP_PROT_PBM};
	char err[256];

	p.secret = (const unsigned char *)sec;
	p.secret_len = strlen(sec);
	p.reference = NULL;
	p.pbm = (struct cmp_pbm_params){NID_sha256, NID_hmacWithSHA256, 500, 16};
	p.pbm_reuse = reuse;
	return cmp_msg_protect(m, &p, err, sizeof(err));
}

/* The ip for an ir: certificates for crm[0] and, with crm[1], a central key. */
static PKR_MSG *answer_ir(const PKR_MSG *req)
{
	PKR_MSG *rep = cmp_srv_reply_new(req, X509_get_subject_name(ca_cert), 0);
	const OSSL_CRMF_MSGS *crms = req->body->value.ir;
	int n = sk_OSSL_CRMF_MSG_num(crms);

	rep->body->type = CMP_BODY_IP;
	rep->body->value.ip = PKR_CERTREPMSG_new();
	rep->body->value.ip->caPubs = sk_X509_new_null();
	X509_add_cert(rep->body->value.ip->caPubs, ca_cert, X509_ADD_FLAG_UP_REF);
	for (int i = 0; i < n; i++) {
		PKR_CERTREQMSG *cm = cmp_srv_certreq(crms, i);
		const X509_NAME *subj = cm->certReq->certTemplate->subject;
		PKR_CERTRESP *cr;

		if (mode == FAKE_WAITING && !served_waiting) {
			cr = cmp_srv_certresp(i, cmp_pkisi_new(CMP_ST_WAITING, 0, NULL), NULL,
					      NULL);
		} else if (i == 0) {
			EVP_PKEY *pub = cmp_spki_pkey(cm->certReq->certTemplate->publicKey);
			EVP_PKEY *other =
				mode == FAKE_SIGN_KEY_MISMATCH ? keys_generate(KEY_P256) : NULL;
			X509 *x = ca_mint(ca_cert, ca_key, subj, other ? other : pub, NULL,
					  MINT_SIGNING, 3600);

			cr = cmp_srv_certresp(0, cmp_pkisi_new(CMP_ST_ACCEPTED, 0, NULL), x, NULL);
			EVP_PKEY_free(pub);
			EVP_PKEY_free(other);
		} else {
			EVP_PKEY *kek = cmp_srv_protocol_encr_key(cm);
			EVP_PKEY *k = keys_generate(KEY_P256);
			EVP_PKEY *other =
				mode == FAKE_KEY_MISMATCH ? keys_generate(KEY_P256) : NULL;
			X509 *x = ca_mint(ca_cert, ca_key, subj, other ? other : k, NULL,
					  MINT_ENCRYPTION, 3600);
			PKR_ENCVAL *ev = cmp_encval_encrypt(k, kek, NULL, 0);

			if (mode == FAKE_ENCVAL_GARBAGE) {
				unsigned char junk[64];

				cmp_random(junk, sizeof(junk));
				cmp_octets_to_bits(ev->encValue, junk, sizeof(junk));
			}
			cr = cmp_srv_certresp(1, cmp_pkisi_new(CMP_ST_ACCEPTED, 0, NULL), x, ev);
			EVP_PKEY_free(kek);
			EVP_PKEY_free(k);
			EVP_PKEY_free(other);
		}
		PKR_CERTREQMSG_free(cm);
		if (mode == FAKE_COUNT && i == 1)
			PKR_CERTRESP_free(cr);
		else
			sk_PKR_CERTRESP_push(rep->body->value.ip->response, cr);
	}
	if (mode == FAKE_WAITING)
		served_waiting = 1;
	return rep;
}

static PKR_MSG *answer(const PKR_MSG *req)
{
	PKR_MSG *rep;

	switch (req->body->type) {
	case CMP_BODY_IR:
		if (mode == FAKE_UNPROTECTED_ERROR) {
			rep = cmp_srv_error_new(req, NULL, CMP_ST_REJECTION,
						1UL << OSSL_CMP_PKIFAILUREINFO_badMessageCheck,
						"MAC check failed");
			return rep;
		}
		rep = answer_ir(req);
		break;
	case CMP_BODY_CERTCONF:
		rep = cmp_srv_reply_new(req, X509_get_subject_name(ca_cert), 0);
		rep->body->type = CMP_BODY_PKICONF;
		rep->body->value.pkiconf = ASN1_NULL_new();
		break;
	default:
		rep = cmp_srv_error_new(req, NULL, CMP_ST_REJECTION, 1UL << 2, "unexpected");
	}
	return rep;
}

static void serve(int lfd)
{
	PKR_MSG *last_ir = NULL;

	for (;;) {
		int fd = accept(lfd, NULL, NULL), v10, flags, type;
		unsigned char *p = NULL, *der = NULL;
		size_t n, len = 0;
		char err[256];
		PKR_MSG *req, *rep = NULL;

		if (fd < 0)
			continue;
		if (tcp_frame_read(fd, &v10, &flags, &type, &p, &n, base_now_ms() + 5000, err,
				   sizeof(err)) <= 0)
			goto next;
		if (mode == FAKE_V0_ONLY && v10) {
			tcp_frame_write(fd, 0, 0, TCP_ERRORREP, (const unsigned char *)"\0\1", 2,
					base_now_ms() + 5000);
			goto next;
		}
		if ((req = cmp_msg_decode(p, n, err, sizeof(err))) == NULL)
			goto next;
		dump("req", p, n);
		if (req->body->type == CMP_BODY_IR) {
			PKR_MSG_free(last_ir);
			last_ir = PKR_MSG_dup(req);
		}
		if (req->body->type == CMP_BODY_POLLREQ && last_ir != NULL) {
			/* the final ip, for the pending ir, in this exchange */
			PKR_MSG *tmp = answer_ir(last_ir);

			rep = cmp_srv_reply_new(req, X509_get_subject_name(ca_cert), 0);
			PKR_BODY_free(rep->body);
			rep->body = tmp->body;
			tmp->body = NULL;
			PKR_MSG_free(tmp);
		} else {
			rep = answer(req);
		}
		if (mode == FAKE_WRONG_BODY && rep->body->type == CMP_BODY_IP) {
			PKR_BODY_free(rep->body);
			rep->body = PKR_BODY_new();
			rep->body->type = CMP_BODY_PKICONF;
			rep->body->value.pkiconf = ASN1_NULL_new();
		}
		if (mode == FAKE_WRONG_TID)
			rep->header->transactionID->data[0] ^= 1;
		if (mode == FAKE_WRONG_NONCE)
			rep->header->recipNonce->data[0] ^= 1;
		if (mode != FAKE_UNPROTECTED && mode != FAKE_UNPROTECTED_ERROR)
			protect(rep, mode == FAKE_WRONG_MAC ? "not-the-secret" : secret, NULL);
		if (mode == FAKE_ALTERED)
			rep->header->senderNonce->data[0] ^= 1;
		cmp_msg_encode(rep, &der, &len);
		dump("rep", der, len);
		dumped++;
		if (mode == FAKE_TRUNCATED)
			len /= 2;
		if (mode == FAKE_WRONG_TAG)
			der[0] = 0x31;
		if (mode == FAKE_OVERSIZED) {
			unsigned char hdr[7] = {0x00, 0x20, 0x00, 0x03, 10, 0, TCP_PKIREP};

			(void)!write(fd, hdr, sizeof(hdr));
		} else {
			tcp_frame_write(fd, v10, 0, TCP_PKIREP, der, len, base_now_ms() + 5000);
		}
		PKR_MSG_free(req);
	next:
		PKR_MSG_free(rep);
		OPENSSL_free(der);
		OPENSSL_free(p);
		close(fd);
	}
}

int fake_ca_start(struct fake_ca *f, const char *sec, int m)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	X509_NAME *name;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	f->port = ntohs(sa.sin_port);
	snprintf(f->url, sizeof(f->url), "cmp://127.0.0.1:%d", f->port);
	fflush(stdout);
	if ((f->pid = fork()) < 0)
		return -1;
	if (f->pid > 0) {
		close(lfd);
		return 0;
	}
	/* child */
	secret = sec;
	mode = m;
	ca_key = keys_generate(KEY_P256);
	name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Fake CA", -1,
				   -1, 0);
	ca_cert = ca_mint(NULL, ca_key, name, ca_key, NULL, MINT_CA, 3600);
	X509_NAME_free(name);
	serve(lfd);
	_exit(0);
}

void fake_ca_stop(struct fake_ca *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
}
