/*
 * The contract between libpkiroll and its sibling program, the test CA
 * (cmd/pkiroll-ca), as curl's curlx.h is between libcurl and the curl tool:
 * the library functions pkiroll-ca may call beyond the public API
 * (pkiroll.h), and no other. cmd/pkiroll-ca includes this header and none
 * of the layer headers; no file of lib/ includes it.
 *
 * The types come with the layer headers below. Each function is declared
 * again here, after the header that declares it: the compiler checks that
 * the two agree, and this list reads as the contract. tests/layers.sh
 * checks it with nm: pkiroll-ca's objects call no library function that is
 * neither here nor public, and each one here is called. A function
 * pkiroll-ca starts to use is added here, one a line, in its layer.
 */
#ifndef PKIROLL_CA_INTERNAL_H
#define PKIROLL_CA_INTERNAL_H

#include "base/base.h"
#include "base/fileio.h"
#include "x509/certinfo.h"
#include "x509/dn.h"
#include "x509/keys.h"
#include "cmp/cmp.h"
#include "cmp/cmp_server.h"
#include "cmp/transport.h"
#include "input/manifest.h"

/* ---- base: context, clock, key-type names, files ---- */

long long base_now_ms(void);
const char *base_key_type_name(int type);
int base_key_type_from_name(const char *name);
int file_atomic_write(const char *dir, const char *name, const void *data, size_t len, int mode,
		      int durable);

/* ---- x509: names, certificates, keys ---- */

X509_NAME *dn_parse(const char *s, char *err, size_t errlen);
char *dn_format(const X509_NAME *name);
X509 *certinfo_read(const char *dir, const char *name, int pem);
EVP_PKEY *keys_generate(int key_type);

/* ---- cmp: the ASN.1 types pkiroll-ca makes, decodes and frees ---- */

PKR_MSG *d2i_PKR_MSG(PKR_MSG **a, const unsigned char **in, long len);
int i2d_PKR_MSG(const PKR_MSG *a, unsigned char **out);
void PKR_MSG_free(PKR_MSG *a);
void PKR_HEADER_free(PKR_HEADER *a);
PKR_CERTREPMSG *PKR_CERTREPMSG_new(void);
void PKR_CERTREQMSG_free(PKR_CERTREQMSG *a);
PKR_CERTTEMPLATE *d2i_PKR_CERTTEMPLATE(PKR_CERTTEMPLATE **a, const unsigned char **in, long len);
void PKR_CERTTEMPLATE_free(PKR_CERTTEMPLATE *a);
PKR_POLLREP *PKR_POLLREP_new(void);
PKR_REVREP *PKR_REVREP_new(void);
PKR_ITAV *PKR_ITAV_new(void);
const char *cmp_body_name(int type);

/* ---- cmp: messages, protection, status ---- */

PKR_HEADER *cmp_hdr_new(const struct cmp_hdr_args *a);
int cmp_hdr_implicit_confirm(const PKR_HEADER *h);
int cmp_random(unsigned char *buf, size_t n);
int cmp_msg_protect(PKR_MSG *m, const struct cmp_protection *p, char *err, size_t errlen);
int cmp_msg_encode(const PKR_MSG *m, unsigned char **der, size_t *len);
PKR_MSG *cmp_msg_decode(const unsigned char *der, size_t len, char *err, size_t errlen);
int cmp_verify_pbm(const unsigned char *der, size_t len, const PKR_MSG *m,
		   const unsigned char *secret, size_t secret_len, char *err, size_t errlen);
int cmp_verify_sig(const unsigned char *der, size_t len, const PKR_MSG *m, X509_STORE *trust,
		   STACK_OF(X509) * untrusted, X509 **signer, char *err, size_t errlen);
int cmp_pkisi_status(const PKR_PKISI *si);
PKR_PKISI *cmp_pkisi_new(int status, unsigned long failbits, const char *text);
const char *cmp_failinfo_name(int bit);
const char *cmp_status_name(int status);
void cmp_error_text(const PKR_ERRMSG *e, char *buf, size_t len);
PKR_ENCVAL *cmp_encval_encrypt(EVP_PKEY *key, EVP_PKEY *recipient, const EVP_CIPHER *cipher,
			       int oaep);

/* ---- cmp: the CA side (cmp_server.c) ---- */

PKR_MSG *cmp_srv_reply_new(const PKR_MSG *req, const X509_NAME *sender, int implicit_confirm);
PKR_MSG *cmp_srv_error_new(const PKR_MSG *req, const X509_NAME *sender, int status,
			   unsigned long failbits, const char *text);
PKR_CERTREQMSG *cmp_srv_certreq(const OSSL_CRMF_MSGS *msgs, int n);
EVP_PKEY *cmp_srv_protocol_encr_key(const PKR_CERTREQMSG *m);
int cmp_srv_old_cert_id(const PKR_CERTREQMSG *m, X509_NAME **issuer, ASN1_INTEGER **serial);
PKR_CERTRESP *cmp_srv_certresp(int id, PKR_PKISI *si, X509 *cert, PKR_ENCVAL *privkey);

/* ---- cmp: the TCP framings (transport.c) ---- */

int tcp_frame_read(int fd, int *v10, int *flags, int *type, unsigned char **payload, size_t *n,
		   long long deadline_ms, char *err, size_t errlen);
int tcp_frame_write(int fd, int v10, int flags, int type, const unsigned char *p, size_t n,
		    long long deadline_ms);

/* ---- input: users from a manifest ---- */

struct manifest *manifest_open(pkiroll_ctx *ctx, const char *path,
			       const struct pkiroll_manifest_opts *opts, int *err);
int manifest_next_row(struct manifest *m, const struct manifest_row **row);
void manifest_close(struct manifest *m);
int manifest_resolve_code(const char *value, int insecure_files, char *out, size_t outlen,
			  char *err, size_t errlen);

#endif
