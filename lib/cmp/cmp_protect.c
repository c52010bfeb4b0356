/*
 * Message protection (RFC 4210 5.1.3): password-based MAC and signatures,
 * both over DER(ProtectedPart). Received messages are verified over the
 * header and body bytes exactly as they arrived, never a re-encoding.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cmp/cmp.h"

/* PBMParameter (RFC 4210 5.1.3.1), mirrored to read the iteration count. */
typedef struct {
	ASN1_OCTET_STRING *salt;
	X509_ALGOR *owf;
	ASN1_INTEGER *iterationCount;
	X509_ALGOR *mac;
} PKR_PBMPARAM;
DECLARE_ASN1_FUNCTIONS(PKR_PBMPARAM)
ASN1_SEQUENCE(PKR_PBMPARAM) =
	{
		ASN1_SIMPLE(PKR_PBMPARAM, salt, ASN1_OCTET_STRING),
		ASN1_SIMPLE(PKR_PBMPARAM, owf, X509_ALGOR),
		ASN1_SIMPLE(PKR_PBMPARAM, iterationCount, ASN1_INTEGER),
		ASN1_SIMPLE(PKR_PBMPARAM, mac, X509_ALGOR),
} ASN1_SEQUENCE_END(PKR_PBMPARAM) IMPLEMENT_ASN1_FUNCTIONS(PKR_PBMPARAM)

#define MAX_SALT 128

	/* Digest for a MAC algorithm of PBM, or NULL. */
	static const EVP_MD
	* mac_md(int nid)
{
	switch (nid) {
	case NID_hmac_sha1:
	case NID_hmacWithSHA1:
		return EVP_sha1();
	case NID_hmacWithSHA224:
		return EVP_sha224();
	case NID_hmacWithSHA256:
		return EVP_sha256();
	case NID_hmacWithSHA384:
		return EVP_sha384();
	case NID_hmacWithSHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static const EVP_MD *owf_md(int nid)
{
	switch (nid) {
	case NID_sha1:
	case NID_sha224:
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
		return EVP_get_digestbynid(nid);
	default:
		return NULL;
	}
}

/*
 * MAC = HMAC(BASEKEY, data), BASEKEY = OWF^iterations(secret || salt).
 * Returns the MAC length or -1.
 */
/*
 * The last BASEKEY this thread computed. A transaction's messages share one
 * PBMParameter (the reply and certConf reuse the request's), so a client
 * derives its key once per transaction instead of four times; the secret
 * itself is not kept, only its SHA-256 to recognise it.
 */
static __thread struct {
	int valid, owf;
	long iter;
	unsigned char salt[MAX_SALT], secret_hash[32], key[EVP_MAX_MD_SIZE];
	int salt_len;
	unsigned int klen;
} last_basekey;

static int pbm_compute(const PKR_PBMPARAM *pp, const unsigned char *secret, size_t secret_len,
		       const unsigned char *data, size_t len, unsigned char *mac, char *err,
		       size_t errlen)
{
	unsigned char sh[32];
	const EVP_MD *owf_implicit = owf_md(OBJ_obj2nid(pp->owf->algorithm));
	EVP_MD *owf = NULL; /* fetched once: an implicit fetch per round costs more than the hash */
	const EVP_MD *md = mac_md(OBJ_obj2nid(pp->mac->algorithm));
	unsigned char key[EVP_MAX_MD_SIZE];
	unsigned int klen = 0;
	size_t maclen = 0;
	long iter = ASN1_INTEGER_get(pp->iterationCount);
	EVP_MD_CTX *c = NULL;
	int rc = -1;

	if (owf_implicit == NULL || md == NULL) {
		snprintf(err, errlen, "RFC 4210 5.1.3.1: unsupported PBM %s",
			 owf_implicit == NULL ? "one-way function" : "MAC algorithm");
		return -1;
	}
	if (iter < 1 || iter > CMP_PBM_MAX_ITER) {
		snprintf(err, errlen, "RFC 4210 5.1.3.1: PBM iteration count %ld outside 1..%d",
			 iter, CMP_PBM_MAX_ITER);
		return -1;
	}
	if (pp->salt->length > MAX_SALT) {
		snprintf(err, errlen, "RFC 4210 5.1.3.1: PBM salt of %d bytes", pp->salt->length);
		return -1;
	}
	if (!EVP_Digest(secret, secret_len, sh, NULL, EVP_sha256(), NULL))
		goto out;
	if (last_basekey.valid && last_basekey.owf == EVP_MD_get_type(owf_implicit) &&
	    last_basekey.iter == iter && last_basekey.salt_len == pp->salt->length &&
	    memcmp(last_basekey.salt, pp->salt->data, (size_t)pp->salt->length) == 0 &&
	    CRYPTO_memcmp(last_basekey.secret_hash, sh, sizeof(sh)) == 0) {
		memcpy(key, last_basekey.key, last_basekey.klen);
		klen = last_basekey.klen;
	} else {
		if ((owf = EVP_MD_fetch(NULL, EVP_MD_get0_name(owf_implicit), NULL)) == NULL ||
		    (c = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(c, owf, NULL) ||
		    !EVP_DigestUpdate(c, secret, secret_len) ||
		    !EVP_DigestUpdate(c, pp->salt->data, (size_t)pp->salt->length) ||
		    !EVP_DigestFinal_ex(c, key, &klen))
			goto out;
		for (long i = 1; i < iter; i++)
			if (!EVP_DigestInit_ex(c, owf, NULL) || !EVP_DigestUpdate(c, key, klen) ||
			    !EVP_DigestFinal_ex(c, key, &klen))
				goto out;
		OPENSSL_cleanse(&last_basekey, sizeof(last_basekey));
		last_basekey.owf = EVP_MD_get_type(owf_implicit);
		last_basekey.iter = iter;
		last_basekey.salt_len = pp->salt->length;
		memcpy(last_basekey.salt, pp->salt->data, (size_t)pp->salt->length);
		memcpy(last_basekey.secret_hash, sh, sizeof(sh));
		memcpy(last_basekey.key, key, klen);
		last_basekey.klen = klen;
		last_basekey.valid = 1;
	}
	if (EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md), NULL, key, klen, data, len, mac,
		      EVP_MAX_MD_SIZE, &maclen) == NULL)
		goto out;
	rc = (int)maclen;
out:
	if (rc < 0 && err[0] == '\0')
		snprintf(err, errlen, "PBM computation failed");
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(sh, sizeof(sh));
	EVP_MD_CTX_free(c);
	EVP_MD_free(owf);
	ERR_clear_error();
	return rc;
}

X509_ALGOR *cmp_pbm_alg_new(const struct cmp_pbm_params *p)
{
	PKR_PBMPARAM *pp = PKR_PBMPARAM_new();
	unsigned char salt[MAX_SALT], *der = NULL;
	ASN1_STRING *seq = NULL;
	X509_ALGOR *alg = NULL;
	int n, salt_len = p->salt_len > 0 && p->salt_len <= MAX_SALT ? p->salt_len : 16;

	if (pp == NULL || cmp_random(salt, (size_t)salt_len) < 0 ||
	    !ASN1_OCTET_STRING_set(pp->salt, salt, salt_len) ||
	    !X509_ALGOR_set0(pp->owf, OBJ_nid2obj(p->owf_nid ? p->owf_nid : NID_sha256),
			     V_ASN1_UNDEF, NULL) ||
	    !X509_ALGOR_set0(pp->mac, OBJ_nid2obj(p->mac_nid ? p->mac_nid : NID_hmacWithSHA256),
			     V_ASN1_UNDEF, NULL) ||
	    !ASN1_INTEGER_set(pp->iterationCount, p->iterations ? p->iterations : 500))
		goto out;
	if ((n = i2d_PKR_PBMPARAM(pp, &der)) <= 0 || (seq = ASN1_STRING_new()) == NULL ||
	    !ASN1_STRING_set(seq, der, n) || (alg = X509_ALGOR_new()) == NULL)
		goto out;
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_id_PasswordBasedMAC), V_ASN1_SEQUENCE, seq)) {
		X509_ALGOR_free(alg);
		alg = NULL;
		goto out;
	}
	seq = NULL;
out:
	ASN1_STRING_free(seq);
	OPENSSL_free(der);
	PKR_PBMPARAM_free(pp);
	return alg;
}

static PKR_PBMPARAM *pbm_params(const X509_ALGOR *alg)
{
	const ASN1_STRING *s;
	const unsigned char *p;

	if (alg == NULL || OBJ_obj2nid(alg->algorithm) != NID_id_PasswordBasedMAC ||
	    alg->parameter == NULL || alg->parameter->type != V_ASN1_SEQUENCE)
		return NULL;
	s = alg->parameter->value.sequence;
	p = s->data;
	return d2i_PKR_PBMPARAM(NULL, &p, s->length);
}

/* DER of ProtectedPart from the structures (for messages we build). */
static int protpart_der(const PKR_MSG *m, unsigned char **der)
{
	PKR_PROTPART pp = {m->header, m->body};

	*der = NULL;
	return ASN1_item_i2d((ASN1_VALUE *)&pp, der, ASN1_ITEM_rptr(PKR_PROTPART));
}

/*
 * DER of ProtectedPart from the bytes as received: SEQUENCE { header-TLV,
 * body-TLV } cut out of the PKIMessage. *out is OPENSSL_malloc'd.
 */
static int protpart_raw(const unsigned char *der, size_t len, unsigned char **out, size_t *outlen)
{
	const unsigned char *p = der, *start;
	long l;
	int tag, class, r, total;
	size_t inner;

	r = ASN1_get_object(&p, &l, &tag, &class, (long)len);
	if (r & 0x80)
		return -1;
	start = p;
	for (int i = 0; i < 2; i++) {
		const unsigned char *q = p;

		r = ASN1_get_object(&p, &l, &tag, &class, (long)(len - (size_t)(p - der)));
		if ((r & 0x80) || (size_t)(p - der) + (size_t)l > len)
			return -1;
		p += l;
		(void)q;
	}
	inner = (size_t)(p - start);
	total = ASN1_object_size(1, (int)inner, V_ASN1_SEQUENCE);
	if (total <= 0 || (*out = OPENSSL_malloc((size_t)total)) == NULL)
		return -1;
	{
		unsigned char *w = *out;

		ASN1_put_object(&w, 1, (int)inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
		memcpy(w, start, inner);
	}
	*outlen = (size_t)total;
	return 0;
}

static int set_kid(PKR_HEADER *h, const unsigned char *kid, size_t n)
{
	ASN1_OCTET_STRING_free(h->senderKID);
	h->senderKID = NULL;
	if (kid == NULL)
		return 0;
	if ((h->senderKID = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(h->senderKID, kid, (int)n))
		return -1;
	return 0;
}

static int protect_pbm(PKR_MSG *m, const struct cmp_protection *p, char *err, size_t errlen)
{
	unsigned char *der = NULL, mac[EVP_MAX_MD_SIZE];
	PKR_PBMPARAM *pp = NULL;
	int n, maclen, rc = -1;

	X509_ALGOR_free(m->header->protectionAlg);
	m->header->protectionAlg =
		p->pbm_reuse != NULL ? X509_ALGOR_dup(p->pbm_reuse) : cmp_pbm_alg_new(&p->pbm);
	if (m->header->protectionAlg == NULL ||
	    (pp = pbm_params(m->header->protectionAlg)) == NULL) {
		snprintf(err, errlen, "cannot build PBM parameters");
		goto out;
	}
	if (set_kid(m->header, (const unsigned char *)p->reference,
		    p->reference ? strlen(p->reference) : 0) < 0 ||
	    (n = protpart_der(m, &der)) <= 0) {
		snprintf(err, errlen, "cannot encode ProtectedPart");
		goto out;
	}
	err[0] = '\0';
	if ((maclen = pbm_compute(pp, p->secret, p->secret_len, der, (size_t)n, mac, err, errlen)) <
	    0)
		goto out;
	ASN1_BIT_STRING_free(m->protection);
	if ((m->protection = ASN1_BIT_STRING_new()) == NULL ||
	    !cmp_octets_to_bits(m->protection, mac, (size_t)maclen))
		goto out;
	rc = 0;
out:
	OPENSSL_free(der);
	PKR_PBMPARAM_free(pp);
	return rc;
}

static int protect_sig(PKR_MSG *m, const struct cmp_protection *p, char *err, size_t errlen)
{
	int md_nid = p->md_nid ? p->md_nid : NID_sha256, sig_nid, n, rc = -1;
	unsigned char *der = NULL, *sig = NULL;
	const ASN1_OCTET_STRING *ski;
	EVP_MD_CTX *c = NULL;
	size_t siglen = 0;

	if (p->key == NULL || p->cert == NULL) {
		snprintf(err, errlen, "signature protection needs a key and its certificate");
		return -1;
	}
	if (!OBJ_find_sigid_by_algs(&sig_nid, md_nid, EVP_PKEY_get_base_id(p->key))) {
		snprintf(err, errlen, "no signature algorithm for this key and digest");
		return -1;
	}
	X509_ALGOR_free(m->header->protectionAlg);
	if ((m->header->protectionAlg = X509_ALGOR_new()) == NULL ||
	    !X509_ALGOR_set0(m->header->protectionAlg, OBJ_nid2obj(sig_nid),
			     EVP_PKEY_get_base_id(p->key) == EVP_PKEY_RSA ? V_ASN1_NULL
									  : V_ASN1_UNDEF,
			     NULL))
		goto out;
	/* RFC 4210 5.1.1: senderKID identifies the key; use the SKI */
	ski = p->bare ? NULL : X509_get0_subject_key_id(p->cert);
	if (set_kid(m->header, ski ? ski->data : NULL, ski ? (size_t)ski->length : 0) < 0)
		goto out;
	/* RFC 4210 5.1.1: sender is the subject of the protecting certificate */
	{
		GENERAL_NAME *gn = cmp_dirname(X509_get_subject_name(p->cert));

		if (gn == NULL)
			goto out;
		GENERAL_NAME_free(m->header->sender);
		m->header->sender = gn;
	}
	if ((n = protpart_der(m, &der)) <= 0 || (c = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(c, NULL, OBJ_nid2sn(md_nid), NULL, NULL, p->key, NULL) <= 0 ||
	    EVP_DigestSign(c, NULL, &siglen, der, (size_t)n) <= 0 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(c, sig, &siglen, der, (size_t)n) <= 0)
		goto out;
	ASN1_BIT_STRING_free(m->protection);
	if ((m->protection = ASN1_BIT_STRING_new()) == NULL ||
	    !cmp_octets_to_bits(m->protection, sig, siglen))
		goto out;
	/* RFC 4210 5.1.1: the protecting certificate comes first in extraCerts */
	sk_X509_pop_free(m->extraCerts, X509_free);
	m->extraCerts = NULL;
	if (p->bare) {
		rc = 0;
		goto out;
	}
	if ((m->extraCerts = sk_X509_new_null()) == NULL ||
	    !X509_add_cert(m->extraCerts, p->cert, X509_ADD_FLAG_UP_REF))
		goto out;
	for (int i = 0; i < sk_X509_num(p->chain); i++)
		if (!X509_add_cert(m->extraCerts, sk_X509_value(p->chain, i),
				   X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP))
			goto out;
	rc = 0;
out:
	if (rc < 0 && err[0] == '\0') {
		unsigned long e = ERR_peek_error();

		snprintf(err, errlen, "signing the message failed (%s)",
			 e ? ERR_reason_error_string(e) : "?");
	}
	ERR_clear_error();
	OPENSSL_free(der);
	OPENSSL_free(sig);
	EVP_MD_CTX_free(c);
	return rc;
}

int cmp_msg_protect(PKR_MSG *m, const struct cmp_protection *p, char *err, size_t errlen)
{
	err[0] = '\0';
	switch (p->type) {
	case CMP_PROT_NONE:
		X509_ALGOR_free(m->header->protectionAlg);
		m->header->protectionAlg = NULL;
		ASN1_BIT_STRING_free(m->protection);
		m->protection = NULL;
		return 0;
	case CMP_PROT_PBM:
		return protect_pbm(m, p, err, errlen);
	case CMP_PROT_SIG:
		return protect_sig(m, p, err, errlen);
	}
	return -1;
}

int cmp_verify_pbm(const unsigned char *der, size_t len, const PKR_MSG *m,
		   const unsigned char *secret, size_t secret_len, char *err, size_t errlen)
{
	unsigned char *pp_der = NULL, mac[EVP_MAX_MD_SIZE];
	PKR_PBMPARAM *pp = NULL;
	size_t pp_len = 0;
	int maclen, rc;

	err[0] = '\0';
	if (m->header->protectionAlg == NULL || m->protection == NULL) {
		snprintf(err, errlen, "RFC 4210 5.1.3: message is not protected");
		return CMP_VERIFY_UNPROTECTED;
	}
	if ((pp = pbm_params(m->header->protectionAlg)) == NULL) {
		char oid[80];

		OBJ_obj2txt(oid, sizeof(oid), m->header->protectionAlg->algorithm, 0);
		snprintf(err, errlen, "RFC 4210 5.1.3.1: protection is %s, not password-based MAC",
			 oid);
		rc = CMP_VERIFY_UNSUPPORTED;
		goto out;
	}
	if (protpart_raw(der, len, &pp_der, &pp_len) < 0) {
		snprintf(err, errlen, "cannot find the protected part");
		rc = CMP_VERIFY_BAD;
		goto out;
	}
	if ((maclen = pbm_compute(pp, secret, secret_len, pp_der, pp_len, mac, err, errlen)) < 0) {
		rc = CMP_VERIFY_UNSUPPORTED;
		goto out;
	}
	if (maclen != m->protection->length ||
	    CRYPTO_memcmp(mac, m->protection->data, (size_t)maclen) != 0) {
		snprintf(err, errlen,
			 "RFC 4210 5.1.3.1: PBM mismatch (wrong authorization code, or altered "
			 "message)");
		rc = CMP_VERIFY_BAD;
		goto out;
	}
	rc = CMP_VERIFY_OK;
out:
	/* a failed check is data: leave no OpenSSL error behind (as cmp_verify_sig) */
	ERR_clear_error();
	OPENSSL_free(pp_der);
	PKR_PBMPARAM_free(pp);
	return rc;
}

/* The extraCerts certificate whose SKI is senderKID, else the first. */
/* Is x the certificate the sender names: senderKID as its key identifier,
 * else the sender's directoryName as its subject? */
static int names_signer(X509 *x, const PKR_MSG *m)
{
	const ASN1_OCTET_STRING *kid = m->header->senderKID, *ski = X509_get0_subject_key_id(x);
	const GENERAL_NAME *sender = m->header->sender;

	if (kid != NULL && ski != NULL)
		return ASN1_OCTET_STRING_cmp(ski, kid) == 0;
	return sender != NULL && sender->type == GEN_DIRNAME &&
	       X509_NAME_cmp(sender->d.directoryName, X509_get_subject_name(x)) == 0;
}

/*
 * The protecting certificate: in extraCerts (RFC 4210 5.1.1: first, or the
 * one senderKID names). Without extraCerts the receiver may know it already
 * (RFC 4210 5.1.3.3): among the untrusted and the trusted certificates, the
 * one the sender names. Borrowed; NULL if none.
 */
static X509 *find_signer(const PKR_MSG *m, STACK_OF(X509) * untrusted, X509_STORE *trust)
{
	const ASN1_OCTET_STRING *kid = m->header->senderKID;
	STACK_OF(X509_OBJECT) *objs = trust != NULL ? X509_STORE_get0_objects(trust) : NULL;

	for (int i = 0; kid != NULL && i < sk_X509_num(m->extraCerts); i++) {
		const ASN1_OCTET_STRING *ski =
			X509_get0_subject_key_id(sk_X509_value(m->extraCerts, i));

		if (ski != NULL && ASN1_OCTET_STRING_cmp(ski, kid) == 0)
			return sk_X509_value(m->extraCerts, i);
	}
	if (sk_X509_num(m->extraCerts) > 0)
		return sk_X509_value(m->extraCerts, 0);
	for (int i = 0; i < sk_X509_num(untrusted); i++)
		if (names_signer(sk_X509_value(untrusted, i), m))
			return sk_X509_value(untrusted, i);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (x != NULL && names_signer(x, m))
			return x;
	}
	return NULL;
}

int cmp_verify_sig(const unsigned char *der, size_t len, const PKR_MSG *m, X509_STORE *trust,
		   STACK_OF(X509) * untrusted, X509 **signer, char *err, size_t errlen)
{
	int sig_nid =
		OBJ_obj2nid(m->header->protectionAlg ? m->header->protectionAlg->algorithm : NULL);
	int md_nid, pk_nid, rc = CMP_VERIFY_BAD;
	STACK_OF(X509) *chain_help = NULL;
	X509_STORE_CTX *sc = NULL;
	unsigned char *pp_der = NULL;
	EVP_MD_CTX *c = NULL;
	size_t pp_len = 0;
	X509 *cert;

	err[0] = '\0';
	if (m->header->protectionAlg == NULL || m->protection == NULL) {
		snprintf(err, errlen, "RFC 4210 5.1.3: message is not protected");
		return CMP_VERIFY_UNPROTECTED;
	}
	if (!OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid) || md_nid == NID_undef) {
		snprintf(err, errlen, "RFC 4210 5.1.3.3: protection algorithm is not a signature");
		return CMP_VERIFY_UNSUPPORTED;
	}
	if ((cert = find_signer(m, untrusted, trust)) == NULL) {
		snprintf(err, errlen,
			 "RFC 4210 5.1.3.3: the signer's certificate is neither in extraCerts nor "
			 "known here");
		return CMP_VERIFY_UNTRUSTED;
	}

	/* Phase: the signature over the protected part as received. */
	if (protpart_raw(der, len, &pp_der, &pp_len) < 0) {
		snprintf(err, errlen, "cannot find the protected part");
		goto out;
	}
	if ((c = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(c, NULL, OBJ_nid2sn(md_nid), NULL, NULL, X509_get0_pubkey(cert),
				    NULL) <= 0 ||
	    EVP_DigestVerify(c, m->protection->data, (size_t)m->protection->length, pp_der,
			     pp_len) != 1) {
		snprintf(err, errlen, "RFC 4210 5.1.3.3: signature does not verify");
		goto out;
	}

	/* Phase: the signer's certificate chains to the trust anchor. */
	rc = CMP_VERIFY_UNTRUSTED;
	if (trust == NULL) {
		snprintf(err, errlen, "no trust anchor to check the signer against");
		goto out;
	}
	if ((chain_help = sk_X509_new_null()) == NULL ||
	    !X509_add_certs(chain_help, m->extraCerts, X509_ADD_FLAG_UP_REF) ||
	    !X509_add_certs(chain_help, untrusted, X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP) ||
	    (sc = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(sc, trust, cert, chain_help))
		goto out;
	if (X509_verify_cert(sc) != 1) {
		snprintf(err, errlen, "signer \"%s\" is not trusted: %s",
			 X509_NAME_oneline(X509_get_subject_name(cert), (char[256]){0}, 256),
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sc)));
		goto out;
	}
	if (signer != NULL) {
		X509_up_ref(cert);
		*signer = cert;
	}
	rc = CMP_VERIFY_OK;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(sc);
	sk_X509_pop_free(chain_help, X509_free);
	EVP_MD_CTX_free(c);
	OPENSSL_free(pp_der);
	return rc;
}
