/*
 * pkiroll-ca's dispatcher: one request in, one reply out. Decodes it,
 * authenticates it (PBM with a user's codes, or a signature chaining to
 * the CA), applies faults, hands ir/cr/p10cr/kur to issue.c and answers
 * certConf, pollReq, rr, genm and error itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca_internal.h"
#include "request.h"

/* ---- faults ---- */

static void sleep_ms(int ms)
{
	if (ms > 0)
		nanosleep(
			&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L},
			NULL);
}

/* ---- authentication ---- */

static int authenticate(struct req *r)
{
	const PKR_HEADER *h = r->msg->header;
	char err[300];

	if (h->protectionAlg == NULL || r->msg->protection == NULL) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badMessageCheck),
			    "request is not protected", 0);
		return -1;
	}
	if (OBJ_obj2nid(h->protectionAlg->algorithm) == NID_id_PasswordBasedMAC) {
		char ref[160];
		int n = h->senderKID ? h->senderKID->length : 0, found;

		if (n <= 0 || n >= (int)sizeof(ref)) {
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badRequest),
				    "no reference number (senderKID)", 0);
			return -1;
		}
		memcpy(ref, h->senderKID->data, (size_t)n);
		ref[n] = '\0';
		for (int i = 0; i < n; i++)
			if ((unsigned char)ref[i] < 0x20 || (unsigned char)ref[i] >= 0x7f)
				ref[i] = '?';
		logf_(r, " ref=%s", ref);
		if ((found = ca_user_get(r->db, ref, &r->user)) <= 0) {
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badRequest),
				    found < 0 ? "user database error" : "unknown reference number",
				    0);
			return -1;
		}
		if (cmp_verify_pbm(r->der, r->len, r->msg, (const unsigned char *)r->user.code,
				   strlen(r->user.code), err, sizeof(err)) != CMP_VERIFY_OK) {
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badMessageCheck),
				    "MAC check failed (wrong authorization code?)", 0);
			return -1;
		}
		r->have_user = 1;
		r->auth = AUTH_PBM;
		return 0;
	}

	/* signature: a certificate this CA issued, not revoked */
	if (cmp_verify_sig(r->der, r->len, r->msg, r->cfg->keys.trust, r->cfg->keys.chain,
			   &r->signer, err, sizeof(err)) != CMP_VERIFY_OK) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badMessageCheck), err, 0);
		return -1;
	}
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(r->signer), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;
		struct ca_issued rec;
		const char *state = rec.state, *ref = rec.ref;

		ca_issued_get(r->db, hex, &rec);
		logf_(r, " signer=%s", hex ? hex : "?");
		OPENSSL_free(hex);
		BN_free(bn);
		r->auth = AUTH_SIG; /* errors from here on are signed */
		if (state[0] == '\0' && X509_cmp(r->signer, r->cfg->keys.cert) != 0) {
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_signerNotTrusted),
				    "the signer's certificate was not issued here", 1);
			return -1;
		}
		if (strcmp(state, "revoked") == 0 || strcmp(state, "rolledback") == 0 ||
		    strcmp(state, "rejected") == 0) {
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_certRevoked),
				    "the signer's certificate is revoked", 1);
			return -1;
		}
		if (strcmp(state, "spent") == 0) {
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_notAuthorized),
				    "the signer's certificate was replaced by a renewal, and has "
				    "served its one more kur",
				    1);
			return -1;
		}
		if (X509_cmp_current_time(X509_get0_notAfter(r->signer)) <= 0) {
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badTime),
				    "the signer's certificate has expired", 1);
			return -1;
		}
		if (ref[0] != '\0' && ca_user_get(r->db, ref, &r->user) > 0)
			r->have_user = 1;
	}
	return 0;
}

/* ---- issuing ---- */

/*
 * certConf: every check and the write in one BEGIN IMMEDIATE, so that a
 * request racing with the same reference number (which rolls this
 * transaction back) or another confirmation cannot leave two confirmed
 * pairs, or a pkiConf for certificates the CA rolled back.
 */
static void on_certconf(struct req *r)
{
	const STACK_OF(PKR_CERTSTATUS) *css = r->msg->body->value.certConf;
	const ASN1_OCTET_STRING *tid = r->msg->header->transactionID;
	struct ca_tx tx;
	const char *ref = tx.ref, *state = tx.state, *kind = tx.kind;
	int accepted = 1, found, n = 0, changed;
	char ustate[32] = "";
	unsigned long bits = 0;
	const char *why = NULL;

	if (tid == NULL) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badRequest),
			    "certConf without a transactionID", 1);
		return;
	}
	if (ca_db_begin(r->db) < 0) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_systemFailure), "CA database error", 1);
		return;
	}
	found = ca_tx_get(r->db, tid, &tx) > 0;
	if (found && strcmp(state, "confirmed") == 0) {
		/* RFC 4210 5.2.3 failInfo certConfirmed: a certConf that arrived twice;
		 * real CAs answer otherwise (fault reconf): NCM transactionIdInUse,
		 * EJBCA badRequest */
		bits = BIT(r->f.reconf_bit >= 0 ? r->f.reconf_bit
						: OSSL_CMP_PKIFAILUREINFO_certConfirmed);
		why = r->f.reconf_bit == OSSL_CMP_PKIFAILUREINFO_badRequest
			      ? "Got request with status GENERATED (40), NEW, FAILED or INPROCESS "
				"required"
		      : r->f.reconf_bit == OSSL_CMP_PKIFAILUREINFO_transactionIdInUse
			      ? "RFC 4210 5.1.1: this transactionID is in use"
			      : "the certificates of this transaction are already confirmed";
		goto refuse;
	}
	if (!found || strcmp(state, "issued") != 0) {
		bits = BIT(OSSL_CMP_PKIFAILUREINFO_badRequest);
		why = !found ? "certConf for an unknown transaction"
			     : "certConf for a transaction that is not waiting for one";
		goto refuse;
	}

	/* Phase: every CertStatus names a certificate of this transaction by its hash. */
	for (int i = 0; i < sk_PKR_CERTSTATUS_num(css); i++) {
		const PKR_CERTSTATUS *cs = sk_PKR_CERTSTATUS_value(css, i);
		int issued;
		ASN1_OCTET_STRING *hash =
			ca_issued_cert_hash(r->db, tid, ASN1_INTEGER_get(cs->certReqId), &issued);

		if (hash == NULL || ASN1_OCTET_STRING_cmp(hash, cs->certHash) != 0) {
			bits = BIT(OSSL_CMP_PKIFAILUREINFO_badCertId);
			why = !issued ? "certConf names an unknown certReqId"
				      : "RFC 4210 5.3.18: certHash does not match the certificate";
			ASN1_OCTET_STRING_free(hash);
			goto refuse;
		}
		ASN1_OCTET_STRING_free(hash);
		if (cs->statusInfo != NULL && cmp_pkisi_status(cs->statusInfo) != CMP_ST_ACCEPTED &&
		    cmp_pkisi_status(cs->statusInfo) != CMP_ST_GRANTED_WITH_MODS)
			accepted = 0;
		n++;
	}
	if (n == 0)
		accepted = 0; /* RFC 4210 5.3.18: nothing confirmed */
	if (accepted && ref[0] != '\0' && r->auth == AUTH_PBM) {
		/* one confirmed pair per reference number */
		ca_user_state(r->db, ref, ustate, sizeof(ustate));
		if (strcmp(ustate, "consumed") == 0) {
			ca_issued_set_state(r->db, tid, "rolledback");
			ca_tx_set_state(r->db, tid, "superseded");
			ca_db_commit(r->db);
			error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_notAuthorized),
				    "reference number already used by another transaction", 1);
			return;
		}
	}

	/* Phase: confirmed (codes consumed) or rejected (issuance undone). */
	changed = ca_issued_settle(r->db, tid, accepted ? "confirmed" : "rejected");
	if (changed <= 0 || ca_tx_set_state(r->db, tid, accepted ? "confirmed" : "rejected") != 1 ||
	    (ref[0] != '\0' && r->auth == AUTH_PBM &&
	     ca_user_set_state(r->db, ref, accepted ? "consumed" : "active") < 0)) {
		bits = changed == 0 ? BIT(OSSL_CMP_PKIFAILUREINFO_badRequest)
				    : BIT(OSSL_CMP_PKIFAILUREINFO_systemFailure);
		why = changed == 0 ? "certConf for certificates that are no longer unconfirmed"
				   : "CA database error";
		goto refuse;
	}
	if (accepted && strcmp(kind, "kur") == 0 && r->signer != NULL &&
	    ca_supersede_signer(r) < 0) {
		bits = BIT(OSSL_CMP_PKIFAILUREINFO_systemFailure);
		why = "CA database error";
		goto refuse;
	}
	if (ca_db_commit(r->db) < 0) {
		ca_db_rollback(r->db);
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_systemFailure), "CA database error", 1);
		return;
	}

	reply_new(r, CMP_BODY_PKICONF);
	r->rep->body->value.pkiconf = ASN1_NULL_new();
	logf_(r, " -> pkiConf (%s)", accepted ? "confirmed" : "rejected by the client");
	r->lose_reply = r->f.lostconf;
	return;
refuse:
	ca_db_rollback(r->db);
	error_reply(r, bits, why, 1);
}

static void on_pollreq(struct req *r)
{
	const ASN1_OCTET_STRING *tid = r->msg->header->transactionID;
	PKR_MSG *orig = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	int left = -1;

	if (ca_tx_waiting(r->db, tid, &left, &der, &len) > 0 && der != NULL) {
		const unsigned char *p = der;

		orig = d2i_PKR_MSG(NULL, &p, (long)len);
	}
	free(der);
	if (left < 0 || orig == NULL) {
		error_reply(r, BIT(OSSL_CMP_PKIFAILUREINFO_badRequest),
			    "pollReq for a transaction that is not waiting", 1);
		goto out;
	}
	if (left > 1) {
		PKR_POLLREP *pr = PKR_POLLREP_new();

		ca_tx_poll(r->db, tid);
		reply_new(r, CMP_BODY_POLLREP);
		r->rep->body->value.pollRep = sk_PKR_POLLREP_new_null();
		ASN1_INTEGER_set(pr->certReqId, 0);
		ASN1_INTEGER_set(pr->checkAfter, r->cfg->check_after);
		sk_PKR_POLLREP_push(r->rep->body->value.pollRep, pr);
		logf_(r, " -> pollRep checkAfter %d", r->cfg->check_after);
		goto out;
	}
	/* the last poll gets the certificates */
	r->f.waiting = 0;
	certify(r, orig,
		orig->body->type == CMP_BODY_KUR  ? CMP_BODY_KUP
		: orig->body->type == CMP_BODY_CR ? CMP_BODY_CP
						  : CMP_BODY_IP,
		0);
out:
	PKR_MSG_free(orig);
}

/*
 * The serial (hex) of the certificate an rr names without a serial number,
 * by its subject and public key (RFC 4210 5.3.9: certDetails). NULL with
 * why set when none or several match: never a guess.
 */
static char *serial_by_details(struct req *r, const OSSL_CRMF_CERTTEMPLATE *t, char *why,
			       size_t whylen)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_OSSL_CRMF_CERTTEMPLATE(t, &der), matches;
	PKR_CERTTEMPLATE *m = NULL;
	char *subj = NULL, *hex = NULL;

	p = der;
	if (n <= 0 || (m = d2i_PKR_CERTTEMPLATE(NULL, &p, n)) == NULL || m->subject == NULL ||
	    (subj = dn_format(m->subject)) == NULL) {
		snprintf(why, whylen, "certDetails without a serial number or a subject");
		goto out;
	}
	matches = ca_issued_find(r->db, subj, m->publicKey ? m->publicKey->subjectPublicKey : NULL,
				 &hex);
	if (matches != 1) {
		snprintf(why, whylen,
			 matches == 0
				 ? "no certificate with this subject and key"
				 : "%d certificates match the subject%s: name the serial number",
			 matches, m->publicKey ? " and key" : "");
		free(hex);
		hex = NULL;
	}
out:
	ERR_clear_error();
	OPENSSL_free(der);
	PKR_CERTTEMPLATE_free(m);
	free(subj);
	return hex;
}

static void on_rr(struct req *r)
{
	const STACK_OF(PKR_REVDETAILS) *rds = r->msg->body->value.rr;
	PKR_REVREP *rp = PKR_REVREP_new();

	for (int i = 0; i < sk_PKR_REVDETAILS_num(rds); i++) {
		const PKR_REVDETAILS *rd = sk_PKR_REVDETAILS_value(rds, i);
		const ASN1_INTEGER *sn = OSSL_CRMF_CERTTEMPLATE_get0_serialNumber(rd->certDetails);
		BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
		char *hex = NULL, why[200] = "no such certificate";
		ASN1_ENUMERATED *reason = NULL;
		struct ca_issued rec;
		long code = 0;
		int found, allowed;
		char *signer_hex = r->signer ? serial_hex(r->signer) : NULL;
		PKR_PKISI *si = NULL;

		if (sn != NULL) {
			char *h = bn ? BN_bn2hex(bn) : NULL;

			hex = h ? strdup(h) : NULL;
			OPENSSL_free(h);
		} else {
			hex = serial_by_details(r, rd->certDetails, why, sizeof(why));
		}
		found = ca_issued_get(r->db, hex, &rec) > 0;
		/* the holder may revoke: the certificate itself, or the same user */
		allowed = found && ((signer_hex && hex && strcmp(signer_hex, hex) == 0) ||
				    (r->have_user && strcmp(rec.ref, r->user.ref) == 0));
		if (rd->crlEntryDetails != NULL &&
		    (reason = X509V3_get_d2i(rd->crlEntryDetails, NID_crl_reason, NULL, NULL)) !=
			    NULL)
			code = ASN1_ENUMERATED_get(reason);
		if (!allowed) {
			si = cmp_pkisi_new(CMP_ST_REJECTION,
					   BIT(found ? OSSL_CMP_PKIFAILUREINFO_notAuthorized
						     : OSSL_CMP_PKIFAILUREINFO_badCertId),
					   found ? "not the holder of this certificate" : why);
			logf_(r, " -> rp %s refused (%s)", hex ? hex : "?",
			      found ? "not the holder" : why);
		} else if (r->f.reject_bit >= 0) {
			/* the rejection fault applies to rr as to certificate requests */
			si = cmp_pkisi_new(CMP_ST_REJECTION, BIT(r->f.reject_bit),
					   "rejected (fault injection)");
			logf_(r, " -> rp %s refused (fault injection)", hex);
		} else if (code == 8) {
			/* removeFromCRL (RFC 5280 5.3.1): releases a hold, revokes nothing */
			int on_hold = strcmp(rec.state, "revoked") == 0 && rec.reason == 6;

			if (on_hold)
				ca_issued_release(r->db, hex);
			si = on_hold ? cmp_pkisi_new(CMP_ST_ACCEPTED, 0, NULL)
				     : cmp_pkisi_new(
					       CMP_ST_REJECTION,
					       BIT(OSSL_CMP_PKIFAILUREINFO_badRequest),
					       "removeFromCRL: the certificate is not on hold");
			logf_(r, " -> rp %s %s", hex, on_hold ? "hold released" : "refused");
		} else {
			ca_issued_revoke(r->db, hex, code);
			si = cmp_pkisi_new(CMP_ST_ACCEPTED, 0, NULL);
			logf_(r, " -> rp %s revoked reason %ld", hex, code);
		}
		sk_PKR_PKISI_push(rp->status, si);
		ASN1_ENUMERATED_free(reason);
		free(hex);
		OPENSSL_free(signer_hex);
		BN_free(bn);
	}
	reply_new(r, CMP_BODY_RP);
	r->rep->body->value.rp = rp;
}

/* genp with id-it-caCerts (RFC 9810 5.3.19.3): the CA's chain. */
static void on_genm(struct req *r)
{
	PKR_ITAV *itav = PKR_ITAV_new();
	unsigned char *seq = NULL, *p;
	int inner = 0, total;
	ASN1_STRING *s = ASN1_STRING_new();

	for (int i = 0; i < sk_X509_num(r->cfg->keys.chain); i++)
		inner += i2d_X509(sk_X509_value(r->cfg->keys.chain, i), NULL);
	total = ASN1_object_size(1, inner, V_ASN1_SEQUENCE);
	p = seq = OPENSSL_malloc((size_t)total);
	ASN1_put_object(&p, 1, inner, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	for (int i = 0; i < sk_X509_num(r->cfg->keys.chain); i++)
		i2d_X509(sk_X509_value(r->cfg->keys.chain, i), &p);
	ASN1_STRING_set(s, seq, total);
	OPENSSL_free(seq);
	itav->infoType = OBJ_txt2obj("1.3.6.1.5.5.7.4.17", 1);
	itav->infoValue = ASN1_TYPE_new();
	ASN1_TYPE_set(itav->infoValue, V_ASN1_SEQUENCE, s);
	reply_new(r, CMP_BODY_GENP);
	r->rep->body->value.genp = sk_PKR_ITAV_new_null();
	sk_PKR_ITAV_push(r->rep->body->value.genp, itav);
	logf_(r, " -> genp caCerts (%d)", sk_X509_num(r->cfg->keys.chain));
}

void ca_log(const struct ca_cfg *cfg, const char *line)
{
	struct timespec ts;

	if (!cfg->log_time) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%lld %s\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, line);
}

void ca_handle(const struct ca_cfg *cfg, const char *via, const unsigned char *der, size_t len,
	       struct ca_reply *out)
{
	struct req r = {.cfg = cfg, .der = der, .len = len};
	char err[300];

	memset(out, 0, sizeof(*out));
	r.f = cfg->faults;
	snprintf(r.log, sizeof(r.log), "pkiroll-ca: %s", via);
	if ((r.db = ca_db_get(cfg->dir)) == NULL) {
		out->action = CA_HTTP500;
		goto log;
	}

	/* Phase: what is it, and who sent it? */
	if ((r.msg = cmp_msg_decode(der, len, err, sizeof(err))) == NULL) {
		r.rep = cmp_srv_error_new(NULL, ca_name(&r), CMP_ST_REJECTION,
					  BIT(OSSL_CMP_PKIFAILUREINFO_badDataFormat), err);
		logf_(&r, " undecodable request -> error (badDataFormat: %s)", err);
		goto reply;
	}
	logf_(&r, " %s", cmp_body_name(r.msg->body->type));
	if (authenticate(&r) < 0)
		goto reply;
	if (r.have_user && r.user.faults[0] != '\0') {
		struct faults uf = FAULTS_NONE;

		if (faults_parse(r.user.faults, &uf, err, sizeof(err)) == 0)
			faults_add(&r.f, &uf);
	}
	sleep_ms(r.f.delay_ms);
	if (r.f.drop || r.f.close_conn || r.f.http500 || r.f.garbage) {
		out->action = r.f.drop	       ? CA_DROP
			      : r.f.close_conn ? CA_CLOSE
			      : r.f.http500    ? CA_HTTP500
					       : CA_GARBAGE;
		logf_(&r, " -> fault %s",
		      r.f.drop	       ? "drop"
		      : r.f.close_conn ? "close"
		      : r.f.http500    ? "http500"
				       : "garbage");
		goto log;
	}

	/* Phase: the body. A new request with a transactionID in use is
	 * refused (RFC 4210 5.1.1): a transaction issues once. */
	if ((r.msg->body->type == CMP_BODY_IR || r.msg->body->type == CMP_BODY_CR ||
	     r.msg->body->type == CMP_BODY_KUR || r.msg->body->type == CMP_BODY_P10CR) &&
	    ca_tx_exists(r.db, r.msg->header->transactionID)) {
		error_reply(&r, BIT(OSSL_CMP_PKIFAILUREINFO_transactionIdInUse),
			    "RFC 4210 5.1.1: this transactionID belongs to another transaction", 1);
		goto reply;
	}
	switch (r.msg->body->type) {
	case CMP_BODY_IR:
	case CMP_BODY_CR:
		if (r.auth == AUTH_PBM && strcmp(r.user.state, "consumed") == 0) {
			code_used_reply(&r);
			break;
		}
		certify(&r, r.msg, r.msg->body->type == CMP_BODY_IR ? CMP_BODY_IP : CMP_BODY_CP, 1);
		break;
	case CMP_BODY_P10CR:
		if (r.auth == AUTH_PBM && strcmp(r.user.state, "consumed") == 0) {
			code_used_reply(&r);
			break;
		}
		on_p10cr(&r);
		break;
	case CMP_BODY_KUR:
		on_kur(&r);
		break;
	case CMP_BODY_CERTCONF:
		on_certconf(&r);
		break;
	case CMP_BODY_POLLREQ:
		on_pollreq(&r);
		break;
	case CMP_BODY_RR:
		on_rr(&r);
		break;
	case CMP_BODY_GENM:
		on_genm(&r);
		break;
	case CMP_BODY_ERROR:
		cmp_error_text(r.msg->body->value.error, err, sizeof(err));
		logf_(&r, " (%s)", err);
		reply_new(&r, CMP_BODY_PKICONF);
		r.rep->body->value.pkiconf = ASN1_NULL_new();
		logf_(&r, " -> pkiConf");
		break;
	default:
		error_reply(&r, BIT(OSSL_CMP_PKIFAILUREINFO_badRequest), "unsupported message type",
			    1);
	}

reply:
	if (r.rep == NULL) {
		out->action = CA_HTTP500;
		logf_(&r, " -> internal error");
		goto log;
	}
	if (r.rep->body->type == CMP_BODY_PKICONF && r.f.badconf)
		r.f.wrongmac = 1; /* the pkiConf only */
	if (protect_reply(&r) < 0 || cmp_msg_encode(r.rep, &out->der, &out->len) < 0) {
		out->action = CA_HTTP500;
		logf_(&r, " -> cannot protect or encode the reply");
		goto log;
	}
	if (r.f.wrongmac)
		logf_(&r, " [fault: wrong MAC]");
	if (r.rep->body->type == CMP_BODY_PKICONF && r.f.flipconf && out->len > 8) {
		out->der[out->len - 3] ^= 0x20; /* in the protection, as a line might */
		logf_(&r, " [fault: a byte flipped]");
	}
	if (r.lose_reply) {
		/* done at the CA, the answer lost on the way */
		out->action = CA_DROP;
		logf_(&r, " [fault: answer lost]");
		goto log;
	}
	out->action = CA_REPLY;
	out->slow_ms = r.f.slow_ms;
log:
	snprintf(out->ctype, sizeof(out->ctype), "%s", r.f.ctype);
	out->chunked = r.f.chunked;
	ca_log(cfg, r.log);
	ERR_clear_error();
	PKR_MSG_free(r.msg);
	PKR_MSG_free(r.rep);
	X509_free(r.signer);
	OPENSSL_cleanse(&r.user, sizeof(r.user));
	ca_db_put(r.db);
}
