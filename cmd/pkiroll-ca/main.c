/*
 * pkiroll-ca: a real CMP CA for tests, demos and rehearsals.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/objects.h>

#include "ca_internal.h"
#include "mint.h"
#include "listen.h"

static const char usage[] =
	"usage: pkiroll-ca COMMAND --state DIR [options]\n"
	"\n"
	"A CMP CA (RFC 4210) on loopback for tests, demos and rehearsals of a\n"
	"pkiroll batch, behaving as an Entrust Security Manager does for the\n"
	"flows pkiroll uses: dual-key ir with a CA-generated encryption key,\n"
	"cr, p10cr, kur, rr, certConf, implicitConfirm, polling, genm.\n"
	"\n"
	"  init   --state DIR [--key-type rsa2048|p256] [--intermediate]\n"
	"         make the CA key and certificate (a root, or a root and an\n"
	"         issuing intermediate)\n"
	"  users import --state DIR FILE.csv\n"
	"         register users from a manifest (community, reference_number,\n"
	"         authorization_code incl. env:/file:, subject)\n"
	"  users add --state DIR --ref R (--code-file F | --code-env VAR | --code C)\n"
	"         --subject DN [--fault SPEC]\n"
	"  users list --state DIR\n"
	"  serve  --state DIR [--http ADDR:PORT] [--https ADDR:PORT] [--tcp ADDR:PORT]\n"
	"         port 0 picks a free port; prints \"listening http|https|tcp ADDR:PORT\";\n"
	"         HTTPS uses a server certificate for localhost/127.0.0.1/::1 that\n"
	"         this CA issues at start (clients trust DIR/root.pem)\n"
	"         --validity SECONDS       certificate lifetime (default 365 days)\n"
	"         --path /pkix/            the HTTP path\n"
	"         --allow-implicit-confirm grant implicitConfirm when asked\n"
	"         --confirm-timeout S      roll back unconfirmed issuance (default 300)\n"
	"         --check-after S          pollRep checkAfter (default 1)\n"
	"         --enc-cipher aes256|3des symmetric cipher for central keys\n"
	"         --oaep                   RSAES-OAEP key transport\n"
	"         --tcp-v0-only            speak only the RFC 2510 framing\n"
	"         --log-time               log lines start with the epoch time in ms\n"
	"         --https-client-ca FILE   HTTPS requires a client certificate that\n"
	"                                  chains to FILE (PEM); else a TLS alert\n"
	"         --fault SPEC             for every user: delay=MS, waiting=K,\n"
	"                                  drop, close, http500, garbage, wrongmac,\n"
	"                                  reject=FAILINFO, consumed, slow=MS;\n"
	"                                  what real CAs do: responder (replies\n"
	"                                  signed by a CMP responder, the pkiConf\n"
	"                                  bare), signpbm (replies to MAC requests\n"
	"                                  signed), signerrors (errors signed, even\n"
	"                                  to a failed MAC; for every user only),\n"
	"                                  lostconf (certConf confirmed, its answer\n"
	"                                  lost), reconf=FAILINFO (a second certConf\n"
	"                                  gets it, e.g. transactionIdInUse or\n"
	"                                  badRequest; default certConfirmed),\n"
	"                                  badconf / flipconf (the pkiConf with a\n"
	"                                  bad MAC or signature / a flipped byte),\n"
	"                                  ejbca (a used code gets badRequest \"Got\n"
	"                                  request with status GENERATED (40)...\")\n"
	"                                  HTTP only (the TCP framings have no status\n"
	"                                  or headers):\n"
	"                                  ctype=TYPE  reply with this Content-Type (';'\n"
	"                                    allowed: ctype=application/pkixcmp;charset=binary);\n"
	"                                    ctype=params: application/PKIXCMP; charset=binary;\n"
	"                                    x-vendor=1\n"
	"                                  chunked     reply in chunked transfer encoding\n"
	"                                  ratelimit=N[/SECS]  a limiter in front of the CA,\n"
	"                                    server-wide (serve only): the first request opens\n"
	"                                    a window of SECS seconds (default 1); its first N\n"
	"                                    requests pass, every later one in the window gets\n"
	"                                    503 with an HTML page and no CMP processing; every\n"
	"                                    HTTP request counts (certConf, pollReq too), refused\n"
	"                                    ones do not; ratelimit=0 refuses all\n"
	"                                  ratelimit429=N[/SECS]  the same, answering 429\n"
	"                                  retryafter=SECS  refusals carry Retry-After: SECS\n"
	"                                  retrydate=SECS   ... as an HTTP-date SECS ahead\n"
	"  issued --state DIR             what was issued, and its state\n"
	"\n"
	"SIGTERM or SIGINT stops serve. One log line per message on stderr.\n";

static int fail_usage(const char *msg)
{
	fprintf(stderr, "pkiroll-ca: %s (see pkiroll-ca --help)\n", msg);
	return 2;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option o[] = {{"state", 1, 0, 's'},
					  {"key-type", 1, 0, 'k'},
					  {"intermediate", 0, 0, 'i'},
					  {0, 0, 0, 0}};
	const char *dir = NULL;
	int c, kt = KEY_RSA2048, inter = 0;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c == 's')
			dir = optarg;
		else if (c == 'k') {
			if ((kt = base_key_type_from_name(optarg)) < 0)
				return fail_usage(
					"--key-type: rsa2048, rsa3072, rsa4096, p256, p384");
		} else if (c == 'i')
			inter = 1;
		else
			return 2;
	}
	if (dir == NULL)
		return fail_usage("init: --state DIR is required");
	if (ca_init(dir, kt, inter) < 0)
		return 1;
	printf("pkiroll-ca: CA in %s (%s%s)\n", dir, base_key_type_name(kt),
	       inter ? ", root and issuing CA" : ", root");
	return 0;
}

static void log_stderr(void *arg, enum pkiroll_level l, const char *msg)
{
	(void)arg;
	(void)l;
	fprintf(stderr, "%s\n", msg);
}

static int users_import(const char *dir, const char *file)
{
	pkiroll_ctx *ctx = pkiroll_ctx_new(log_stderr, NULL);
	const struct manifest_row *row;
	struct manifest *m;
	sqlite3 *db = ca_db_open(dir);
	int err, r, added = 0, bad = 0;
	char code[512], why[256];

	/* a test CA keeps codes in clear in its database: no mode check */
	const struct pkiroll_manifest_opts mo = {.insecure_code_files = 1};

	if (db == NULL || (m = manifest_open(ctx, file, &mo, &err)) == NULL) {
		ca_db_close(db);
		pkiroll_ctx_free(ctx);
		return 1;
	}
	ca_db_begin(db);
	while ((r = manifest_next_row(m, &row)) > 0) {
		if (row->bad) {
			bad++;
			continue;
		}
		if (manifest_resolve_code(row->authcode, 1, code, sizeof(code), why, sizeof(why)) <
		    0) {
			fprintf(stderr, "%s:%lu: authorization_code: %s\n", file, row->line, why);
			bad++;
			continue;
		}
		if (ca_user_put(db, row->reference, code, row->subject, NULL) < 0)
			bad++;
		else
			added++;
		OPENSSL_cleanse(code, sizeof(code));
	}
	ca_db_commit(db);
	manifest_close(m);
	ca_db_close(db);
	pkiroll_ctx_free(ctx);
	printf("pkiroll-ca: %d users registered, %d rows skipped\n", added, bad);
	return r < 0 || bad > 0 ? 1 : 0;
}

/* One line of `users list`. */
static void print_user(void *arg, const struct ca_user_row *u)
{
	(void)arg;
	printf("%s\t%s\t%s%s%s\n", u->ref, u->state, u->subject, *u->faults ? "\tfaults " : "",
	       u->faults);
}

static int cmd_users(int argc, char **argv)
{
	static const struct option o[] = {
		{"state", 1, 0, 's'},	 {"ref", 1, 0, 'r'},
		{"code", 1, 0, 'c'},	 {"code-file", 1, 0, 'f'},
		{"code-env", 1, 0, 'e'}, {"subject", 1, 0, 'S'},
		{"fault", 1, 0, 'F'},	 {0, 0, 0, 0},
	};
	const char *dir = NULL, *ref = NULL, *subject = NULL, *fault = "", *sub;
	char code[512] = "", err[256];
	int c;

	if (argc < 2)
		return fail_usage("users: import, add or list");
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (c) {
		case 's':
			dir = optarg;
			break;
		case 'r':
			ref = optarg;
			break;
		case 'c':
			snprintf(code, sizeof(code), "%s", optarg);
			break;
		case 'f':
		case 'e': {
			char spec[600];

			snprintf(spec, sizeof(spec), "%s:%s", c == 'f' ? "file" : "env", optarg);
			if (manifest_resolve_code(spec, 1, code, sizeof(code), err, sizeof(err)) <
			    0)
				return fail_usage(err);
			break;
		}
		case 'S':
			subject = optarg;
			break;
		case 'F':
			fault = optarg;
			break;
		default:
			return 2;
		}
	}
	if (dir == NULL)
		return fail_usage("users: --state DIR is required");
	if (strcmp(sub, "import") == 0) {
		if (optind != argc - 1)
			return fail_usage("users import: one FILE.csv");
		return users_import(dir, argv[optind]);
	}
	if (strcmp(sub, "add") == 0) {
		struct faults f = FAULTS_NONE;
		X509_NAME *n;
		char *norm;
		sqlite3 *db;
		int rc;

		if (ref == NULL || code[0] == '\0' || subject == NULL)
			return fail_usage("users add: --ref, a code and --subject are required");
		if ((n = dn_parse(subject, err, sizeof(err))) == NULL)
			return fail_usage(err);
		if (faults_parse(fault, &f, err, sizeof(err)) < 0) {
			X509_NAME_free(n);
			return fail_usage(err);
		}
		norm = dn_format(n);
		X509_NAME_free(n);
		if ((db = ca_db_open(dir)) == NULL) {
			free(norm);
			return 1;
		}
		rc = ca_user_put(db, ref, code, norm, fault);
		OPENSSL_cleanse(code, sizeof(code));
		ca_db_close(db);
		free(norm);
		if (rc < 0)
			return 1;
		printf("pkiroll-ca: user %s registered\n", ref);
		return 0;
	}
	if (strcmp(sub, "list") == 0) {
		sqlite3 *db = ca_db_open(dir);

		if (db == NULL)
			return 1;
		ca_user_each(db, print_user, NULL);
		ca_db_close(db);
		return 0;
	}
	return fail_usage("users: import, add or list");
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option o[] = {
		{"state", 1, 0, 's'},
		{"http", 1, 0, 'h'},
		{"tcp", 1, 0, 't'},
		{"https", 1, 0, 'H'},
		{"validity", 1, 0, 'v'},
		{"path", 1, 0, 'p'},
		{"allow-implicit-confirm", 0, 0, 'i'},
		{"confirm-timeout", 1, 0, 'c'},
		{"check-after", 1, 0, 'a'},
		{"enc-cipher", 1, 0, 'e'},
		{"oaep", 0, 0, 'o'},
		{"tcp-v0-only", 0, 0, '0'},
		{"fault", 1, 0, 'f'},
		{"log-time", 0, 0, 'T'},
		{"https-client-ca", 1, 0, 'C'},
		{0, 0, 0, 0},
	};
	struct ca_cfg cfg = {.validity = 365L * 86400,
			     .confirm_timeout = 300,
			     .check_after = 1,
			     .enc_cipher_nid = NID_aes_256_cbc};
	struct listen_cfg lc = {.path = "/pkix/"};
	char err[300];
	sqlite3 *db;
	int c, rc;

	cfg.faults = (struct faults)FAULTS_NONE;
	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (c) {
		case 's':
			cfg.dir = optarg;
			break;
		case 'h':
			lc.http = optarg;
			break;
		case 't':
			lc.tcp = optarg;
			break;
		case 'H':
			lc.https = optarg;
			break;
		case 'v':
			cfg.validity = atol(optarg);
			break;
		case 'p':
			lc.path = optarg;
			break;
		case 'i':
			cfg.allow_implicit = 1;
			break;
		case 'c':
			cfg.confirm_timeout = atoi(optarg);
			break;
		case 'a':
			cfg.check_after = atoi(optarg);
			break;
		case 'e':
			if (strcmp(optarg, "aes256") == 0)
				cfg.enc_cipher_nid = NID_aes_256_cbc;
			else if (strcmp(optarg, "3des") == 0)
				cfg.enc_cipher_nid = NID_des_ede3_cbc;
			else
				return fail_usage("--enc-cipher: aes256 or 3des");
			break;
		case 'o':
			cfg.oaep = 1;
			break;
		case '0':
			lc.tcp_v0_only = 1;
			break;
		case 'T':
			cfg.log_time = 1;
			break;
		case 'C':
			lc.https_client_ca = optarg;
			break;
		case 'f':
			if (faults_parse(optarg, &cfg.faults, err, sizeof(err)) < 0)
				return fail_usage(err);
			break;
		default:
			return 2;
		}
	}
	if (cfg.dir == NULL)
		return fail_usage("serve: --state DIR is required");
	if (lc.http == NULL && lc.tcp == NULL && lc.https == NULL)
		lc.http = "127.0.0.1:8080";
	if (cfg.validity <= 0)
		return fail_usage("--validity: a number of seconds");
	if (ca_keys_load(cfg.dir, &cfg.keys) < 0 || (db = ca_db_open(cfg.dir)) == NULL)
		return 1;
	ca_db_close(db);
	/* the CMP responder of the fault responder: a signing certificate of
	 * this CA, made anew at each start, as real CAs sign with one */
	{
		X509_NAME *n = X509_NAME_new();

		cfg.resp_key = keys_generate(KEY_P256);
		if (n == NULL || cfg.resp_key == NULL ||
		    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
						(const unsigned char *)"pkiroll-ca CMP responder",
						-1, -1, 0) ||
		    (cfg.resp_cert = ca_mint(cfg.keys.cert, cfg.keys.key, n, cfg.resp_key, NULL,
					     MINT_SIGNING, cfg.validity)) == NULL) {
			X509_NAME_free(n);
			fprintf(stderr, "pkiroll-ca: cannot make the CMP responder certificate\n");
			return 1;
		}
		X509_NAME_free(n);
	}
	rc = ca_serve(&cfg, &lc);
	ca_keys_free(&cfg.keys);
	EVP_PKEY_free(cfg.resp_key);
	X509_free(cfg.resp_cert);
	return rc < 0 ? 1 : 0;
}

/* One line of `issued`. */
static void print_issued(void *arg, const struct ca_issued_row *c)
{
	(void)arg;
	printf("%s\t%s\t%s\t%s\t%s\t%s\n", c->serial, c->usage, c->state, c->ref, c->issued,
	       c->subject);
}

static int cmd_issued(int argc, char **argv)
{
	static const struct option o[] = {{"state", 1, 0, 's'}, {0, 0, 0, 0}};
	const char *dir = NULL;
	sqlite3 *db;
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1)
		if (c == 's')
			dir = optarg;
		else
			return 2;
	if (dir == NULL)
		return fail_usage("issued: --state DIR is required");
	if ((db = ca_db_open(dir)) == NULL)
		return 1;
	printf("serial\tusage\tstate\treference\tissued (UTC)\tsubject\n");
	ca_issued_each(db, print_issued, NULL);
	ca_db_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("pkiroll-ca %s\n", PKIROLL_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "users") == 0)
		return cmd_users(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "issued") == 0)
		return cmd_issued(argc - 1, argv + 1);
	return fail_usage("unknown command");
}
