/*
 * pkiroll-ca's certificate policy: the extensions and lifetimes of what it
 * issues (see mint.h).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mint.h"

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	int ok = e != NULL && X509_add_ext(x, e, -1);

	X509_EXTENSION_free(e);
	return ok;
}

/* Copies a SubjectPublicKeyInfo field by field: X509_PUBKEY_set() would
 * encode and decode the key again, which costs more than the signature. */
static int spki_copy(X509_PUBKEY *dst, const PKR_SPKI *src)
{
	const unsigned char *pk = src->subjectPublicKey->data;
	int pklen = src->subjectPublicKey->length, ptype;
	const ASN1_OBJECT *obj;
	const void *pval;
	ASN1_OBJECT *o = NULL;
	void *pv = NULL;
	unsigned char *enc = NULL;

	/* keys are whole octets (RFC 5480 2.2, RFC 3279 2.3.1) */
	if (pklen <= 0 || (src->subjectPublicKey->flags & 0x07) != 0)
		return 0;
	X509_ALGOR_get0(&obj, &ptype, &pval, src->algorithm);
	if ((o = OBJ_dup(obj)) == NULL)
		goto fail;
	if (ptype == V_ASN1_OBJECT)
		pv = OBJ_dup(pval);
	else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		pv = ASN1_STRING_dup(pval);
	if ((pval != NULL && ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF && pv == NULL) ||
	    (enc = OPENSSL_memdup(pk, (size_t)pklen)) == NULL ||
	    !X509_PUBKEY_set0_param(dst, o, ptype, pv, enc, pklen))
		goto fail;
	return 1;
fail:
	ASN1_OBJECT_free(o);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pv);
	else
		ASN1_STRING_free(pv);
	OPENSSL_free(enc);
	return 0;
}

/* An EC key's SubjectPublicKeyInfo from its encoded point and curve
 * (RFC 5480 2.1.1), without X509_PUBKEY_set()'s encode and decode.
 * 0 for any other key: the caller takes the general way. The certificate
 * then has no decoded key in memory (OpenSSL 3.0's X509_get0_pubkey()
 * gives NULL until it is parsed again): for what leaves as DER only, never
 * for a CA certificate that verifies in this process. */
static int spki_of_ec(X509_PUBKEY *dst, EVP_PKEY *pub)
{
	unsigned char point[256], *enc = NULL;
	char curve[64];
	size_t len = 0;
	int nid;

	if (!EVP_PKEY_is_a(pub, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve),
					    NULL) ||
	    (nid = OBJ_sn2nid(curve)) == NID_undef ||
	    !EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					     sizeof(point), &len) ||
	    len == 0 || (enc = OPENSSL_memdup(point, len)) == NULL)
		goto fail;
	if (X509_PUBKEY_set0_param(dst, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
				   OBJ_nid2obj(nid), enc, (int)len))
		return 1;
fail:
	OPENSSL_free(enc);
	ERR_clear_error();
	return 0;
}

X509 *ca_mint(X509 *ca_cert, EVP_PKEY *ca_key, const X509_NAME *subject, EVP_PKEY *pub,
	      const PKR_SPKI *spki, int usage, long seconds)
{
	unsigned char rnd[16];
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	X509V3_CTX v3;
	int ok = 0;

	if (x == NULL || cmp_random(rnd, sizeof(rnd)) < 0)
		goto out;
	rnd[0] &= 0x7f; /* positive */
	rnd[0] |= 0x40; /* and 16 bytes long */
	if ((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_version(x, X509_VERSION_3) || !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, ca_cert ? X509_get_subject_name(ca_cert) : subject) ||
	    !(spki != NULL ? spki_copy(X509_get_X509_PUBKEY(x), spki)
			   : (usage != MINT_CA && spki_of_ec(X509_get_X509_PUBKEY(x), pub)) ||
				     X509_set_pubkey(x, pub)) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), seconds) == NULL)
		goto out;
	X509V3_set_ctx(&v3, ca_cert ? ca_cert : x, x, NULL, NULL, 0);
	switch (usage) {
	case MINT_CA:
		ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE") &&
		     add_ext(x, &v3, NID_key_usage,
			     "critical,digitalSignature,keyCertSign,cRLSign");
		break;
	case MINT_TLS_SERVER:
		/* for the test CA's HTTPS listener on loopback */
		ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(x, &v3, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
		     add_ext(x, &v3, NID_ext_key_usage, "serverAuth") &&
		     add_ext(x, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
		break;
	case MINT_ENCRYPTION:
		ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(x, &v3, NID_key_usage,
			     pub != NULL && EVP_PKEY_is_a(pub, "EC")
				     ? "critical,keyAgreement"
				     : "critical,keyEncipherment,dataEncipherment");
		break;
	default:
		ok = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(x, &v3, NID_key_usage, "critical,digitalSignature,nonRepudiation");
	}
	ok = ok && add_ext(x, &v3, NID_subject_key_identifier, "hash") &&
	     (ca_cert == NULL && usage != MINT_CA
		      ? 1
		      : add_ext(x, &v3, NID_authority_key_identifier, "keyid:always")) &&
	     X509_sign(x, ca_key, EVP_sha256()) > 0;
out:
	ERR_clear_error();
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}
