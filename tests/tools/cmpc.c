/*
 * cmpc: one CMP transaction with libpkiroll's client, for the interop and
 * fault tests. Secrets come from the environment or a file, never argv.
 *
 * cmpc --url URL [--ref REF --secret-env VAR | --secret-file F]
 *      [--key KEY.pem | --key-type T] [--subject DN] [--dual] [--enc-key-type T]
 *      [--cr | --kur --cert C.pem --old-key K.pem] [--trusted CA.pem]
 *      [--implicit] [--reject] [--framing auto|v10|v0] [--owf sha1|sha256]
 *      [--mac hmac-sha1|hmac-sha256] [--iter N] [--poll-deadline S]
 *      [--out DIR] [--no-confirm]
 *      [--rr REASON --rr-cert C.pem [--rr-by-subject]]  (rr instead of a request)
 * Prints "result: ok" or "result: FAULT: reason", and what it received.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "cmp/cmp_client.h"
#include "x509/dn.h"
#include "x509/keys.h"

static void log_cb(void *arg, enum pkiroll_level l, const char *msg)
{
	(void)arg;
	(void)l;
	fprintf(stderr, "%s\n", msg);
}

static char *read_secret(const char *path, size_t *n)
{
	static char buf[1024];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	*n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (*n > 0 && (buf[*n - 1] == '\n' || buf[*n - 1] == '\r'))
		(*n)--;
	buf[*n] = '\0';
	return buf;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return k;
}

static X509 *load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return x;
}

static void write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *k, STACK_OF(X509) * sk)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "w")) == NULL)
		return;
	if (x != NULL)
		PEM_write_X509(f, x);
	if (k != NULL)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	for (int i = 0; i < sk_X509_num(sk); i++)
		PEM_write_X509(f, sk_X509_value(sk, i));
	fclose(f);
}

static int nid_of(const char *s)
{
	if (strcmp(s, "sha1") == 0)
		return NID_sha1;
	if (strcmp(s, "sha256") == 0)
		return NID_sha256;
	if (strcmp(s, "hmac-sha1") == 0)
		return NID_hmac_sha1;
	if (strcmp(s, "hmacWithSHA1") == 0)
		return NID_hmacWithSHA1;
	if (strcmp(s, "hmac-sha256") == 0)
		return NID_hmacWithSHA256;
	return NID_undef;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", 1, 0, 'u'},
		{"ref", 1, 0, 'r'},
		{"secret-env", 1, 0, 'e'},
		{"secret-file", 1, 0, 'f'},
		{"key", 1, 0, 'k'},
		{"key-type", 1, 0, 't'},
		{"subject", 1, 0, 's'},
		{"dual", 0, 0, 'd'},
		{"enc-key-type", 1, 0, 'E'},
		{"cr", 0, 0, 'C'},
		{"kur", 0, 0, 'K'},
		{"cert", 1, 0, 'c'},
		{"old-key", 1, 0, 'o'},
		{"trusted", 1, 0, 'T'},
		{"implicit", 0, 0, 'i'},
		{"reject", 0, 0, 'R'},
		{"framing", 1, 0, 'F'},
		{"owf", 1, 0, 'O'},
		{"mac", 1, 0, 'M'},
		{"iter", 1, 0, 'I'},
		{"poll-deadline", 1, 0, 'P'},
		{"out", 1, 0, 'D'},
		{"no-confirm", 0, 0, 'N'},
		{"tls-ca", 1, 0, 'L'},
		{"rr", 1, 0, 'X'},
		{"rr-cert", 1, 0, 'Y'},
		{"rr-by-subject", 0, 0, 'Z'},
		{0, 0, 0, 0},
	};
	struct transport_cfg tc = {0};
	struct cmp_client_cfg cc = {.pbm = {NID_sha256, NID_hmacWithSHA256, 500, 16}};
	struct cmp_request rq = {.enc_key_type = -1};
	const char *out = NULL, *trusted = NULL;
	X509_NAME *subject = NULL;
	char err[512];
	int c, reject = 0, key_type = KEY_RSA2048, f, no_confirm = 0, rr_reason = -1;
	X509 *rr_cert = NULL;
	struct cmp_tx *tx;
	const struct cmp_result *r;
	pkiroll_ctx *ctx = pkiroll_ctx_new(log_cb, NULL);

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			tc.url = optarg;
			break;
		case 'r':
			rq.reference = optarg;
			break;
		case 'e': {
			const char *v = getenv(optarg);

			if (v == NULL) {
				fprintf(stderr, "cmpc: %s is not set\n", optarg);
				return 2;
			}
			rq.secret = (const unsigned char *)v;
			rq.secret_len = strlen(v);
			break;
		}
		case 'f':
			if ((rq.secret = (unsigned char *)read_secret(optarg, &rq.secret_len)) ==
			    NULL) {
				fprintf(stderr, "cmpc: cannot read %s\n", optarg);
				return 2;
			}
			break;
		case 'k':
			if ((rq.new_key = load_key(optarg)) == NULL) {
				fprintf(stderr, "cmpc: cannot load key %s\n", optarg);
				return 2;
			}
			break;
		case 't':
			key_type = base_key_type_from_name(optarg);
			break;
		case 's':
			if ((subject = dn_parse(optarg, err, sizeof(err))) == NULL) {
				fprintf(stderr, "cmpc: subject: %s\n", err);
				return 2;
			}
			break;
		case 'd':
			rq.dual = 1;
			break;
		case 'E':
			rq.enc_key_type = base_key_type_from_name(optarg);
			break;
		case 'C':
			rq.type = CMP_REQ_CR;
			break;
		case 'X':
			rr_reason = atoi(optarg);
			break;
		case 'Y':
			rr_cert = load_cert(optarg);
			break;
		case 'Z':
			rq.rr_by_subject = 1;
			break;
		case 'K':
			rq.type = CMP_REQ_KUR;
			break;
		case 'c':
			rq.old_cert = load_cert(optarg);
			break;
		case 'o':
			rq.old_key = load_key(optarg);
			break;
		case 'T':
			trusted = optarg;
			break;
		case 'i':
			cc.implicit_confirm = 1;
			break;
		case 'R':
			reject = 1;
			break;
		case 'F':
			tc.framing = strcmp(optarg, "v10") == 0	 ? FRAMING_V10
				     : strcmp(optarg, "v0") == 0 ? FRAMING_V0
								 : FRAMING_AUTO;
			break;
		case 'O':
			cc.pbm.owf_nid = nid_of(optarg);
			break;
		case 'M':
			cc.pbm.mac_nid = nid_of(optarg);
			break;
		case 'I':
			cc.pbm.iterations = atoi(optarg);
			break;
		case 'P':
			cc.poll_deadline = atoi(optarg);
			break;
		case 'D':
			out = optarg;
			break;
		case 'N':
			no_confirm = 1;
			break;
		case 'L':
			tc.tls_ca_file = optarg;
			break;
		default:
			return 2;
		}
	}
	if (rq.new_key == NULL && (rq.new_key = keys_generate(key_type)) == NULL) {
		fprintf(stderr, "cmpc: cannot make a key\n");
		return 2;
	}
	rq.subject = subject;
	tc.read_timeout = 20;
	if ((cc.transport = transport_new(&tc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cmpc: %s\n", err);
		return 2;
	}
	if (trusted != NULL) {
		cc.trust = X509_STORE_new();
		if (!X509_STORE_load_file(cc.trust, trusted)) {
			fprintf(stderr, "cmpc: cannot load %s\n", trusted);
			return 2;
		}
	}
	tx = cmp_tx_new(&cc, &rq, NULL, NULL);
	if (rr_reason >= 0) {
		if (rr_cert == NULL) {
			fprintf(stderr, "cmpc: --rr needs --rr-cert\n");
			return 2;
		}
		f = cmp_tx_revoke(tx, &rr_cert, 1, rr_reason);
	} else {
		f = cmp_tx_request(tx);
		if (f == CMP_OK && !no_confirm)
			f = cmp_tx_confirm(tx, !reject);
	}
	r = cmp_tx_result(tx);
	printf("step: %s\n", cmp_step_name(r->step));
	printf("polls: %d\n", r->polls);
	printf("status: %d %d\n", r->status[0], r->status[1]);
	printf("framing: %d\n", transport_framing(cc.transport));
	if (r->sign_cert)
		printf("sign-cert: %s\n",
		       X509_NAME_oneline(X509_get_subject_name(r->sign_cert), err, sizeof(err)));
	if (r->enc_cert)
		printf("enc-cert: %s\n",
		       X509_NAME_oneline(X509_get_subject_name(r->enc_cert), err, sizeof(err)));
	if (r->enc_key)
		printf("enc-key: %s, matches the certificate\n",
		       EVP_PKEY_get0_type_name(r->enc_key));
	printf("caPubs: %d\n", sk_X509_num(r->ca_pubs));
	printf("implicit-confirm: %s\n", r->implicit_confirmed ? "granted" : "no");
	if (r->subject_changed)
		printf("subject-changed: yes\n");
	if (f == CMP_OK)
		printf("result: ok\n");
	else
		printf("result: FAULT %s: %s\n", cmp_fault_name(f), r->reason);
	if (out != NULL && f == CMP_OK) {
		write_pem(out, "sign.pem", r->sign_cert, NULL, NULL);
		write_pem(out, "key.pem", NULL, rq.new_key, NULL);
		if (r->enc_cert) {
			write_pem(out, "enc.pem", r->enc_cert, NULL, NULL);
			write_pem(out, "enc.key.pem", NULL, r->enc_key, NULL);
		}
		if (r->ca_pubs)
			write_pem(out, "capubs.pem", NULL, NULL, r->ca_pubs);
	}
	cmp_tx_free(tx);
	transport_free(cc.transport);
	X509_STORE_free(cc.trust);
	X509_NAME_free(subject);
	EVP_PKEY_free(rq.new_key);
	EVP_PKEY_free(rq.old_key);
	X509_free(rq.old_cert);
	X509_free(rr_cert);
	pkiroll_ctx_free(ctx);
	return f == CMP_OK ? 0 : 1;
}
