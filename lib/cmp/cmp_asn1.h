/*
 * ASN.1 types of CMP (RFC 4210, RFC 9810) and the parts of CRMF (RFC 4211)
 * that OpenSSL 3.0 exports only as opaque items. Field names follow the
 * RFCs. CHOICE selectors are the index in the template table, which for
 * PKR_BODY is the context tag number.
 */
#ifndef PKIROLL_CMP_ASN1_H
#define PKIROLL_CMP_ASN1_H

#include <openssl/asn1t.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* PKIFreeText, tolerant: UTF8String, or what older CAs send instead. */
typedef ASN1_STRING PKR_FREETEXT_STR;
DECLARE_ASN1_ITEM(PKR_FREETEXT_STR)

/* InfoTypeAndValue */
typedef struct {
	ASN1_OBJECT *infoType;
	ASN1_TYPE *infoValue;
} PKR_ITAV;
DECLARE_ASN1_FUNCTIONS(PKR_ITAV)
DEFINE_STACK_OF(PKR_ITAV)

typedef struct {
	ASN1_INTEGER *pvno;
	GENERAL_NAME *sender;
	GENERAL_NAME *recipient;
	ASN1_GENERALIZEDTIME *messageTime;
	X509_ALGOR *protectionAlg;
	ASN1_OCTET_STRING *senderKID;
	ASN1_OCTET_STRING *recipKID;
	ASN1_OCTET_STRING *transactionID;
	ASN1_OCTET_STRING *senderNonce;
	ASN1_OCTET_STRING *recipNonce;
	STACK_OF(ASN1_STRING) * freeText;
	STACK_OF(PKR_ITAV) * generalInfo;
} PKR_HEADER;
DECLARE_ASN1_FUNCTIONS(PKR_HEADER)

typedef struct {
	ASN1_INTEGER *status;
	STACK_OF(ASN1_STRING) * statusString;
	ASN1_BIT_STRING *failInfo;
} PKR_PKISI;
DECLARE_ASN1_FUNCTIONS(PKR_PKISI)
DEFINE_STACK_OF(PKR_PKISI)

/* EncryptedValue (RFC 4211 2.1, IMPLICIT TAGS) */
typedef struct {
	X509_ALGOR *intendedAlg;
	X509_ALGOR *symmAlg;
	ASN1_BIT_STRING *encSymmKey;
	X509_ALGOR *keyAlg;
	ASN1_OCTET_STRING *valueHint;
	ASN1_BIT_STRING *encValue;
} PKR_ENCVAL;
DECLARE_ASN1_FUNCTIONS(PKR_ENCVAL)

/* EncryptedKey (RFC 9810 5.2.2): EncryptedValue or [0] EnvelopedData */
enum { PKR_ENCKEY_VALUE = 0, PKR_ENCKEY_ENVELOPED = 1 };
typedef struct {
	int type;
	union {
		PKR_ENCVAL *encryptedValue;
		ASN1_TYPE *envelopedData;
	} value;
} PKR_ENCKEY;
DECLARE_ASN1_FUNCTIONS(PKR_ENCKEY)

enum { PKR_COEC_CERT = 0, PKR_COEC_ENC = 1 };
typedef struct {
	int type;
	union {
		X509 *certificate;
		PKR_ENCKEY *encryptedCert;
	} value;
} PKR_CERTORENC;
DECLARE_ASN1_FUNCTIONS(PKR_CERTORENC)

typedef struct {
	PKR_CERTORENC *certOrEncCert;
	PKR_ENCKEY *privateKey;
	OSSL_CRMF_PKIPUBLICATIONINFO *publicationInfo;
} PKR_CKP;
DECLARE_ASN1_FUNCTIONS(PKR_CKP)

typedef struct {
	ASN1_INTEGER *certReqId;
	PKR_PKISI *status;
	PKR_CKP *certifiedKeyPair;
	ASN1_OCTET_STRING *rspInfo;
} PKR_CERTRESP;
DECLARE_ASN1_FUNCTIONS(PKR_CERTRESP)
DEFINE_STACK_OF(PKR_CERTRESP)

typedef struct {
	STACK_OF(X509) * caPubs;
	STACK_OF(PKR_CERTRESP) * response;
} PKR_CERTREPMSG;
DECLARE_ASN1_FUNCTIONS(PKR_CERTREPMSG)

typedef struct {
	ASN1_OCTET_STRING *certHash;
	ASN1_INTEGER *certReqId;
	PKR_PKISI *statusInfo;
	X509_ALGOR *hashAlg; /* RFC 9810, pvno 3 only */
} PKR_CERTSTATUS;
DECLARE_ASN1_FUNCTIONS(PKR_CERTSTATUS)
DEFINE_STACK_OF(PKR_CERTSTATUS)

typedef struct {
	PKR_PKISI *pKIStatusInfo;
	ASN1_INTEGER *errorCode;
	STACK_OF(ASN1_STRING) * errorDetails;
} PKR_ERRMSG;
DECLARE_ASN1_FUNCTIONS(PKR_ERRMSG)

typedef struct {
	ASN1_INTEGER *certReqId;
} PKR_POLLREQ;
DECLARE_ASN1_FUNCTIONS(PKR_POLLREQ)
DEFINE_STACK_OF(PKR_POLLREQ)

typedef struct {
	ASN1_INTEGER *certReqId;
	ASN1_INTEGER *checkAfter;
	STACK_OF(ASN1_STRING) * reason;
} PKR_POLLREP;
DECLARE_ASN1_FUNCTIONS(PKR_POLLREP)
DEFINE_STACK_OF(PKR_POLLREP)

/* RevDetails (RFC 4210 5.3.9) */
typedef struct {
	OSSL_CRMF_CERTTEMPLATE *certDetails;
	X509_EXTENSIONS *crlEntryDetails;
} PKR_REVDETAILS;
DECLARE_ASN1_FUNCTIONS(PKR_REVDETAILS)
DEFINE_STACK_OF(PKR_REVDETAILS)

/* RevRepContent (RFC 4210 5.3.10) */
typedef struct {
	STACK_OF(PKR_PKISI) * status;
	STACK_OF(OSSL_CRMF_CERTID) * revCerts;
	STACK_OF(X509_CRL) * crls;
} PKR_REVREP;
DECLARE_ASN1_FUNCTIONS(PKR_REVREP)

/* ---- CRMF (RFC 4211, IMPLICIT TAGS) mirrors, to read what 3.0 hides ---- */

typedef struct {
	ASN1_OBJECT *type;
	ASN1_TYPE *value;
} PKR_ATAV;
DECLARE_ASN1_FUNCTIONS(PKR_ATAV)
DEFINE_STACK_OF(PKR_ATAV)

typedef struct {
	ASN1_TIME *notBefore;
	ASN1_TIME *notAfter;
} PKR_OPTVALIDITY;
DECLARE_ASN1_FUNCTIONS(PKR_OPTVALIDITY)

/*
 * SubjectPublicKeyInfo kept as its two fields. X509_PUBKEY would decode the
 * key into an EVP_PKEY on every parse, which in OpenSSL 3.0 costs a decoder
 * set-up (more than the signature that uses it); a template's key is only
 * copied or checked for presence.
 */
typedef struct {
	X509_ALGOR *algorithm;
	ASN1_BIT_STRING *subjectPublicKey;
} PKR_SPKI;
DECLARE_ASN1_FUNCTIONS(PKR_SPKI)

typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serialNumber;
	X509_ALGOR *signingAlg;
	X509_NAME *issuer;
	PKR_OPTVALIDITY *validity;
	X509_NAME *subject;
	PKR_SPKI *publicKey;
	ASN1_BIT_STRING *issuerUID;
	ASN1_BIT_STRING *subjectUID;
	X509_EXTENSIONS *extensions;
} PKR_CERTTEMPLATE;
DECLARE_ASN1_FUNCTIONS(PKR_CERTTEMPLATE)

typedef struct {
	ASN1_INTEGER *certReqId;
	PKR_CERTTEMPLATE *certTemplate;
	STACK_OF(PKR_ATAV) * controls;
} PKR_CERTREQ;
DECLARE_ASN1_FUNCTIONS(PKR_CERTREQ)

/* PKMACValue */
typedef struct {
	X509_ALGOR *algId;
	ASN1_BIT_STRING *value;
} PKR_PKMACVALUE;
DECLARE_ASN1_FUNCTIONS(PKR_PKMACVALUE)

enum { PKR_AUTHINFO_SENDER = 0, PKR_AUTHINFO_MAC = 1 };
typedef struct {
	int type;
	union {
		GENERAL_NAME *sender;
		PKR_PKMACVALUE *publicKeyMAC;
	} value;
} PKR_AUTHINFO;
DECLARE_ASN1_FUNCTIONS(PKR_AUTHINFO)

typedef struct {
	PKR_AUTHINFO *authInfo;
	PKR_SPKI *publicKey;
} PKR_POPOSKINPUT;
DECLARE_ASN1_FUNCTIONS(PKR_POPOSKINPUT)

typedef struct {
	PKR_POPOSKINPUT *poposkInput;
	X509_ALGOR *algorithmIdentifier;
	ASN1_BIT_STRING *signature;
} PKR_POPOSIGKEY;
DECLARE_ASN1_FUNCTIONS(PKR_POPOSIGKEY)

enum { PKR_POPO_RAVERIFIED = 0, PKR_POPO_SIGNATURE, PKR_POPO_KEYENC, PKR_POPO_KEYAGREE };
typedef struct {
	int type;
	union {
		ASN1_NULL *raVerified;
		PKR_POPOSIGKEY *signature;
		ASN1_TYPE *keyEncipherment;
		ASN1_TYPE *keyAgreement;
	} value;
} PKR_POPO;
DECLARE_ASN1_FUNCTIONS(PKR_POPO)

typedef struct {
	PKR_CERTREQ *certReq;
	PKR_POPO *popo;
	STACK_OF(PKR_ATAV) * regInfo;
} PKR_CERTREQMSG;
DECLARE_ASN1_FUNCTIONS(PKR_CERTREQMSG)

/* PKIBody alternatives; the value is the context tag and the table index. */
enum cmp_body {
	CMP_BODY_IR = 0,
	CMP_BODY_IP = 1,
	CMP_BODY_CR = 2,
	CMP_BODY_CP = 3,
	CMP_BODY_P10CR = 4,
	CMP_BODY_POPDECC = 5,
	CMP_BODY_POPDECR = 6,
	CMP_BODY_KUR = 7,
	CMP_BODY_KUP = 8,
	CMP_BODY_KRR = 9,
	CMP_BODY_KRP = 10,
	CMP_BODY_RR = 11,
	CMP_BODY_RP = 12,
	CMP_BODY_CCR = 13,
	CMP_BODY_CCP = 14,
	CMP_BODY_CKUANN = 15,
	CMP_BODY_CANN = 16,
	CMP_BODY_RANN = 17,
	CMP_BODY_CRLANN = 18,
	CMP_BODY_PKICONF = 19,
	CMP_BODY_NESTED = 20,
	CMP_BODY_GENM = 21,
	CMP_BODY_GENP = 22,
	CMP_BODY_ERROR = 23,
	CMP_BODY_CERTCONF = 24,
	CMP_BODY_POLLREQ = 25,
	CMP_BODY_POLLREP = 26,
	CMP_BODY__MAX
};

typedef struct {
	int type;
	union {
		OSSL_CRMF_MSGS *ir, *cr, *kur, *krr, *ccr;
		PKR_CERTREPMSG *ip, *cp, *kup, *ccp;
		X509_REQ *p10cr;
		STACK_OF(PKR_REVDETAILS) * rr;
		PKR_REVREP *rp;
		ASN1_NULL *pkiconf;
		STACK_OF(PKR_ITAV) * genm, *genp;
		PKR_ERRMSG *error;
		STACK_OF(PKR_CERTSTATUS) * certConf;
		STACK_OF(PKR_POLLREQ) * pollReq;
		STACK_OF(PKR_POLLREP) * pollRep;
		ASN1_TYPE *other;
	} value;
} PKR_BODY;
DECLARE_ASN1_FUNCTIONS(PKR_BODY)

typedef struct {
	PKR_HEADER *header;
	PKR_BODY *body;
	ASN1_BIT_STRING *protection;
	STACK_OF(X509) * extraCerts;
} PKR_MSG;
DECLARE_ASN1_FUNCTIONS(PKR_MSG)
DECLARE_ASN1_DUP_FUNCTION(PKR_MSG)

/* ProtectedPart (RFC 4210 5.1.3): what the protection covers. */
typedef struct {
	PKR_HEADER *header;
	PKR_BODY *body;
} PKR_PROTPART;
DECLARE_ASN1_ITEM(PKR_PROTPART)

/* Name of a body type for messages ("ir", "ip", ...), never NULL. */
const char *cmp_body_name(int type);

#endif
