/*
 * pkiroll ping: one genm (RFC 4210 5.3.19) to a CA, PBM-protected with a
 * reference number and authorization code or signed with a community's
 * current keystore, and what came back: the body, its protection and
 * whether that verified, the round trip. Nothing is recorded; the store
 * is only read, for a community's keystore directory and CA profile.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cmp/cmp_client.h"
#include "cmp/cmp_trace.h"
#include "write/keystore.h"
#include "store/store_enroll.h"
#include "x509/dn.h"

#define ID_IT_CA_CERTS "1.3.6.1.5.5.7.4.17"

/* What one ping holds while it runs. */
struct ping {
	struct pkiroll_ca_profile p;
	struct community c;
	int have_c;
	struct keystore_content ks;
	char code[512];
	X509_STORE *trust;
	int trust_certs; /* certificates in trust */
	char trust_from[600];
	X509_NAME *recipient;
	struct transport *transport;
	struct cmp_trace *trace;
	struct cmp_tx *tx;
};

/* The profile: --ca-url, else --ca, else the community's, else the default. */
static int pick_profile(pkiroll_ctx *ctx, const struct pkiroll_ping_opts *o, struct ping *g)
{
	const char *name = o->ca ? o->ca : g->have_c && g->c.ca[0] ? g->c.ca : NULL;
	const struct pkiroll_ca_profile *cp =
		o->config ? pkiroll_config_profile(o->config, name) : NULL;

	if (o->ca_url != NULL) {
		pkiroll_ca_profile_defaults(&g->p);
		if (cp != NULL)
			g->p = *cp;
		snprintf(g->p.url, sizeof(g->p.url), "%s", o->ca_url);
		return PKIROLL_OK;
	}
	if (cp == NULL) {
		if (name != NULL)
			ctx_log(ctx, PKIROLL_LOG_ERROR, "ping: no [ca %s] in %s", name,
				o->config && o->config->path[0] ? o->config->path
								: "the configuration");
		else
			ctx_log(ctx, PKIROLL_LOG_ERROR,
				"ping: no CA: give --ca-url URL, or a [ca NAME] section in the "
				"configuration file");
		return PKIROLL_ERR_CONFIG;
	}
	g->p = *cp;
	return PKIROLL_OK;
}

/* The community's keystore, which signs the genm. */
static int load_community(pkiroll_ctx *ctx, const struct pkiroll_ping_opts *o, struct ping *g)
{
	pkiroll_store *s = NULL;
	char dir[1200], why[600];
	int r, err;

	if (o->passphrase == NULL || o->passphrase[0] == '\0') {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"ping: %s: no keystore passphrase: use --keystore-pass-file, "
			"--keystore-pass-fd or PKIROLL_KEYSTORE_PASS",
			o->community);
		return PKIROLL_ERR_CONFIG;
	}
	if ((err = pkiroll_store_open(ctx, o->db, 0, &s)) != PKIROLL_OK)
		return err;
	/* the keystore's passphrase is the store's, or nothing is sent */
	if ((err = keystore_pass_guard(s, o->keystore_dir ? o->keystore_dir : "keystores",
				       o->passphrase)) != PKIROLL_OK) {
		pkiroll_store_close(s);
		return err;
	}
	r = store_community_get(s, o->community, &g->c);
	pkiroll_store_close(s);
	if (r < 0)
		return PKIROLL_ERR_STORE;
	if (r == 0 || g->c.keystore_dir[0] == '\0') {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "ping: %s: %s", o->community,
			r == 0 ? "not in the store" : "has no keystore yet");
		return PKIROLL_ERR_USAGE;
	}
	g->have_c = 1;
	snprintf(dir, sizeof(dir), "%s/%s", o->keystore_dir ? o->keystore_dir : "keystores",
		 g->c.keystore_dir);
	r = keystore_load(dir, "keystore.p12", o->passphrase, &g->ks, why, sizeof(why));
	if (r <= 0 || g->ks.sign_key == NULL || g->ks.sign_cert == NULL) {
		ctx_log(ctx, PKIROLL_LOG_ERROR, "ping: %s: %s/keystore.p12: %s", o->community, dir,
			r == 0	? "missing"
			: r < 0 ? why
				: "no signing key");
		return PKIROLL_ERR_CONFIG;
	}
	return PKIROLL_OK;
}

/* Trust for a signed reply: the profile's trust_anchor file, and the CA
 * certificates the community got at enrollment (under its MAC). */
static int make_trust(pkiroll_ctx *ctx, struct ping *g)
{
	size_t off = 0;

	if ((g->trust = X509_STORE_new()) == NULL)
		return PKIROLL_ERR_NOMEM;
	if (g->p.trust_anchor[0] != '\0') {
		if (!X509_STORE_load_file(g->trust, g->p.trust_anchor)) {
			ctx_ossl_error(ctx, "ping: trust_anchor");
			ctx_log(ctx, PKIROLL_LOG_ERROR, "ping: trust_anchor %s cannot be read",
				g->p.trust_anchor);
			return PKIROLL_ERR_CONFIG;
		}
		g->trust_certs++;
		off += (size_t)snprintf(g->trust_from, sizeof(g->trust_from), "trust_anchor %.500s",
					g->p.trust_anchor);
	}
	for (int i = 0; i < sk_X509_num(g->ks.chain); i++)
		if (X509_STORE_add_cert(g->trust, sk_X509_value(g->ks.chain, i)))
			g->trust_certs++;
	if (sk_X509_num(g->ks.chain) > 0)
		snprintf(g->trust_from + off, sizeof(g->trust_from) - off,
			 "%sthe CA chain of %.200s's keystore", off ? " and " : "", g->c.name);
	X509_STORE_set_flags(g->trust, X509_V_FLAG_PARTIAL_CHAIN);
	ERR_clear_error();
	return PKIROLL_OK;
}

static void normalize(char *code)
{
	char *w = code;

	for (const char *r = code; *r != '\0'; r++) {
		if (*r == '-' || *r == ' ')
			continue;
		*w++ = (char)(*r >= 'a' && *r <= 'z' ? *r - 'a' + 'A' : *r);
	}
	*w = '\0';
}

/* The reply as the operator sees it: body, protection, verification. */
static void read_reply(struct ping *g, const struct pkiroll_ping_opts *o,
		       struct pkiroll_ping_result *res)
{
	size_t len, off = 0;
	const unsigned char *der = cmp_trace_last_reply(g->trace, &len, &res->rtt_ms);
	char err[400];
	PKR_MSG *m;

	if (der == NULL)
		return;
	if ((m = cmp_msg_decode(der, len, err, sizeof(err))) == NULL) {
		snprintf(res->body, sizeof(res->body), "undecodable");
		snprintf(res->protection, sizeof(res->protection), "none");
		snprintf(res->trust, sizeof(res->trust), "unverified: not a PKIMessage (%s)", err);
		return;
	}
	snprintf(res->body, sizeof(res->body), "%s", cmp_body_name(m->body->type));
	snprintf(res->protection, sizeof(res->protection), "%s", cmp_protection_name(m));
	if (m->body->type == CMP_BODY_ERROR) {
		cmp_error_text(m->body->value.error, res->info, sizeof(res->info));
	} else if (m->body->type == CMP_BODY_GENP) {
		for (int i = 0; i < sk_PKR_ITAV_num(m->body->value.genp); i++) {
			char name[128];

			cmp_infotype_name(sk_PKR_ITAV_value(m->body->value.genp, i)->infoType, name,
					  sizeof(name));
			off += (size_t)snprintf(res->info + off, sizeof(res->info) - off, "%s%s",
						i ? ", " : "", name);
			if (off >= sizeof(res->info))
				break;
		}
		if (off == 0)
			snprintf(res->info, sizeof(res->info), "(no InfoTypeAndValue)");
	}

	/* Phase: the protection, checked as the reply came. */
	if (strcmp(res->protection, "none") == 0) {
		snprintf(res->trust, sizeof(res->trust), "unverified: the reply is not protected");
	} else if (strcmp(res->protection, "PBM") == 0) {
		int v;

		if (o->code == NULL) {
			snprintf(res->trust, sizeof(res->trust),
				 "unverified: MAC-protected, but this ping had no authorization "
				 "code");
		} else if ((v = cmp_verify_pbm(der, len, m, (const unsigned char *)g->code,
					       strlen(g->code), err, sizeof(err))) ==
			   CMP_VERIFY_OK) {
			res->verified = 1;
			snprintf(res->trust, sizeof(res->trust),
				 "PBM verified with the authorization code");
		} else {
			snprintf(res->trust, sizeof(res->trust), "unverified: %s%s", err,
				 v == CMP_VERIFY_BAD
					 ? " (RFC 4210 5.1.3.1: wrong authorization code?)"
					 : "");
		}
	} else if (g->trust_certs == 0) {
		snprintf(res->trust, sizeof(res->trust),
			 "unverified: signed, but no trust anchor (set trust_anchor in the CA "
			 "profile, or ping with --community)");
	} else if (cmp_verify_sig(der, len, m, g->trust, NULL, NULL, err, sizeof(err)) ==
		   CMP_VERIFY_OK) {
		res->verified = 1;
		snprintf(res->trust, sizeof(res->trust), "signature verified against %.560s",
			 g->trust_from);
	} else {
		snprintf(res->trust, sizeof(res->trust), "unverified: %s", err);
	}
	PKR_MSG_free(m);
	ERR_clear_error();
}

int pkiroll_ping(pkiroll_ctx *ctx, const struct pkiroll_ping_opts *o,
		 struct pkiroll_ping_result *res)
{
	struct ping g = {0};
	struct cmp_request rq = {.type = CMP_REQ_IR};
	struct cmp_client_cfg cc = {0};
	STACK_OF(PKR_ITAV) *genp = NULL;
	const struct cmp_result *r;
	char err[600];
	int rc, f;

	memset(res, 0, sizeof(*res));
	res->rtt_ms = -1;

	/* Phase: who we are to the CA. */
	if ((o->community != NULL) == (o->reference != NULL) ||
	    (o->reference != NULL && (o->code == NULL || o->code[0] == '\0'))) {
		ctx_log(ctx, PKIROLL_LOG_ERROR,
			"ping: give --reference with an authorization code, or --community");
		return PKIROLL_ERR_USAGE;
	}
	if (o->community != NULL && (rc = load_community(ctx, o, &g)) != PKIROLL_OK)
		goto out;
	if ((rc = pick_profile(ctx, o, &g)) != PKIROLL_OK ||
	    (rc = make_trust(ctx, &g)) != PKIROLL_OK)
		goto out;
	if (o->reference != NULL) {
		snprintf(g.code, sizeof(g.code), "%s", o->code);
		if (g.p.normalize_codes)
			normalize(g.code);
		rq.reference = o->reference;
		rq.secret = (const unsigned char *)g.code;
		rq.secret_len = strlen(g.code);
	} else {
		rq.old_key = g.ks.sign_key;
		rq.old_cert = g.ks.sign_cert;
		rq.old_chain = g.ks.chain;
	}

	/* Phase: the CMP set-up, as a worker makes it. */
	{
		struct transport_cfg tc = {.url = g.p.url,
					   .tls_ca_file =
						   g.p.tls_ca_file[0] ? g.p.tls_ca_file : NULL,
					   .tls_cert = g.p.tls_cert[0] ? g.p.tls_cert : NULL,
					   .tls_key = g.p.tls_key[0] ? g.p.tls_key : NULL,
					   .proxy = g.p.proxy[0] ? g.p.proxy : NULL,
					   .no_proxy = g.p.no_proxy[0] ? g.p.no_proxy : NULL,
					   .framing = g.p.framing,
					   .connect_timeout = g.p.connect_timeout,
					   .read_timeout = g.p.read_timeout};

		rc = PKIROLL_ERR_CONFIG;
		if ((g.transport = transport_new(&tc, err, sizeof(err))) == NULL) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "ping: %s", err);
			goto out;
		}
		if (g.p.recipient[0] != '\0' &&
		    (g.recipient = dn_parse(g.p.recipient, err, sizeof(err))) == NULL) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "ping: recipient: %s", err);
			goto out;
		}
		if (o->dump_dir != NULL && cmp_trace_dir_make(o->dump_dir, err, sizeof(err)) < 0) {
			ctx_log(ctx, PKIROLL_LOG_ERROR, "ping: --dump-dir %s", err);
			goto out;
		}
	}
	cc = (struct cmp_client_cfg){
		.transport = g.transport,
		.pbm = {g.p.pbm_owf, g.p.pbm_mac, g.p.pbm_iterations, g.p.pbm_salt_len},
		.recipient = g.recipient,
		.trust = g.trust};
	rc = PKIROLL_ERR_NOMEM;
	if ((g.trace = cmp_trace_new(ctx, o->dump_dir, o->community ? o->community : "ping",
				     o->trace)) == NULL ||
	    (g.tx = cmp_tx_new(&cc, &rq, NULL, NULL)) == NULL)
		goto out;
	cc.trace = g.trace;

	/* Phase: the genm, and what came back. */
	f = cmp_tx_genm(g.tx, o->empty ? NULL : ID_IT_CA_CERTS, &genp);
	r = cmp_tx_result(g.tx);
	for (int i = 0; i < CMP_NONCE_LEN; i++)
		snprintf(res->tid + 2 * i, sizeof(res->tid) - 2 * (size_t)i, "%02x", r->tid[i]);
	read_reply(&g, o, res);
	if (f == CMP_OK)
		res->outcome = PKIROLL_PING_OK;
	else if (res->body[0] == '\0')
		res->outcome = PKIROLL_PING_NOANSWER;
	else if (strcmp(res->body, "error") == 0)
		res->outcome = PKIROLL_PING_REFUSED;
	else if (!res->verified)
		res->outcome = PKIROLL_PING_UNVERIFIED;
	else
		res->outcome = PKIROLL_PING_PROTOCOL;
	if (f != CMP_OK)
		snprintf(res->reason, sizeof(res->reason), "%s: %.990s", cmp_fault_name(f),
			 r->reason);
	rc = PKIROLL_OK;
out:
	sk_PKR_ITAV_pop_free(genp, PKR_ITAV_free);
	cmp_tx_free(g.tx);
	cmp_trace_free(g.trace);
	transport_free(g.transport);
	X509_NAME_free(g.recipient);
	X509_STORE_free(g.trust);
	keystore_content_free(&g.ks);
	OPENSSL_cleanse(g.code, sizeof(g.code));
	return rc;
}
