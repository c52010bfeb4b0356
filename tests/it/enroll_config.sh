# The configuration file: examples/pkiroll.conf parses; a profile from a
# config file is used by name; errors name the file and line; the circuit
# breaker pauses a failing CA instead of burning through the manifest.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
make_manifest m.csv 30 m 500000

# the shipped example is valid (a dry run reads it and contacts nothing)
expect_rc 0 "$PKIROLL" --config "$T_SRC/examples/pkiroll.conf" --db x.db enroll m.csv --dry-run --ca rehearsal
has "$T_DIR/err" "via http://127.0.0.1:8080/pkix/"
printf '[pkiroll]\ncolour = blue\n' >bad.conf
expect_rc 2 "$PKIROLL" --config bad.conf enroll m.csv --dry-run
has "$T_DIR/err" "bad.conf:2: unknown key \"colour\" in [pkiroll]"
printf '[ca x]\nurl = ftp://nope\n' >bad2.conf
expect_rc 2 "$PKIROLL" --config bad2.conf enroll m.csv --dry-run
has "$T_DIR/err" "bad2.conf:2: [ca x] url: bad value"

"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
cat >pkiroll.conf <<CONF
[pkiroll]
db = $T_DIR/conf.db
keystore_dir = $T_DIR/ks
default_ca = test
jobs = 2

[ca test]
url = cmp://$CA_TCP
framing = v10
pbm_owf = sha1
pbm_mac = hmac-sha1
pbm_iterations = 1000
CONF
# ./pkiroll.conf is found without --config; db and keystore_dir come from it
expect_rc 0 env PKIROLL_KEYSTORE_PASS="$(cat pass)" "$PKIROLL" enroll m.csv --limit 5
has "$T_DIR/out" "5 due: 5 enrolled"
[ -f conf.db ] && [ -d ks/m-1 ] || fail "config db or keystore_dir not used"
# the legacy 3DES keystore profile, with the passphrase on a file descriptor
printf 'keystore_format = legacy-3des\n' >>legacy.conf
sed 's/^keystore_dir = .*/keystore_dir = '"${T_DIR//\//\\/}"'\/ks3/; s/^jobs = 2/jobs = 2\nkeystore_format = legacy-3des/' \
	pkiroll.conf >legacy.conf
expect_rc 0 "$PKIROLL" --config legacy.conf enroll m.csv --limit 2 --keystore-pass-fd 3 3<pass
has "$T_DIR/out" "2 due: 2 enrolled"
openssl pkcs12 -in ks3/m-6/keystore.p12 -passin file:pass -info -noout 2>&1 \
	| grep -q "pbeWithSHA1And3-KeyTripleDES-CBC" || fail "not a 3DES keystore"
"$TOOLS/p12check" pass ks3/m-6 ks3/m-7 >/dev/null || fail "3DES keystores"
stop_ca

# every request fails: the breaker pauses the profile after 3
start_ca ca --fault http500
cat >breaker.conf <<CONF
[ca flaky]
url = http://$CA_HTTP/pkix/
circuit_breaker = 3
retries = 0
CONF
expect_rc 1 "$PKIROLL" --config breaker.conf --db b.db enroll m.csv -j 1 --keystore-dir ks2 \
	--keystore-pass-file pass
has "$T_DIR/err" "CA profile flaky paused for the rest of this run after 3 consecutive transient failures"
grep -q "3 failed" "$T_DIR/out" && grep -q "skipped" "$T_DIR/out" || { cat "$T_DIR/out"; fail "breaker counts"; }
[ "$(grep -c 'http ir' "$CA_LOG")" -le 4 ] || fail "the paused CA still got requests"

# the system configuration: PKIROLL_SYSTEM_CONFIG names it, empty means none
mkdir sysconf && cd sysconf || fail "cd"
printf '[pkiroll]\ndb = from-system.db\n' >system.conf
PKIROLL_SYSTEM_CONFIG=$PWD/system.conf expect_rc 3 "$PKIROLL" status
has "$T_DIR/err" "store from-system.db: no such file"
PKIROLL_SYSTEM_CONFIG= expect_rc 3 "$PKIROLL" status
has "$T_DIR/err" "store pkiroll.db: no such file"
exit 0
