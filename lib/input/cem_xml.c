/*
 * CEM XML: the request written with libxml2's tree API (it escapes), the
 * response read with its parser under no-network, no-DTD rules, after a
 * small MIME reader has found the XML part.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "input/cem_xml.h"

/* ---- the request ---- */

static void xml_time(time_t t, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cem_request_xml(const char *request_id, const char *as2_id, time_t now, time_t respond_by,
		    const char *response_url, const struct cem_cert_ref *c, int n,
		    unsigned char **out, size_t *len)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root, tpi, name;
	xmlNsPtr ns, ds;
	xmlChar *buf = NULL;
	char when[32];
	int size = 0, rc = -1;

	*out = NULL;
	if (doc == NULL ||
	    (root = xmlNewNode(NULL, BAD_CAST "EDIINTCertificateExchangeRequest")) == NULL)
		goto out;
	xmlDocSetRootElement(doc, root);
	ns = xmlNewNs(root, BAD_CAST CEM_NS, NULL);
	ds = xmlNewNs(root, BAD_CAST CEM_DS_NS, BAD_CAST "ds");
	xmlSetNs(root, ns);
	xmlNewProp(root, BAD_CAST "requestId", BAD_CAST request_id);
	/* TradingPartnerInfo: who sends it, and when */
	tpi = xmlNewChild(root, ns, BAD_CAST "TradingPartnerInfo", NULL);
	name = xmlNewTextChild(tpi, ns, BAD_CAST "Name", BAD_CAST as2_id);
	xmlNewProp(name, BAD_CAST "qualifier", BAD_CAST "AS2");
	xml_time(now, when, sizeof(when));
	xmlNewTextChild(tpi, ns, BAD_CAST "MessageOriginated", BAD_CAST when);
	/* one TrustRequest per certificate */
	xml_time(respond_by, when, sizeof(when));
	for (int i = 0; i < n; i++) {
		xmlNodePtr tr = xmlNewChild(root, ns, BAD_CAST "TrustRequest", NULL);
		xmlNodePtr ee, id;

		xmlNewTextChild(tr, ns, BAD_CAST "CertUsage", BAD_CAST c[i].usage);
		xmlNewTextChild(tr, ns, BAD_CAST "RespondByDate", BAD_CAST when);
		xmlNewTextChild(tr, ns, BAD_CAST "ResponseURL", BAD_CAST response_url);
		ee = xmlNewChild(tr, ns, BAD_CAST "EndEntity", NULL);
		id = xmlNewChild(ee, ns, BAD_CAST "CertificateIdentifier", NULL);
		xmlNewTextChild(id, ds, BAD_CAST "X509IssuerName", BAD_CAST c[i].issuer);
		xmlNewTextChild(id, ds, BAD_CAST "X509SerialNumber", BAD_CAST c[i].serial_dec);
		xmlNewTextChild(ee, ns, BAD_CAST "CertificateContentID", BAD_CAST c[i].content_id);
	}
	xmlDocDumpFormatMemoryEnc(doc, &buf, &size, "UTF-8", 1);
	if (buf == NULL || size <= 0 || (*out = malloc((size_t)size)) == NULL)
		goto out;
	memcpy(*out, buf, (size_t)size);
	*len = (size_t)size;
	rc = 0;
out:
	xmlFree(buf);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- a MIME entity, as far as finding the XML takes ---- */

struct part {
	const unsigned char *p;
	size_t n;
};

/* The value of header name in the header block h (unfolded into out). */
static int header(const struct part *h, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), o = 0;

	for (size_t i = 0; i < h->n;) {
		size_t e = i;

		while (e < h->n && h->p[e] != '\n')
			e++;
		if (e - i > nl && h->p[i + nl] == ':' &&
		    strncasecmp((const char *)h->p + i, name, nl) == 0) {
			size_t j = i + nl + 1;

			for (;;) {
				for (; j < e && o + 1 < outlen; j++)
					if (h->p[j] != '\r')
						out[o++] = (char)h->p[j];
				/* a folded line goes on */
				if (e + 1 < h->n && (h->p[e + 1] == ' ' || h->p[e + 1] == '\t')) {
					j = e + 1;
					for (e = j; e < h->n && h->p[e] != '\n'; e++)
						;
					continue;
				}
				break;
			}
			out[o] = '\0';
			return 1;
		}
		i = e + 1;
	}
	return 0;
}

/* A parameter of a Content-Type value (boundary="x"), unquoted. */
static int ct_param(const char *ct, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *p = strchr(ct, ';'); p != NULL; p = strchr(p + 1, ';')) {
		const char *q = p + 1;
		size_t o = 0;

		while (*q == ' ' || *q == '\t')
			q++;
		if (strncasecmp(q, name, nl) != 0 || q[nl] != '=')
			continue;
		q += nl + 1;
		if (*q == '"')
			for (q++; *q != '\0' && *q != '"' && o + 1 < outlen; q++)
				out[o++] = *q;
		else
			for (; *q != '\0' && *q != ';' && !isspace((unsigned char)*q) &&
			       o + 1 < outlen;
			     q++)
				out[o++] = *q;
		out[o] = '\0';
		return o > 0;
	}
	return 0;
}

/* Splits an entity into its header block and body. */
static int split_entity(const struct part *e, struct part *h, struct part *b)
{
	for (size_t i = 0; i + 1 < e->n; i++) {
		if (e->p[i] == '\n' &&
		    (e->p[i + 1] == '\n' ||
		     (e->p[i + 1] == '\r' && i + 2 < e->n && e->p[i + 2] == '\n'))) {
			size_t skip = e->p[i + 1] == '\n' ? 2 : 3;

			*h = (struct part){e->p, i + 1};
			*b = (struct part){e->p + i + skip, e->n - i - skip};
			return 0;
		}
	}
	return -1;
}

static const unsigned char *find(const struct part *hay, size_t from, const char *needle)
{
	size_t nl = strlen(needle);

	for (size_t i = from; i + nl <= hay->n; i++)
		if (memcmp(hay->p + i, needle, nl) == 0)
			return hay->p + i;
	return NULL;
}

/*
 * The XML of the entity e: its body if it is the CEM XML (base64 decoded
 * into *owned when so encoded), else the first such part of a multipart
 * (recursively, for multipart/signed around multipart/related). 0 or -1.
 */
static int find_xml(const struct part *e, int depth, struct part *xml, unsigned char **owned,
		    char *err, size_t errlen)
{
	char ct[512] = "", cte[64] = "", boundary[200], delim[210];
	struct part h, b;

	if (depth > 4) {
		snprintf(err, errlen, "MIME: nested too deep");
		return -1;
	}
	if (split_entity(e, &h, &b) < 0 || !header(&h, "Content-Type", ct, sizeof(ct))) {
		snprintf(err, errlen, "MIME: no Content-Type header (and not XML)");
		return -1;
	}
	header(&h, "Content-Transfer-Encoding", cte, sizeof(cte));
	if (strncasecmp(ct + strspn(ct, " \t"), "multipart/", 10) == 0) {
		const unsigned char *at;

		if (!ct_param(ct, "boundary", boundary, sizeof(boundary))) {
			snprintf(err, errlen, "MIME: multipart without a boundary");
			return -1;
		}
		snprintf(delim, sizeof(delim), "--%s", boundary);
		at = find(&b, 0, delim);
		while (at != NULL) {
			const unsigned char *start = at + strlen(delim), *next;
			struct part sub;

			if (start + 2 <= b.p + b.n && start[0] == '-' && start[1] == '-')
				break; /* the closing delimiter */
			while (start < b.p + b.n && *start != '\n')
				start++;
			start++;
			if (start >= b.p + b.n)
				break;
			next = find(&b, (size_t)(start - b.p), delim);
			sub = (struct part){start, (size_t)((next ? next : b.p + b.n) - start)};
			if (find_xml(&sub, depth + 1, xml, owned, err, errlen) == 0)
				return 0;
			at = next;
		}
		snprintf(err, errlen, "MIME: no application/ediint-cert-exchange+xml part");
		return -1;
	}
	if (strstr(ct, "ediint-cert-exchange+xml") == NULL &&
	    strncasecmp(ct + strspn(ct, " \t"), "application/xml", 15) != 0 &&
	    strncasecmp(ct + strspn(ct, " \t"), "text/xml", 8) != 0) {
		snprintf(err, errlen, "MIME: a %.60s part is not the CEM XML", ct);
		return -1;
	}
	if (strcasestr(cte, "base64") != NULL) {
		unsigned char *clean = calloc(1, b.n + 1), *dec;
		size_t k = 0;
		int dn;

		if (clean == NULL)
			return -1;
		for (size_t i = 0; i < b.n; i++)
			if (!isspace(b.p[i]))
				clean[k++] = b.p[i];
		if ((dec = malloc(k / 4 * 3 + 4)) == NULL || k % 4 != 0 ||
		    (dn = EVP_DecodeBlock(dec, clean, (int)k)) < 0) {
			free(clean);
			free(dec);
			snprintf(err, errlen, "MIME: the XML part is not valid base64");
			return -1;
		}
		/* EVP_DecodeBlock counts the padding as zero bytes */
		if (k >= 1 && clean[k - 1] == '=')
			dn--;
		if (k >= 2 && clean[k - 2] == '=')
			dn--;
		free(clean);
		*owned = dec;
		*xml = (struct part){dec, (size_t)dn};
		return 0;
	}
	*xml = b;
	return 0;
}

/* ---- the response ---- */

static const xmlNode *child(const xmlNode *n, const char *name, const char *ns)
{
	for (const xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0 &&
		    c->ns != NULL && xmlStrcmp(c->ns->href, BAD_CAST ns) == 0)
			return c;
	return NULL;
}

/* An element's text, trimmed, into out; 0 when the element is missing. */
static int text_of(const xmlNode *n, char *out, size_t len)
{
	xmlChar *t;
	size_t a = 0, b;

	out[0] = '\0';
	if (n == NULL || (t = xmlNodeGetContent(n)) == NULL)
		return 0;
	b = strlen((const char *)t);
	while (a < b && isspace(t[a]))
		a++;
	while (b > a && isspace(t[b - 1]))
		b--;
	snprintf(out, len, "%.*s", (int)(b - a), (const char *)t + a);
	xmlFree(t);
	return 1;
}

/* An xs:dateTime (YYYY-MM-DDThh:mm:ss[.s+][Z|(+|-)hh:mm]) as a time_t;
 * without a zone, UTC. 0, or -1 when it is not one. */
static int xs_datetime(const char *v, time_t *out)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, n = 0, zh = 0, zm = 0;
	const char *p;

	if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	p = v + n;
	if (*p == '.') {
		p++;
		if (strspn(p, "0123456789") == 0)
			return -1;
		p += strspn(p, "0123456789");
	}
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && sscanf(p + 1, "%2d:%2d", &zh, &zm) == 2 &&
	    p[3] == ':' && zh <= 14 && zm <= 59) {
		if (*p == '+')
			zh = -zh, zm = -zm;
	} else if (!(*p == '\0' || (p[0] == 'Z' && p[1] == '\0'))) {
		return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm) + (time_t)zh * 3600 + (time_t)zm * 60;
	return 0;
}

static int parse_xml(const struct part *x, struct cem_response *r, char *err, size_t errlen)
{
	xmlDocPtr doc;
	const xmlNode *root, *tpi;
	xmlChar *rid;
	int i = 0;

	/* a DTD is where entities (XXE, billion laughs) live: none is taken */
	if (find(x, 0, "<!DOCTYPE") != NULL || find(x, 0, "<!ENTITY") != NULL) {
		snprintf(err, errlen, "XML: a DTD or entity declaration is not accepted");
		return -1;
	}
	if (x->n > (size_t)(1 << 20)) {
		snprintf(err, errlen, "XML: %zu bytes, at most 1 MiB", x->n);
		return -1;
	}
	doc = xmlReadMemory((const char *)x->p, (int)x->n, "response.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		const xmlError *e = xmlGetLastError();

		snprintf(err, errlen, "XML: not well-formed%s%.200s", e && e->message ? ": " : "",
			 e && e->message ? e->message : "");
		if (err[0] != '\0' && err[strlen(err) - 1] == '\n')
			err[strlen(err) - 1] = '\0';
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	if (doc->intSubset != NULL || root == NULL ||
	    xmlStrcmp(root->name, BAD_CAST "EDIINTCertificateExchangeResponse") != 0 ||
	    root->ns == NULL || xmlStrcmp(root->ns->href, BAD_CAST CEM_NS) != 0) {
		snprintf(err, errlen,
			 "XML: the root is not EDIINTCertificateExchangeResponse in namespace %s",
			 CEM_NS);
		goto fail;
	}
	if ((rid = xmlGetProp(root, BAD_CAST "requestId")) == NULL || rid[0] == '\0') {
		xmlFree(rid);
		snprintf(err, errlen, "EDIINTCertificateExchangeResponse: no requestId");
		goto fail;
	}
	snprintf(r->request_id, sizeof(r->request_id), "%s", (const char *)rid);
	xmlFree(rid);
	/* who answers, and when: the store checks the one and orders by the other */
	{
		char when[64];

		tpi = child(root, "TradingPartnerInfo", CEM_NS);
		if (!text_of(child(tpi, "Name", CEM_NS), r->as2_id, sizeof(r->as2_id)) ||
		    r->as2_id[0] == '\0') {
			snprintf(err, errlen,
				 "TradingPartnerInfo/Name: missing (who answers is not known)");
			goto fail;
		}
		if (!text_of(child(tpi, "MessageOriginated", CEM_NS), when, sizeof(when)) ||
		    xs_datetime(when, &r->originated) < 0) {
			snprintf(err, errlen,
				 "TradingPartnerInfo/MessageOriginated: missing or not an "
				 "xs:dateTime (the answer's time orders it against others)");
			goto fail;
		}
	}
	for (const xmlNode *c = root->children; c != NULL; c = c->next) {
		const xmlNode *ref;
		struct cem_trust *t, *nt;

		if (c->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(c->name, BAD_CAST "TrustResponse") != 0)
			continue;
		i++;
		if ((nt = realloc(r->trust, (size_t)(r->ntrust + 1) * sizeof(*nt))) == NULL)
			goto fail;
		r->trust = nt;
		t = &r->trust[r->ntrust];
		memset(t, 0, sizeof(*t));
		if (!text_of(child(c, "CertStatus", CEM_NS), t->status, sizeof(t->status)) ||
		    (strcmp(t->status, "Accepted") != 0 && strcmp(t->status, "Rejected") != 0 &&
		     strcmp(t->status, "Pending") != 0)) {
			snprintf(err, errlen,
				 "TrustResponse[%d]/CertStatus: \"%.20s\" is not Accepted, "
				 "Rejected or "
				 "Pending",
				 i, t->status);
			goto fail;
		}
		text_of(child(c, "ReasonForRejection", CEM_NS), t->reason, sizeof(t->reason));
		ref = child(c, "CertificateReference", CEM_NS);
		if (!text_of(child(ref, "X509IssuerName", CEM_DS_NS), t->issuer,
			     sizeof(t->issuer)) ||
		    !text_of(child(ref, "X509SerialNumber", CEM_DS_NS), t->serial_dec,
			     sizeof(t->serial_dec)) ||
		    t->serial_dec[0] == '\0' ||
		    strspn(t->serial_dec, "0123456789") != strlen(t->serial_dec)) {
			snprintf(err, errlen,
				 "TrustResponse[%d]/CertificateReference: no ds:X509IssuerName and "
				 "decimal ds:X509SerialNumber",
				 i);
			goto fail;
		}
		r->ntrust++;
	}
	if (r->ntrust == 0) {
		snprintf(err, errlen, "EDIINTCertificateExchangeResponse: no TrustResponse");
		goto fail;
	}
	xmlFreeDoc(doc);
	return 0;
fail:
	xmlFreeDoc(doc);
	return -1;
}

int cem_response_parse(const unsigned char *data, size_t len, struct cem_response *r, char *err,
		       size_t errlen)
{
	struct part e = {data, len}, x;
	unsigned char *owned = NULL;
	size_t lead = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > CEM_MAX_INPUT) {
		snprintf(err, errlen, "%zu bytes: a response is at most %d MiB", len,
			 CEM_MAX_INPUT >> 20);
		return -1;
	}
	/* raw XML (after a UTF-8 BOM and blanks), else a MIME entity */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		lead = 3;
	while (lead < len && isspace(data[lead]))
		lead++;
	if (lead < len && data[lead] == '<') {
		x = (struct part){data + lead, len - lead};
	} else if (find_xml(&e, 0, &x, &owned, err, errlen) < 0) {
		return -1;
	}
	rc = parse_xml(&x, r, err, errlen);
	free(owned);
	if (rc < 0)
		cem_response_free(r);
	return rc;
}

void cem_response_free(struct cem_response *r)
{
	free(r->trust);
	memset(r, 0, sizeof(*r));
}
