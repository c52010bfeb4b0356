# Deploy hooks, the post hook and --report, with pkiroll-ca: a hook that
# succeeds sees every PKIROLL_* variable and neither the passphrase nor a
# code; a failing one leaves the community deploy_pending (status
# attention, exit 1) until pkiroll deploy succeeds; a hanging one is killed
# at --hook-timeout with its process group; pkiroll killed -9 between the
# commit and the hook leaves it pending for pkiroll deploy; the post hook
# gets the run's JSON report, as does --report; retire and revoke owe a
# hook too; the example hooks copy a keystore and POST the certificates.
. "$T_SRC/tests/lib.sh"
LISTENER_PID=
cleanup() {
	stop_ca
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
	return 0
}
trap cleanup EXIT
cd "$T_DIR" || exit 3
command -v jq >/dev/null || exit 77
passfile
umask 077
printf 'code-h1-%s' "$RANDOM$RANDOM" >h1.code
printf 'code-h2' >cs2
printf 'code-h3' >cs3
{
	echo "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,as2_id"
	echo "h1,7001,env:H1_CODE,Partner A,CN=h1,p256,p256,AS2-H1"
	echo "h2,7002,file:$T_DIR/cs2,Partner A,CN=h2,p256,p256,AS2-H2"
	echo "h3,7003,file:$T_DIR/cs3,Partner B,CN=h3,p256,p256,AS2-H3"
} >m.csv
sed "s|env:H1_CODE|$(cat h1.code)|" m.csv >ca.csv
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca ca.csv >/dev/null || fail "users"
start_ca ca
URL="http://$CA_HTTP/pkix/"
P() { "$PKIROLL" --db s.db "$@"; }
ks() { P "$@" --keystore-dir ks --keystore-pass-file pass --ca-url "$URL"; }
pending() { sqlite3 s.db "SELECT coalesce(deploy_pending, '-') FROM communities WHERE name = '$1'"; }

# the hook that dumps its environment, one file per community and event
cat >dump.sh <<'HOOK'
#!/bin/sh
env >"$HOOK_DIR/env.$PKIROLL_COMMUNITY.$PKIROLL_EVENT"
echo "dumped $PKIROLL_COMMUNITY"
HOOK
chmod +x dump.sh
export HOOK_DIR=$T_DIR

# Phase: enroll with a deploy hook, a post hook and --report. The
# passphrase and the code are in pkiroll's environment, never the hook's.
export H1_CODE
H1_CODE=$(cat h1.code)
PKIROLL_KEYSTORE_PASS=$(cat pass) PKIROLL_NEW_KEYSTORE_PASS=new-secret-$RANDOM \
	expect_rc 0 ks enroll m.csv --deploy-hook "$T_DIR/dump.sh" \
	--post-hook "jq -e . >$T_DIR/post.json" --report "$T_DIR/report.json"
for c in h1 h2 h3; do
	e=env.$c.enrolled
	[ -f "$e" ] || fail "$c: no deploy hook ran for the enrollment"
	has "$e" "PKIROLL_EVENT=enrolled"
	has "$e" "PKIROLL_COMMUNITY=$c"
	has "$e" "PKIROLL_AS2_ID=AS2-$(echo $c | tr a-z A-Z)"
	has "$e" "PKIROLL_KEYSTORE=$T_DIR/ks/$c/keystore.p12"
	has "$e" "PKIROLL_SIGNING_CERT=$T_DIR/ks/$c/signing.pem"
	has "$e" "PKIROLL_ENCRYPTION_CERT=$T_DIR/ks/$c/encryption.pem"
	has "$e" "PKIROLL_CHAIN=$T_DIR/ks/$c/chain.pem"
	has "$e" "PKIROLL_KEYSTORE_PASS_FILE=$T_DIR/pass"
	grep -qx "PKIROLL_PREVIOUS_KEYSTORE=" "$e" || fail "$c: a previous keystore for an enrollment"
	s=$(openssl x509 -in ks/$c/signing.pem -noout -serial | cut -d= -f2)
	x=$(openssl x509 -in ks/$c/encryption.pem -noout -serial | cut -d= -f2)
	grep -q "^PKIROLL_SERIALS=.*$s" "$e" || fail "$c: PKIROLL_SERIALS lacks the signing serial"
	grep -q "^PKIROLL_SERIALS=.*$x" "$e" || fail "$c: PKIROLL_SERIALS lacks the encryption serial"
	grep -qF "$(cat pass)" "$e" && fail "$c: the passphrase is in the hook's environment"
	grep -qF "$H1_CODE" "$e" && fail "$c: a code is in the hook's environment"
	grep -q "^PKIROLL_KEYSTORE_PASS=\|^PKIROLL_NEW_KEYSTORE_PASS=\|^H1_CODE=" "$e" \
		&& fail "$c: a secret's variable is in the hook's environment"
	[ "$(pending $c)" = - ] || fail "$c: still deploy pending after a hook that worked"
done
has "$T_DIR/err" "h1: deploy hook (enrolled) succeeded: dumped h1"
[ "$(sqlite3 s.db "SELECT count(*) FROM events WHERE reason LIKE 'deploy hook (enrolled) succeeded: dumped %'")" = 3 ] \
	|| fail "the hooks' output is not in the events"
# the post hook's stdin and --report: the same document
[ -s post.json ] || fail "the post hook got no JSON"
jq -e '.command == "enroll" and .exit_code == 0 and .counts.enrolled == 3 and .counts.deployed == 3
	and (.communities | length) == 3' post.json >/dev/null || { cat post.json; fail "post hook JSON"; }
[ "$(stat -c %a report.json)" = 600 ] || fail "the report is not 0600"
s1=$(openssl x509 -in ks/h1/signing.pem -noout -serial | cut -d= -f2)
jq -e --arg s "$s1" '.command == "enroll" and .exit_code == 0 and .finished >= .started
	and ([.communities[] | select(.name == "h1")][0] | .outcome == "enrolled"
	and .deploy.result == "ok" and .deploy.event == "enrolled" and .deploy.status == 0
	and (.serials | index($s)) != null and .retries == 0 and .duration >= 0
	and .failInfo == null)' report.json >/dev/null || { cat report.json; fail "--report"; }

# Phase: a renewal: event renewed, the previous keystore named and there.
expect_rc 0 ks renew --community h1 --deploy-hook "$T_DIR/dump.sh"
e=env.h1.renewed
has "$e" "PKIROLL_EVENT=renewed"
prev=$(sed -n 's/^PKIROLL_PREVIOUS_KEYSTORE=//p' "$e")
[ "$prev" = "$T_DIR/ks/h1/keystore-$s1.p12" ] || fail "previous keystore: $prev, want ks/h1/keystore-$s1.p12"
[ -f "$prev" ] || fail "the previous keystore named is not there"

# Phase: a hook that fails: the certificate stays, the community is deploy
# pending (status attention deploy_pending, --check WARNING), exit 1; then
# pkiroll deploy runs it and clears it.
before=$(sqlite3 s.db "SELECT count(*) FROM certificates")
expect_rc 1 ks renew --community h2 --deploy-hook 'echo gateway down >&2; exit 3'
has "$T_DIR/out" "1 renewed"
has "$T_DIR/err" "h2: deploy hook (renewed) failed (exit status 3); still pending: run pkiroll deploy: gateway down"
[ "$(sqlite3 s.db "SELECT count(*) FROM certificates")" -gt "$before" ] || fail "the renewal was undone"
[ "$(pending h2)" = renewed ] || fail "h2: not deploy pending after a failed hook"
P status --json >st.json || fail "status --json"
jq -e '[.attention[] | select(.kind == "deploy_pending") | .community] == ["h2"]' st.json >/dev/null \
	|| { jq .attention st.json; fail "status --json: h2 not deploy_pending under attention"; }
expect_rc 0 P status --brief
has "$T_DIR/out" "deploy pending"
expect_rc 1 P status --check
has "$T_DIR/out" "PKIROLL WARNING"
P --metrics-file m.prom status --brief >/dev/null
grep -q 'kind="deploy_pending"} 1' m.prom || { grep deploy m.prom; fail "metrics: no deploy_pending"; }
# without a hook configured there is nothing to deploy with
expect_rc 2 P deploy
expect_rc 0 P deploy --dry-run
has "$T_DIR/err" "h2: deploy hook owed (renewed)"
[ "$(pending h2)" = renewed ] || fail "deploy --dry-run cleared the mark"
expect_rc 0 P deploy h2 --deploy-hook "$T_DIR/dump.sh" --report "$T_DIR/deploy.json"
[ -f env.h2.renewed ] || fail "pkiroll deploy did not run h2's hook"
[ "$(pending h2)" = - ] || fail "h2: still pending after pkiroll deploy"
jq -e '.command == "deploy" and .communities[0].name == "h2" and .communities[0].deploy.result == "ok"' \
	deploy.json >/dev/null || { cat deploy.json; fail "deploy --report"; }

# Phase: a hook that hangs (and a child of it): killed at --hook-timeout 2
# with its process group; the run ends, the community stays pending.
cat >hang.sh <<'HOOK'
#!/bin/sh
sleep 1000 &
echo $! >"$HOOK_DIR/hang.child"
echo hanging
wait
HOOK
chmod +x hang.sh
t0=$(date +%s)
expect_rc 1 ks renew --community h3 --deploy-hook "$T_DIR/hang.sh" --hook-timeout 2
t=$(($(date +%s) - t0))
[ "$t" -lt 30 ] || fail "the run took $t s with a 2 s hook timeout"
has "$T_DIR/err" "h3: deploy hook (renewed) killed after 2 s; still pending"
[ "$(pending h3)" = renewed ] || fail "h3: not pending after its hook was killed"
sleep 0.5
# gone, or a zombie nobody reaps (a container's init may not)
c=$(cat hang.child)
[ -e /proc/$c ] && [ "$(awk '{ print $3 }' /proc/$c/stat)" != Z ] \
	&& { kill "$c"; fail "the hook's child outlived it"; }

# Phase: pkiroll killed -9 after the commit, before the hook finished: the
# renewal is kept and the hook is owed; the next run (renew) runs it.
cat >killer.sh <<'HOOK'
#!/bin/sh
# the pkiroll that runs us: our parent (sh -c) or the one above it
p=$PPID
while [ "$(cat /proc/$p/comm)" != pkiroll ]; do
	p=$(awk '{ print $4 }' /proc/$p/stat)
	[ "$p" -gt 1 ] || exit 9
done
kill -9 "$p"
HOOK
chmod +x killer.sh
rm -f env.h3.renewed
expect_rc 137 ks renew --community h1 --deploy-hook "$T_DIR/killer.sh"
[ "$(pending h1)" = renewed ] || fail "h1: not pending after pkiroll was killed in its hook"
[ "$(pending h3)" = renewed ] || fail "h3: pending mark lost"
# the next renew (with nothing due) runs both owed hooks
expect_rc 0 ks renew --within 1d --deploy-hook "$T_DIR/dump.sh" --post-hook "cat >$T_DIR/post2.json"
[ "$(pending h1)" = - ] && [ "$(pending h3)" = - ] || fail "the next run did not run the owed hooks"
[ -f env.h3.renewed ] || fail "h3's owed hook did not run"
jq -e '.command == "renew" and .counts.deployed == 2
	and ([.communities[] | select(.outcome == null)] | length) == 2' post2.json >/dev/null \
	|| { cat post2.json; fail "post hook after owed hooks"; }

# Phase: a post hook that fails makes the exit 1.
expect_rc 1 ks renew --community h1 --deploy-hook "$T_DIR/dump.sh" --post-hook 'exit 4'
has "$T_DIR/err" "post hook failed (exit status 4)"

# Phase: the deploy hook from the configuration, for revoke and retire.
cat >p.conf <<CONF
[pkiroll]
deploy_hook = $T_DIR/dump.sh
hook_timeout = 20
CONF
expect_rc 0 P --config p.conf revoke h3 --reason superseded --yes --keystore-dir ks \
	--keystore-pass-file pass --ca-url "$URL"
has env.h3.revoked "PKIROLL_EVENT=revoked"
expect_rc 0 P --config p.conf retire h2
has env.h2.retired "PKIROLL_EVENT=retired"
[ "$(pending h2)" = - ] || fail "h2: retired, hook ran, still pending"

# Phase: the example hooks. copy-keystore.sh: atomic, 0600, the same bytes.
mkdir gw
GATEWAY_IMPORT_DIR=$T_DIR/gw expect_rc 0 P deploy --dry-run
sqlite3 s.db "UPDATE communities SET deploy_pending = 'renewed' WHERE name = 'h1'"
GATEWAY_IMPORT_DIR=$T_DIR/gw expect_rc 0 P deploy \
	--deploy-hook "$T_SRC/examples/hooks/copy-keystore.sh"
cmp -s gw/h1.p12 ks/h1/keystore.p12 || fail "copy-keystore.sh: not the keystore"
[ "$(stat -c %a gw/h1.p12)" = 600 ] || fail "copy-keystore.sh: not 0600"
[ "$(ls -A gw)" = h1.p12 ] || fail "copy-keystore.sh left a temporary: $(ls -A gw)"
# post-certs.sh against a listener that records the request
cat >listen.py <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "w") as f:
            json.dump({"path": self.path, "auth": self.headers.get("Authorization"),
                       "type": self.headers.get("Content-Type"),
                       "body": json.loads(body)}, f)
        self.send_response(201)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 listen.py port req.json &
LISTENER_PID=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
[ -s port ] || fail "the listener did not start"
printf 'tok-%s\n' "$RANDOM" >token
sqlite3 s.db "UPDATE communities SET deploy_pending = 'renewed' WHERE name = 'h1'"
CERTS_API_URL="http://127.0.0.1:$(cat port)/certs" CERTS_API_TOKEN_FILE=$T_DIR/token \
	expect_rc 0 P deploy --deploy-hook "$T_SRC/examples/hooks/post-certs.sh"
[ -s req.json ] || fail "post-certs.sh: nothing reached the listener"
jq -e --arg tok "Bearer $(cat token)" --arg pem "$(cat ks/h1/signing.pem)" \
	'.path == "/certs" and .auth == $tok and .type == "application/json"
	and .body.community == "h1" and .body.event == "renewed" and .body.as2_id == "AS2-H1"
	and (.body.signing | rtrimstr("\n")) == $pem and (.body.chain | startswith("-----BEGIN"))' \
	req.json >/dev/null || { cat req.json; fail "post-certs.sh: not the request"; }
[ "$(pending h1)" = - ] || fail "h1: still pending after post-certs.sh"
# a listener that is gone: the hook fails, the community stays pending
kill "$LISTENER_PID"
wait "$LISTENER_PID" 2>/dev/null
LISTENER_PID=
sqlite3 s.db "UPDATE communities SET deploy_pending = 'renewed' WHERE name = 'h1'"
CERTS_API_URL="http://127.0.0.1:$(cat port)/certs" \
	expect_rc 1 P deploy --deploy-hook "$T_SRC/examples/hooks/post-certs.sh"
[ "$(pending h1)" = renewed ] || fail "h1: not pending after post-certs.sh failed"
exit 0
