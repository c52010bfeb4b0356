/*
 * CMP client against the in-test responder: the good path (dual key, both
 * framings, polling) and one test per kind of bad reply, each expecting
 * its own fault and reason.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "cmp/cmp_client.h"
#include "x509/dn.h"
#include "fake_ca.h"
#include "x509/keys.h"
#include "t.h"

#define SECRET "one-time-code"

struct run {
	int fault;
	char reason[1024];
	int framing;
	int polls;
	int enc_ok;
	int subject_changed;
};

/* One dual-key ir against a responder in the given mode. */
static void run_ir(int mode, const char *client_secret, struct run *out)
{
	struct fake_ca f;
	struct transport_cfg tc = {0};
	struct cmp_client_cfg cc = {.pbm = {NID_sha1, NID_hmac_sha1, 500, 16}};
	struct cmp_request rq = {
		.type = CMP_REQ_IR, .reference = "4711", .dual = 1, .enc_key_type = KEY_P256};
	char err[256];
	X509_NAME *subj = dn_parse("CN=Test Community,O=Example,C=US", err, sizeof(err));
	struct cmp_tx *tx;
	int fault;

	memset(out, 0, sizeof(*out));
	out->fault = -1;
	if (fake_ca_start(&f, SECRET, mode) < 0)
		return;
	tc.url = f.url;
	tc.read_timeout = 10;
	cc.transport = transport_new(&tc, err, sizeof(err));
	rq.secret = (const unsigned char *)client_secret;
	rq.secret_len = strlen(client_secret);
	rq.new_key = keys_generate(KEY_P256);
	rq.subject = subj;
	tx = cmp_tx_new(&cc, &rq, NULL, NULL);
	fault = cmp_tx_request(tx);
	if (fault == CMP_OK)
		fault = cmp_tx_confirm(tx, 1);
	out->fault = fault;
	snprintf(out->reason, sizeof(out->reason), "%s", cmp_tx_result(tx)->reason);
	out->framing = transport_framing(cc.transport);
	out->polls = cmp_tx_result(tx)->polls;
	out->enc_ok = cmp_tx_result(tx)->enc_key != NULL && cmp_tx_result(tx)->enc_cert != NULL &&
		      keys_match_cert(cmp_tx_result(tx)->enc_key, cmp_tx_result(tx)->enc_cert);
	cmp_tx_free(tx);
	transport_free(cc.transport);
	EVP_PKEY_free(rq.new_key);
	X509_NAME_free(subj);
	fake_ca_stop(&f);
}

TEST(cmp_dual_key_ir_ok)
{
	struct run r;

	run_ir(FAKE_OK, SECRET, &r);
	CHECK(r.fault == CMP_OK, "fault %d: %s", r.fault, r.reason);
	CHECK(r.enc_ok, "central key missing or not matching its certificate");
	CHECK(r.framing == FRAMING_V10, "framing %d, want version 10", r.framing);
}

TEST(cmp_framing_falls_back_to_v0)
{
	struct run r;

	run_ir(FAKE_V0_ONLY, SECRET, &r);
	CHECK(r.fault == CMP_OK, "fault %d: %s", r.fault, r.reason);
	CHECK(r.framing == FRAMING_V0, "framing %d, want version 0", r.framing);
}

TEST(cmp_polls_while_waiting)
{
	struct run r;

	run_ir(FAKE_WAITING, SECRET, &r);
	CHECK(r.fault == CMP_OK, "fault %d: %s", r.fault, r.reason);
	CHECK(r.polls == 1 && r.enc_ok, "polls %d enc %d", r.polls, r.enc_ok);
}

static void expect(int mode, const char *secret, int fault, const char *reason)
{
	struct run r;

	run_ir(mode, secret, &r);
	CHECK(r.fault == fault, "mode %d: fault %s (%s), want %s", mode, cmp_fault_name(r.fault),
	      r.reason, cmp_fault_name(fault));
	CHECK(strstr(r.reason, reason) != NULL, "mode %d: reason \"%s\" lacks \"%s\"", mode,
	      r.reason, reason);
}

TEST(cmp_bad_truncated)
{
	expect(FAKE_TRUNCATED, SECRET, CMP_F_PROTOCOL, "truncated or not DER");
}

TEST(cmp_bad_oversized)
{
	expect(FAKE_OVERSIZED, SECRET, CMP_F_TRANSIENT, "out of bounds");
}

TEST(cmp_bad_outer_tag)
{
	expect(FAKE_WRONG_TAG, SECRET, CMP_F_PROTOCOL, "not a PKIMessage (outer tag 0x31)");
}

TEST(cmp_bad_body_type)
{
	expect(FAKE_WRONG_BODY, SECRET, CMP_F_PROTOCOL, "expected ip, got pkiconf");
}

TEST(cmp_bad_transaction_id)
{
	expect(FAKE_WRONG_TID, SECRET, CMP_F_PROTOCOL, "wrong transactionID");
}

TEST(cmp_bad_recip_nonce)
{
	expect(FAKE_WRONG_NONCE, SECRET, CMP_F_PROTOCOL, "recipNonce is not our senderNonce");
}

TEST(cmp_bad_unprotected)
{
	expect(FAKE_UNPROTECTED, SECRET, CMP_F_PROTOCOL, "unprotected ip reply refused");
}

/* an ip whose MAC fails still carries a certificate for our key: it may
 * have been issued, so it is unverified, not a code to throw away */
TEST(cmp_bad_altered)
{
	expect(FAKE_ALTERED, SECRET, CMP_F_UNVERIFIED, "PBM mismatch");
}

TEST(cmp_bad_wrong_mac)
{
	expect(FAKE_WRONG_MAC, SECRET, CMP_F_UNVERIFIED, "its MAC did not verify");
}

TEST(cmp_bad_client_secret)
{
	expect(FAKE_OK, "not-our-code", CMP_F_UNVERIFIED, "may have been issued");
}

TEST(cmp_bad_response_count)
{
	expect(FAKE_COUNT, SECRET, CMP_F_PROTOCOL, "1 responses for 2 requests");
}

TEST(cmp_bad_encval_garbage)
{
	expect(FAKE_ENCVAL_GARBAGE, SECRET, CMP_F_KEY, "the CA-generated key");
}

TEST(cmp_bad_enc_key_mismatch)
{
	expect(FAKE_KEY_MISMATCH, SECRET, CMP_F_KEY, "does not match the encryption certificate");
}

TEST(cmp_bad_sign_key_mismatch)
{
	expect(FAKE_SIGN_KEY_MISMATCH, SECRET, CMP_F_KEY, "not the one requested");
}

TEST(cmp_unprotected_error_is_shown_not_trusted)
{
	expect(FAKE_UNPROTECTED_ERROR, SECRET, CMP_F_BADMAC, "not verified");
}

TEST(cmp_refused_connection_is_transient)
{
	struct transport_cfg tc = {.url = "cmp://127.0.0.1:1", .connect_timeout = 2};
	unsigned char *rsp;
	size_t n;
	char err[256];
	struct transport *t = transport_new(&tc, err, sizeof(err));

	CHECK(t != NULL, "transport: %s", err);
	CHECK(transport_exchange(t, (const unsigned char *)"x", 1, &rsp, &n, err, sizeof(err)) ==
		      TRANSPORT_TRANSIENT,
	      "not transient");
	CHECK(strstr(err, "connect") != NULL, "reason: %s", err);
	transport_free(t);
	CHECK(transport_new(&(struct transport_cfg){.url = "ftp://x"}, err, sizeof(err)) == NULL,
	      "ftp URL accepted");
	CHECK(strstr(err, "http://, https:// or cmp://") != NULL, "reason: %s", err);
}

/* Every message we encode parses with OpenSSL's own PKIMessage and asn1parse. */
TEST(cmp_messages_parse_with_openssl)
{
	static const char *const files[] = {"req-0.der", "rep-0.der", "req-1.der", "rep-1.der"};
	static const int types[] = {CMP_BODY_IR, CMP_BODY_IP, CMP_BODY_CERTCONF, CMP_BODY_PKICONF};
	struct run r;
	char cmd[8192];

	fake_ca_dump_dir = t_tmpdir();
	run_ir(FAKE_OK, SECRET, &r);
	fake_ca_dump_dir = NULL;
	CHECK(r.fault == CMP_OK, "fault %d: %s", r.fault, r.reason);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		OSSL_CMP_MSG *m = OSSL_CMP_MSG_read(t_path(files[i]), NULL, NULL);

		CHECK(m != NULL, "%s: d2i_OSSL_CMP_MSG refused it", files[i]);
		CHECK(OSSL_CMP_MSG_get_bodytype(m) == types[i], "%s: OpenSSL sees body %d, want %d",
		      files[i], OSSL_CMP_MSG_get_bodytype(m), types[i]);
		OSSL_CMP_MSG_free(m);
		snprintf(cmd, sizeof(cmd), "openssl asn1parse -inform DER -in '%s' >/dev/null 2>&1",
			 t_path(files[i]));
		CHECK(system(cmd) == 0, "openssl asn1parse refused %s", files[i]);
	}
}
