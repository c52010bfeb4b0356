/*
 * RFC 4514 string <-> X509_NAME.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "base/base.h"
#include "x509/dn.h"

#define DN_MAX_AVAS 64

struct ava {
	char type[64];
	char *value; /* unescaped, NUL-terminated, owned by the parse buffer */
	size_t len;
	int new_rdn; /* first AVA of its RDN */
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Splits s into AVAs. Values are unescaped in place into buf (which holds a
 * copy of s). Returns the number of AVAs or -1 with err set.
 */
static int split(char *buf, struct ava *avas, char *err, size_t errlen)
{
	char *p = buf;
	int n = 0, new_rdn = 1;

	for (;;) {
		char *t = p, *out, *keep;
		size_t tl;
		int quoted = 0;

		while (*p == ' ')
			p++;
		t = p;
		while (*p != '\0' && *p != '=' && *p != ',' && *p != '+')
			p++;
		if (*p != '=') {
			snprintf(err, errlen, "RFC 4514 3: \"%.*s\" is not TYPE=value",
				 (int)(p - t > 40 ? 40 : p - t), t);
			return -1;
		}
		tl = (size_t)(p - t);
		while (tl > 0 && t[tl - 1] == ' ')
			tl--;
		if (tl == 0 || tl >= sizeof(avas[0].type)) {
			snprintf(err, errlen, "RFC 4514 3: missing or too long attribute type");
			return -1;
		}
		if (n == DN_MAX_AVAS) {
			snprintf(err, errlen, "more than %d attributes", DN_MAX_AVAS);
			return -1;
		}
		memcpy(avas[n].type, t, tl);
		avas[n].type[tl] = '\0';
		avas[n].new_rdn = new_rdn;
		p++; /* '=' */
		while (*p == ' ')
			p++;
		if (*p == '#') {
			snprintf(err, errlen, "%s: hex-encoded (#) values are not supported",
				 avas[n].type);
			return -1;
		}
		out = p;
		avas[n].value = out;
		keep = out;
		if (*p == '"') {
			quoted = 1;
			p++;
		}
		for (;;) {
			char c = *p;

			if (c == '\0')
				break;
			if (quoted && c == '"') {
				p++;
				quoted = 2;
				break;
			}
			if (!quoted && (c == ',' || c == '+'))
				break;
			if (c == '\\') {
				int h1 = hexval((unsigned char)p[1]);
				int h2 = h1 < 0 ? -1 : hexval((unsigned char)p[2]);

				if (h1 >= 0 && h2 >= 0) {
					*out++ = (char)(h1 * 16 + h2);
					p += 3;
					keep = out;
				} else if (p[1] != '\0' && strchr(",+\"\\<>;=# ", p[1]) != NULL) {
					*out++ = p[1];
					p += 2;
					keep = out;
				} else {
					snprintf(err, errlen,
						 "%s: RFC 4514 2.4: bad escape \"\\%c\"",
						 avas[n].type, p[1] ? p[1] : ' ');
					return -1;
				}
				continue;
			}
			if (!quoted && strchr("\";<>", c) != NULL) {
				snprintf(err, errlen, "%s: RFC 4514 2.4: unescaped '%c' in value%s",
					 avas[n].type, c,
					 c == ';' ? " (RDNs are separated by ',')" : "");
				return -1;
			}
			*out++ = c;
			p++;
		}
		if (quoted == 1) {
			snprintf(err, errlen, "%s: unterminated quoted value", avas[n].type);
			return -1;
		}
		if (quoted == 2)
			while (*p == ' ')
				p++;
		/* trailing unescaped spaces are not part of the value */
		while (!quoted && out > keep && out[-1] == ' ')
			out--;
		avas[n].len = (size_t)(out - avas[n].value);
		if (avas[n].len == 0) {
			snprintf(err, errlen, "%s: empty value", avas[n].type);
			return -1;
		}
		/* a NUL or other control byte (escaped as \\00) would be issued
		 * in a certificate and cut or mislead whatever prints it */
		for (size_t k = 0; k < avas[n].len; k++) {
			unsigned char b = (unsigned char)avas[n].value[k];

			if (b < 0x20 || b == 0x7f) {
				snprintf(err, errlen, "%s: control character 0x%02x in value",
					 avas[n].type, b);
				return -1;
			}
		}
		n++;
		if (*p == '\0')
			break;
		if (quoted == 2 && *p != ',' && *p != '+') {
			snprintf(err, errlen, "text after quoted value");
			return -1;
		}
		new_rdn = (*p == ',');
		*out = '\0'; /* safe: out <= p */
		p++;
	}
	/* terminate the last value */
	avas[n - 1].value[avas[n - 1].len] = '\0';
	return n;
}

X509_NAME *dn_parse(const char *s, char *err, size_t errlen)
{
	struct ava avas[DN_MAX_AVAS];
	X509_NAME *name = NULL;
	char *buf = NULL;
	int n, i, first;

	/* Phase: split the string into attribute type/value pairs. */
	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty DN");
		return NULL;
	}
	if ((buf = strdup(s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((n = split(buf, avas, err, errlen)) < 0)
		goto out;
	for (i = 0; i < n; i++)
		avas[i].value[avas[i].len] = '\0';

	/* Phase: build the name, last RDN of the string first. */
	if ((name = X509_NAME_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	i = n;
	while (i > 0) {
		int start = i - 1;

		while (start > 0 && !avas[start].new_rdn)
			start--;
		first = 1;
		for (int k = start; k < i; k++) {
			int nid = OBJ_txt2nid(avas[k].type);

			if (nid == NID_undef) {
				snprintf(err, errlen, "unknown attribute type \"%s\"",
					 avas[k].type);
				goto fail;
			}
			if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
							(unsigned char *)avas[k].value,
							(int)avas[k].len, -1, first ? 0 : -1)) {
				ERR_clear_error();
				snprintf(err, errlen, "%s: value not allowed for this attribute%s",
					 avas[k].type,
					 nid == NID_countryName ? " (two letters)" : "");
				goto fail;
			}
			first = 0;
		}
		i = start;
	}
	goto out;
fail:
	X509_NAME_free(name);
	name = NULL;
out:
	free(buf);
	return name;
}

/* Appends to a growing buffer; returns -1 when out of memory. */
static int put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (n >= SIZE_MAX - *len || BASE_GROW(*buf, *cap, *len + n + 1) < 0)
		return -1;
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* Appends one value with the escapes of RFC 4514 2.4. */
static int put_value(char **buf, size_t *len, size_t *cap, const unsigned char *v, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char c = v[i];
		char esc[4];

		if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\%02X", c);
			if (put(buf, len, cap, esc, 3) < 0)
				return -1;
			continue;
		}
		if (strchr("\"+,;<>\\", c) != NULL || (i == 0 && (c == ' ' || c == '#')) ||
		    (i == n - 1 && c == ' ')) {
			if (put(buf, len, cap, "\\", 1) < 0)
				return -1;
		}
		if (put(buf, len, cap, (const char *)&c, 1) < 0)
			return -1;
	}
	return 0;
}

char *dn_format(const X509_NAME *name)
{
	char *buf = NULL, type[80];
	size_t len = 0, cap = 0;
	int n = X509_NAME_entry_count(name), prev_set = -1;

	if (put(&buf, &len, &cap, "", 0) < 0)
		return NULL;
	/* RFC 4514 2.1: the last RDN of the sequence comes first; the
	 * attributes of one RDN keep their order */
	for (int k = n - 1; k >= 0;) {
		int first = k;

		while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) ==
					    X509_NAME_ENTRY_set(X509_NAME_get_entry(name, k)))
			first--;
		for (int i = first; i <= k; i++) {
			const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
			const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
			int nid = OBJ_obj2nid(obj), set = X509_NAME_ENTRY_set(e), vl;
			unsigned char *utf8 = NULL;

			if (nid != NID_undef && OBJ_nid2sn(nid) != NULL &&
			    strchr(OBJ_nid2sn(nid), ' ') == NULL)
				snprintf(type, sizeof(type), "%s", OBJ_nid2sn(nid));
			else
				OBJ_obj2txt(type, sizeof(type), obj, 1);
			if ((vl = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))) < 0)
				goto fail;
			if ((len > 0 &&
			     put(&buf, &len, &cap, set == prev_set ? "+" : ",", 1) < 0) ||
			    put(&buf, &len, &cap, type, strlen(type)) < 0 ||
			    put(&buf, &len, &cap, "=", 1) < 0 ||
			    put_value(&buf, &len, &cap, utf8, vl) < 0) {
				OPENSSL_free(utf8);
				goto fail;
			}
			OPENSSL_free(utf8);
			prev_set = set;
		}
		k = first - 1;
	}
	return buf;
fail:
	free(buf);
	return NULL;
}
