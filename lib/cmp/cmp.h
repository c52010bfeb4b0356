/*
 * CMP messages: building, encoding, decoding and protecting PKIMessages
 * (RFC 4210 / RFC 9810), and reading PKIStatusInfo. The client transaction
 * is in cmp_client.h; the types are in cmp_asn1.h.
 */
#ifndef PKIROLL_CMP_H
#define PKIROLL_CMP_H

#include <stddef.h>

#include "cmp/cmp_asn1.h"
#include "base/base.h"

#define CMP_NONCE_LEN 16
#define CMP_MAX_MSG (1024 * 1024) /* bound on any message we accept */
#define CMP_PBM_MAX_ITER 100000	  /* a reply asking for more is refused */

/* PBM parameters of outgoing messages (a CA profile's choice). */
struct cmp_pbm_params {
	int owf_nid; /* NID_sha1, NID_sha256 */
	int mac_nid; /* NID_hmac_sha1, NID_hmacWithSHA1, NID_hmacWithSHA256 */
	int iterations;
	int salt_len;
};

/* How an outgoing message is protected. */
struct cmp_protection {
	enum { CMP_PROT_NONE = 0, CMP_PROT_PBM, CMP_PROT_SIG } type;
	/* PBM */
	const unsigned char *secret;
	size_t secret_len;
	const char *reference; /* senderKID */
	struct cmp_pbm_params pbm;
	const X509_ALGOR *pbm_reuse; /* reuse these parameters (certConf) */
	/* signature */
	EVP_PKEY *key;
	X509 *cert;		/* first in extraCerts; SKI is senderKID */
	STACK_OF(X509) * chain; /* further extraCerts */
	int md_nid;		/* digest for the signature, e.g. NID_sha256 */
	int bare;		/* no senderKID, no extraCerts: the receiver knows the
				 * signer already (RFC 4210 5.1.3.3) */
};

/* Header fields of a new message. */
struct cmp_hdr_args {
	int pvno;			   /* 2, or 3 for RFC 9810 features */
	const X509_NAME *sender;	   /* NULL: NULL-DN */
	const X509_NAME *recipient;	   /* NULL: NULL-DN */
	const unsigned char *tid;	   /* CMP_NONCE_LEN bytes */
	const unsigned char *sender_nonce; /* CMP_NONCE_LEN bytes */
	const ASN1_OCTET_STRING *recip_nonce;
	int implicit_confirm; /* generalInfo id-it-implicitConfirm */
};

/* A new header; NULL on error. Caller frees with PKR_HEADER_free(). */
PKR_HEADER *cmp_hdr_new(const struct cmp_hdr_args *a);

/* A directoryName GeneralName of name (NULL: the NULL-DN). Caller frees. */
GENERAL_NAME *cmp_dirname(const X509_NAME *name);

/* 1 if the header carries generalInfo id-it-implicitConfirm. */
int cmp_hdr_implicit_confirm(const PKR_HEADER *h);

/*
 * Sets a BIT STRING that holds octets (a MAC, a signature, ciphertext):
 * without this, OpenSSL's encoder drops trailing zero octets and counts
 * trailing zero bits as unused, which corrupts about one value in 256.
 * Returns 1 or 0, like ASN1_BIT_STRING_set().
 */
int cmp_octets_to_bits(ASN1_BIT_STRING *bs, const unsigned char *p, size_t n);

/* Fills buf with n random bytes. Returns 0 or -1. */
int cmp_random(unsigned char *buf, size_t n);

/*
 * Protects m (sets protectionAlg, senderKID, protection, and extraCerts for
 * signatures). Returns 0, or -1 with err set.
 */
int cmp_msg_protect(PKR_MSG *m, const struct cmp_protection *p, char *err, size_t errlen);

/* DER of a message; *der is OPENSSL_malloc'd. Returns 0 or -1. */
int cmp_msg_encode(const PKR_MSG *m, unsigned char **der, size_t *len);

/*
 * Decodes a PKIMessage: exactly one DER SEQUENCE, nothing after it, at most
 * CMP_MAX_MSG bytes. Returns NULL with err set.
 */
PKR_MSG *cmp_msg_decode(const unsigned char *der, size_t len, char *err, size_t errlen);

enum cmp_verify {
	CMP_VERIFY_OK = 0,
	CMP_VERIFY_UNPROTECTED, /* no protection at all */
	CMP_VERIFY_BAD,		/* protection present but wrong (MAC, signature) */
	CMP_VERIFY_UNSUPPORTED, /* algorithm or parameters refused */
	CMP_VERIFY_UNTRUSTED,	/* signer's certificate does not chain */
};

/*
 * Verifies the password-based MAC of a received message over the bytes as
 * received. Returns an enum cmp_verify; err says why.
 */
int cmp_verify_pbm(const unsigned char *der, size_t len, const PKR_MSG *m,
		   const unsigned char *secret, size_t secret_len, char *err, size_t errlen);

/*
 * Verifies a signature-protected message: the signer is the extraCerts
 * certificate whose SKI matches senderKID (else the first), its chain must
 * reach a certificate in trust (extraCerts and untrusted may help). On OK,
 * *signer (if not NULL) gets a new reference to the signer's certificate.
 */
int cmp_verify_sig(const unsigned char *der, size_t len, const PKR_MSG *m, X509_STORE *trust,
		   STACK_OF(X509) * untrusted, X509 **signer, char *err, size_t errlen);

/* Builds the OWF+MAC parameters as an AlgorithmIdentifier (for tests/CA). */
X509_ALGOR *cmp_pbm_alg_new(const struct cmp_pbm_params *p);

/* ---- PKIStatusInfo ---- */

enum cmp_status {
	CMP_ST_ACCEPTED = 0,
	CMP_ST_GRANTED_WITH_MODS = 1,
	CMP_ST_REJECTION = 2,
	CMP_ST_WAITING = 3,
	CMP_ST_REVOCATION_WARNING = 4,
	CMP_ST_REVOCATION_NOTIFICATION = 5,
	CMP_ST_KEY_UPDATE_WARNING = 6,
};

/* Status value, or -1 if missing or out of range. */
int cmp_pkisi_status(const PKR_PKISI *si);
/* failInfo as a bit mask (bit n = OSSL_CMP_PKIFAILUREINFO n). */
unsigned long cmp_pkisi_failbits(const PKR_PKISI *si);
/* "rejection (badMessageCheck, notAuthorized): text" into buf. */
void cmp_pkisi_text(const PKR_PKISI *si, char *buf, size_t len);
/* A new PKIStatusInfo; text may be NULL. */
PKR_PKISI *cmp_pkisi_new(int status, unsigned long failbits, const char *text);
/* Name of a failInfo bit ("badAlg"...), or NULL. */
const char *cmp_failinfo_name(int bit);
/* Name of a status ("accepted"...), never NULL. */
const char *cmp_status_name(int status);
/* Readable reason of an error body: status, failInfo, errorCode, details. */
void cmp_error_text(const PKR_ERRMSG *e, char *buf, size_t len);
/* Printable copy of free text (control characters replaced). */
void cmp_freetext(const STACK_OF(ASN1_STRING) * t, char *buf, size_t len);

/* ---- EncryptedValue (cmp_encval.c) ---- */

/*
 * Decrypts an EncryptedValue holding a private key with the private half of
 * the protocolEncrKey. Symmetric: AES-128/192/256-CBC, 3DES-CBC, CAST5-CBC
 * (legacy provider); key transport: RSA PKCS#1 v1.5 or OAEP; plaintext
 * PKCS#8 or PKCS#1, padded or not. Returns the key (caller frees) or NULL
 * with err set.
 */
EVP_PKEY *cmp_encval_decrypt(const PKR_ENCVAL *ev, EVP_PKEY *kek, char *err, size_t errlen);

/*
 * Wraps a private key into an EncryptedValue for the holder of recipient
 * (an RSA public key): cipher is the symmetric algorithm (NULL: AES-256-CBC),
 * oaep selects RSAES-OAEP over PKCS#1 v1.5. Caller frees; NULL on error.
 */
PKR_ENCVAL *cmp_encval_encrypt(EVP_PKEY *key, EVP_PKEY *recipient, const EVP_CIPHER *cipher,
			       int oaep);

#endif
