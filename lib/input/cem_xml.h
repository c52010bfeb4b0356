/*
 * EDIINT Certificate Exchange Messaging (draft-meadors-certificate-
 * exchange-14): the request's XML as pkiroll writes it, and a partner's
 * response as it arrives (raw XML, or the MIME entity a gateway saved).
 * libxml2 writes and reads; nothing is fetched, no DTD or entity is taken.
 */
#ifndef PKIROLL_CEM_XML_H
#define PKIROLL_CEM_XML_H

#include <stddef.h>
#include <time.h>

#define CEM_NS "urn:ietf:params:xml:ns:ediintcertificateexchange"
#define CEM_DS_NS "http://www.w3.org/2000/09/xmldsig#"
#define CEM_MAX_INPUT (4 << 20) /* bytes of a response file */

/* One certificate of a request. */
struct cem_cert_ref {
	const char *usage;	/* digitalSignature, keyEncipherment */
	const char *issuer;	/* RFC 4514 */
	const char *serial_dec; /* ds:X509SerialNumber is an integer */
	const char *content_id; /* the MIME part that carries it */
};

/* The request's XML (UTF-8, with its declaration) into *out (free()). 0 or -1. */
int cem_request_xml(const char *request_id, const char *as2_id, time_t now, time_t respond_by,
		    const char *response_url, const struct cem_cert_ref *c, int n,
		    unsigned char **out, size_t *len);

/* One TrustResponse. */
struct cem_trust {
	char status[16];  /* Accepted, Rejected, Pending */
	char reason[512]; /* ReasonForRejection, "" none */
	char issuer[1024];
	char serial_dec[128];
};

struct cem_response {
	char request_id[128];
	char as2_id[160];  /* TradingPartnerInfo/Name (required) */
	time_t originated; /* TradingPartnerInfo/MessageOriginated (required): the
			      answer's time, to order answers */
	struct cem_trust *trust;
	int ntrust;
};

/*
 * Reads a response: raw XML or a MIME entity (multipart, nested, base64)
 * with an application/ediint-cert-exchange+xml part. A DTD (and so any
 * entity) is refused, and so is a response without TradingPartnerInfo's
 * Name and MessageOriginated (an xs:dateTime; without a zone it is taken as
 * UTC). 0, or -1 with err naming the element or the part.
 */
int cem_response_parse(const unsigned char *data, size_t len, struct cem_response *r, char *err,
		       size_t errlen);
void cem_response_free(struct cem_response *r);

#endif
