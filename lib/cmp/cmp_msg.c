/*
 * PKIMessage headers, encoding and decoding.
 */
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "cmp/cmp.h"

int cmp_random(unsigned char *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int cmp_octets_to_bits(ASN1_BIT_STRING *bs, const unsigned char *p, size_t n)
{
	if (!ASN1_BIT_STRING_set(bs, (unsigned char *)p, (int)n))
		return 0;
	bs->flags &= ~0x07;
	bs->flags |= ASN1_STRING_FLAG_BITS_LEFT; /* with 0 unused bits */
	return 1;
}

GENERAL_NAME *cmp_dirname(const X509_NAME *name)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	X509_NAME *dup = name != NULL ? X509_NAME_dup(name) : X509_NAME_new();

	if (gn == NULL || dup == NULL) {
		GENERAL_NAME_free(gn);
		X509_NAME_free(dup);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dup);
	return gn;
}

static ASN1_OCTET_STRING *octets(const unsigned char *p, size_t n)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

	if (os != NULL && !ASN1_OCTET_STRING_set(os, p, (int)n)) {
		ASN1_OCTET_STRING_free(os);
		return NULL;
	}
	return os;
}

PKR_HEADER *cmp_hdr_new(const struct cmp_hdr_args *a)
{
	PKR_HEADER *h = PKR_HEADER_new();

	if (h == NULL)
		return NULL;
	GENERAL_NAME_free(h->sender);
	GENERAL_NAME_free(h->recipient);
	h->sender = cmp_dirname(a->sender);
	h->recipient = cmp_dirname(a->recipient);
	h->messageTime = ASN1_GENERALIZEDTIME_set(NULL, time(NULL));
	if (h->sender == NULL || h->recipient == NULL || h->messageTime == NULL ||
	    !ASN1_INTEGER_set(h->pvno, a->pvno ? a->pvno : 2))
		goto fail;
	if (a->tid != NULL && (h->transactionID = octets(a->tid, CMP_NONCE_LEN)) == NULL)
		goto fail;
	if (a->sender_nonce != NULL &&
	    (h->senderNonce = octets(a->sender_nonce, CMP_NONCE_LEN)) == NULL)
		goto fail;
	if (a->recip_nonce != NULL &&
	    (h->recipNonce = ASN1_OCTET_STRING_dup(a->recip_nonce)) == NULL)
		goto fail;
	if (a->implicit_confirm) {
		PKR_ITAV *itav = PKR_ITAV_new();

		/* RFC 4210 5.1.1.1: ImplicitConfirmValue ::= NULL */
		if (itav == NULL ||
		    (itav->infoType = OBJ_nid2obj(NID_id_it_implicitConfirm)) == NULL ||
		    (itav->infoValue = ASN1_TYPE_new()) == NULL ||
		    !ASN1_TYPE_set1(itav->infoValue, V_ASN1_NULL, NULL) ||
		    (h->generalInfo = sk_PKR_ITAV_new_null()) == NULL ||
		    !sk_PKR_ITAV_push(h->generalInfo, itav)) {
			PKR_ITAV_free(itav);
			goto fail;
		}
	}
	return h;
fail:
	PKR_HEADER_free(h);
	return NULL;
}

int cmp_hdr_implicit_confirm(const PKR_HEADER *h)
{
	for (int i = 0; i < sk_PKR_ITAV_num(h->generalInfo); i++)
		if (OBJ_obj2nid(sk_PKR_ITAV_value(h->generalInfo, i)->infoType) ==
		    NID_id_it_implicitConfirm)
			return 1;
	return 0;
}

int cmp_msg_encode(const PKR_MSG *m, unsigned char **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_PKR_MSG(m, der)) <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

PKR_MSG *cmp_msg_decode(const unsigned char *der, size_t len, char *err, size_t errlen)
{
	const unsigned char *p = der;
	long inner;
	int tag, class, r;
	PKR_MSG *m;

	/* Phase: the outer TLV, checked before the template engine sees it. */
	if (len == 0) {
		snprintf(err, errlen, "empty reply");
		return NULL;
	}
	if (len > CMP_MAX_MSG) {
		snprintf(err, errlen, "reply of %zu bytes is larger than %d", len, CMP_MAX_MSG);
		return NULL;
	}
	r = ASN1_get_object(&p, &inner, &tag, &class, (long)len);
	if (r & 0x80) {
		ERR_clear_error();
		snprintf(err, errlen, "RFC 4210 5.1: reply is truncated or not DER (%zu bytes)",
			 len);
		return NULL;
	}
	if (!(r & V_ASN1_CONSTRUCTED) || tag != V_ASN1_SEQUENCE || class != V_ASN1_UNIVERSAL) {
		snprintf(err, errlen, "RFC 4210 5.1: reply is not a PKIMessage (outer tag 0x%02x)",
			 der[0]);
		return NULL;
	}
	if ((size_t)(p - der) + (size_t)inner != len) {
		snprintf(err, errlen, "RFC 4210 5.1: %zu bytes after the PKIMessage",
			 len - (size_t)(p - der) - (size_t)inner);
		return NULL;
	}

	/* Phase: the whole message. */
	p = der;
	if ((m = d2i_PKR_MSG(NULL, &p, (long)len)) == NULL) {
		unsigned long e = ERR_peek_error();

		snprintf(err, errlen, "RFC 4210 5.1: malformed PKIMessage (%s)",
			 e ? ERR_reason_error_string(e) : "?");
		ERR_clear_error();
		return NULL;
	}
	if (p != der + len) {
		PKR_MSG_free(m);
		snprintf(err, errlen, "RFC 4210 5.1: trailing bytes in PKIMessage");
		return NULL;
	}
	return m;
}
