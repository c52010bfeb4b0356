/*
 * Fuzz target: pkiroll-ca's request handler (authentication by PBM or
 * signature, ir/cr/p10cr/kur CRMF, certConf, pollReq, rr, genm), on a CA
 * made once in a scratch directory. The user of the seed corpus (reference
 * 4711, code "fuzz-secret") is made active again before every input, so
 * that a PBM-protected request gets past authentication each time.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/obj_mac.h>

#include "castate.h"
#include "fuzz.h"
#include "handler.h"
#include "input/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ca_cfg cfg;
	struct ca_reply out = {0};
	sqlite3 *db;

	if (cfg.dir == NULL) {
		static char dir[128];

		snprintf(dir, sizeof(dir), "%s/ca", fuzz_dir());
		if (ca_init(dir, KEY_P256, 0) < 0 || ca_keys_load(dir, &cfg.keys) < 0 ||
		    (db = ca_db_open(dir)) == NULL)
			abort();
		ca_db_close(db); /* the schema; requests use pooled connections */
		cfg.dir = dir;
		cfg.validity = 86400;
		cfg.allow_implicit = 1;
		cfg.confirm_timeout = 3600;
		cfg.enc_cipher_nid = NID_aes_256_cbc;
		cfg.faults = (struct faults)FAULTS_NONE;
	}
	if ((db = ca_db_get(cfg.dir)) == NULL)
		abort();
	ca_user_put(db, "4711", "fuzz-secret", "CN=fuzz", NULL);
	ca_user_set_state(db, "4711", "active");
	ca_db_put(db);
	ca_handle(&cfg, "fuzz", data, size, &out);
	OPENSSL_free(out.der);
	return 0;
}
