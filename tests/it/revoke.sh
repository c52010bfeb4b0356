# pkiroll revoke and retire against pkiroll-ca: the CA lists the
# certificates as revoked, the store records it and the community needs new
# codes; a second revoke is a no-op; faults (drop, HTTP 500, rejection)
# leave the request on record and a rerun finishes it; kill -9 mid-revoke
# and a rerun revoke once; the interop with openssl cmp (both directions);
# retire rebuilds only its partners' bundles; import --retire-missing;
# status COMMUNITY; the CSV sheet and README.txt of a bundle.
. "$T_SRC/tests/lib.sh"
trap 'stop_ca; stop_mock' EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 14 v 70000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
printf '[ca t]\nurl = http://127.0.0.1:9/pkix/\nretries = 0\n' >c.conf
ks() { "$PKIROLL" --db s.db --config c.conf "$@" --keystore-dir ks --keystore-pass-file pass; }
start_ca ca
URL="http://$CA_HTTP/pkix/"
expect_rc 0 ks enroll m.csv --ca-url "$URL"
expect_rc 0 "$PKIROLL" --db s.db bundle --out b
for z in b/*.zip; do sha256sum "$z"; done | sort >zips.0
issued() { "$PKIROLL_CA" issued --state ca | awk -v s="$1" '$1 == s { print $3 }'; }
serial() { openssl x509 -in "ks/$1/$2.pem" -noout -serial | cut -d= -f2; }

# Phase: revoke both certificates of v-1; the CA and the store agree.
s1=$(serial v-1 signing)
e1=$(serial v-1 encryption)
expect_rc 0 ks revoke v-1 --reason keyCompromise --yes --ca-url "$URL"
has "$T_DIR/out" "1 revoked"
[ "$(issued "$s1")" = revoked ] && [ "$(issued "$e1")" = revoked ] || fail "the CA does not list v-1 as revoked"
grep -q "rr signer=$s1 -> rp" "$CA_LOG" || fail "the rr was not signed with v-1's certificate"
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'v-1'")" = needs_codes ] || fail "v-1 not needs_codes"
[ "$(sqlite3 s.db "SELECT count(*) FROM certificates WHERE revoked_at IS NOT NULL AND revocation_reason = 'keyCompromise'")" = 2 ] \
	|| fail "the store did not record two revocations"
[ "$(sqlite3 s.db "SELECT group_concat(state) FROM revocations")" = "revoked,revoked" ] || fail "revocation rows"
# a second revoke is a no-op that says so, and sends nothing
n=$(grep -c ' rr ' "$CA_LOG")
expect_rc 0 ks revoke v-1 --reason keyCompromise --yes --ca-url "$URL"
has "$T_DIR/err" "was revoked already on"
[ "$(grep -c ' rr ' "$CA_LOG")" = "$n" ] || fail "the second revoke sent an rr"
# renewal never touches a revoked community
expect_rc 1 ks renew --ca-url "$URL" --community v-1
has "$T_DIR/err" "not enrolled: nothing to renew"
# only the encryption certificate
e2=$(serial v-2 encryption)
s2=$(serial v-2 signing)
expect_rc 0 ks revoke v-2 --usage encryption --reason superseded --yes --ca-url "$URL"
[ "$(issued "$e2")" = revoked ] && [ "$(issued "$s2")" = confirmed ] || fail "--usage encryption revoked the wrong ones"

# revoke_protection = codes: the rr under a MAC with codes, not the signing key
printf '[ca codes]\nurl = %s\nrevoke_protection = codes\nretries = 0\n' "$URL" >codes.conf
s14=$(serial v-14 signing)
expect_rc 2 "$PKIROLL" --db s.db --config codes.conf revoke v-14 --reason keyCompromise --yes --ca codes \
	--code-file "$T_DIR/codes/v-14" --keystore-dir ks --keystore-pass-file pass
has "$T_DIR/err" "--code-file needs --reference"
expect_rc 0 "$PKIROLL" --db s.db --config codes.conf revoke v-14 --reason keyCompromise --yes --ca codes \
	--reference 70014 --code-file "$T_DIR/codes/v-14" --keystore-dir ks --keystore-pass-file pass
grep -q "rr ref=70014 -> rp $s14 revoked" "$CA_LOG" || fail "the rr was not under the MAC of reference 70014"
[ "$(issued "$s14")" = revoked ] || fail "revoke_protection = codes did not revoke"

# Phase: status COMMUNITY: the history, text and JSON.
expect_rc 0 "$PKIROLL" --db s.db status v-1
has "$T_DIR/out" "serial $s1"
has "$T_DIR/out" "revoked ("
has "$T_DIR/out" "revocation requested: signing certificate serial $s1 (keyCompromise)"
expect_rc 0 "$PKIROLL" --db s.db status v-1 --json
jq -e --arg s "$s1" '.state == "needs_codes" and ([.certificates[] | select(.serial == $s and .status == "revoked"
	and .revocation_reason == "keyCompromise" and (.sha256 | length) == 95)] | length == 1)
	and ([.events[] | select(.to == "needs_codes")] | length == 1)' "$T_DIR/out" >/dev/null \
	|| { cat "$T_DIR/out"; fail "status --json history"; }
expect_rc 2 "$PKIROLL" --db s.db status nobody
has "$T_DIR/err" 'no community "nobody"'

# Phase: faults during rr leave the request on record; a rerun finishes.
stop_ca
for f in drop http500 reject=badRequest; do
	start_ca ca --fault "$f"
	expect_rc 1 ks revoke v-3 --reason cessationOfOperation --yes --ca-url "http://$CA_HTTP/pkix/"
	stop_ca
	[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'v-3'")" = enrolled ] \
		|| fail "$f: v-3 changed state"
	case $f in reject*) want=refused ;; *) want=requested ;; esac
	[ "$(sqlite3 s.db "SELECT count(*) FROM revocations r JOIN communities c ON c.id = r.community_id
		WHERE c.name = 'v-3' AND r.state = '$want'")" = 2 ] || fail "$f: v-3's revocations are not $want"
done
start_ca ca
URL="http://$CA_HTTP/pkix/"
expect_rc 0 ks revoke v-3 --reason cessationOfOperation --yes --ca-url "$URL"
[ "$(issued "$(serial v-3 signing)")" = revoked ] || fail "the rerun did not revoke v-3"
[ "$(sqlite3 s.db "SELECT count(*) FROM revocations r JOIN communities c ON c.id = r.community_id
	WHERE c.name = 'v-3' AND r.state = 'revoked'")" = 2 ] || fail "v-3: not two revoked rows after the rerun"

# Phase: kill -9 mid-revoke, then a rerun: every one revoked, once on record.
stop_ca
start_ca ca --fault delay=600
URL="http://$CA_HTTP/pkix/"
"$PKIROLL" --db s.db --config c.conf revoke v-4 v-5 v-6 v-7 --reason affiliationChanged --yes -j 2 \
	--ca-url "$URL" --keystore-dir ks --keystore-pass-file pass >k.out 2>k.err &
RUN=$!
sleep 0.8
kill -9 $RUN
wait $RUN 2>/dev/null
for _ in $(seq 50); do pgrep -f "revoke v-4 v-5" >/dev/null || break; sleep 0.1; done
expect_rc 0 ks revoke v-4 v-5 v-6 v-7 --reason affiliationChanged --yes --ca-url "$URL"
for c in v-4 v-5 v-6 v-7; do
	[ "$(issued "$(serial $c signing)")" = revoked ] || fail "$c not revoked after the rerun"
	[ "$(sqlite3 s.db "SELECT count(*) FROM revocations r JOIN communities m ON m.id = r.community_id
		WHERE m.name = '$c'")" = 2 ] || fail "$c: not one revocation per certificate on record"
	[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = '$c'")" = needs_codes ] || fail "$c state"
done
stop_ca

# Phase: interop. openssl cmp's rr against pkiroll-ca; pkiroll's rr against
# openssl cmp's mock server.
start_ca ca
openssl pkcs12 -in ks/v-8/keystore.p12 -passin file:pass -nocerts -nodes 2>/dev/null \
	| awk '/friendlyName: signing/,/END PRIVATE KEY/' | openssl pkey -out k8.pem 2>/dev/null
openssl cmp -cmd rr -server "$CA_HTTP" -path pkix/ -cert ks/v-8/signing.pem -key k8.pem \
	-trusted ca/root.pem -oldcert ks/v-8/signing.pem -revreason 4 >rr.out 2>&1 || { cat rr.out; fail "openssl cmp rr"; }
[ "$(issued "$(serial v-8 signing)")" = revoked ] || fail "openssl cmp's rr did not revoke"
stop_ca
# the mock signs its rp with the root (which v-9's keystore trusts), checks
# our signature against it, and answers for the one certificate it knows
start_mock -srv_cert ca/root.pem -srv_key ca/root.key -srv_trusted ca/root.pem \
	-rsp_cert ks/v-9/signing.pem
printf '[ca m]\nurl = http://127.0.0.1:%s/pkix/\nretries = 0\n' "$MOCK_PORT" >m.conf
"$PKIROLL" --db s.db --config m.conf revoke v-9 --usage signing --reason superseded --yes --ca m \
	--keystore-dir ks --keystore-pass-file pass >mock.out 2>mock.err \
	|| { cat mock.out mock.err "$T_DIR"/mock.*.log; fail "pkiroll's rr against openssl cmp's mock server"; }
grep -q "1 revoked" mock.out || fail "the mock's rp was not taken as revoked"
stop_mock

# Phase: retire: only its partners' bundles change; bundle --stale rebuilds them.
start_ca ca
URL="http://$CA_HTTP/pkix/"
for z in b/*.zip; do sha256sum "$z"; done | sort >zips.1
# exit 1: the revoked communities have no current certificate
expect_rc 1 "$PKIROLL" --db s.db bundle --out b --stale
has "$T_DIR/out" "left out (no current certificate)"
for z in b/*.zip; do sha256sum "$z"; done | sort >zips.2
p10=$(awk -F, '$1 == "v-10" { print $4 }' m.csv | tr ' ' _)
expect_rc 0 ks retire v-10 --bundle --bundle-dir b
has "$T_DIR/out" "1 of 1 retired"
for z in b/*.zip; do sha256sum "$z"; done | sort >zips.3
changed=$(diff zips.2 zips.3 | grep '^>' | awk '{ print $3 }')
for z in $changed; do case $z in b/"$p10"*) ;; *) fail "retire changed $z too" ;; esac; done
[ -n "$changed" ] || [ ! -e "$(ls b/"$p10"* 2>/dev/null | head -1)" ] || fail "retire did not rebuild $p10"
for z in b/*.zip; do unzip -l "$z" | grep -q ' v-10/' && fail "$z still holds v-10"; done
# revoked certificates never appear
for z in b/*.zip; do unzip -l "$z" | grep -q ' v-1/' && fail "$z still holds the revoked v-1"; done
# retire --revoke
expect_rc 0 ks retire v-11 --revoke --reason cessationOfOperation --yes --ca-url "$URL"
[ "$(issued "$(serial v-11 signing)")" = revoked ] || fail "retire --revoke did not revoke"
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'v-11'")" = retired ] || fail "v-11 not retired"

# Phase: a revocation cannot be undone. No terminal and no --yes: refused;
# --dry-run needs no --yes; on a terminal (a pty), "n" revokes nothing and
# "y" revokes. The reason in any case.
n=$(grep -c ' rr ' "$CA_LOG")
s12=$(serial v-12 signing)
expect_rc 2 ks revoke v-12 --reason keyCompromise --ca-url "$URL" </dev/null
has "$T_DIR/err" "pass --yes"
expect_rc 2 ks retire v-12 --revoke --reason keyCompromise --ca-url "$URL" </dev/null
has "$T_DIR/err" "pass --yes"
expect_rc 0 ks revoke v-12 --reason KEYCOMPROMISE --ca-url "$URL" --dry-run </dev/null
[ "$(grep -c ' rr ' "$CA_LOG")" = "$n" ] || fail "an rr went out without a confirmation"
# on a pty: ANSWER CMD...; what it showed in tty.out, its exit code returned
on_tty() {
	python3 - "$@" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out, sent = b"", False
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and b"[y/N]" in out:
        os.write(fd, (sys.argv[1] + "\n").encode())
        sent = True
_, status = os.waitpid(pid, 0)
open("tty.out", "wb").write(out)
sys.exit(os.waitstatus_to_exitcode(status))
PY
}
rv() { echo "$PKIROLL" --db s.db --config c.conf revoke v-12 --ca-url "$URL" --keystore-dir ks \
	--keystore-pass-file pass "$@"; }
on_tty n $(rv --reason keycompromise)
[ $? = 1 ] || { cat tty.out; fail "answered n: want exit 1"; }
has tty.out "v-12: signing certificate serial $s12"
has tty.out "reason keyCompromise"
has tty.out "nothing revoked"
[ "$(grep -c ' rr ' "$CA_LOG")" = "$n" ] && [ "$(issued "$s12")" = confirmed ] || fail "answered n, and v-12 was revoked"
on_tty y $(rv --reason KeyCompromise)
[ $? = 0 ] || { cat tty.out; fail "answered y: want exit 0"; }
[ "$(issued "$s12")" = revoked ] || fail "answered y, and v-12 was not revoked"

# Phase: import --retire-missing retires what the manifest no longer lists.
grep -v '^v-12,\|^v-13,' m.csv >m2.csv
# more than the default limit (10% of the store): refused, then the plan, then allowed
expect_rc 1 "$PKIROLL" --db s.db import m2.csv --retire-missing
has "$T_DIR/err" "more than the limit"
expect_rc 0 "$PKIROLL" --db s.db import m2.csv --retire-missing --max-retire 2 --dry-run
has "$T_DIR/err" 'would retire "v-12"'
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'v-12'")" != retired ] || fail "a dry run retired"
expect_rc 0 "$PKIROLL" --db s.db import m2.csv --retire-missing --max-retire 2
has "$T_DIR/out" "2 retired"
has "$T_DIR/err" 'community "v-12" retired: not in m2.csv'
has "$T_DIR/err" 'community "v-13" retired: not in m2.csv'
printf 'community,reference_number,authorization_code\nbad row without code\n' >bad.csv
cat m2.csv bad.csv >m3.csv
expect_rc 1 "$PKIROLL" --db s.db import m3.csv --retire-missing
has "$T_DIR/err" "nothing retired"

# Phase: the CSV sheet opens with Python's csv module; its fingerprints are openssl's.
z=$(ls b/*.zip | head -1)
unzip -p "$z" fingerprints.csv >f.csv
unzip -p "$z" README.txt | grep -q "sha256sum -c SHA256SUMS" || fail "README.txt does not say how to check"
python3 - f.csv "$z" <<'PY' || fail "fingerprints.csv"
import csv, subprocess, sys, zipfile
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
assert rows, "no rows"
z = zipfile.ZipFile(sys.argv[2])
for r in rows:
    der = z.read(r["file"])
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256"],
                         input=der, capture_output=True).stdout.decode()
    assert out.strip().split("=", 1)[1] == r["sha256"], (r["file"], out)
    for v in r.values():
        assert not v or v[0] not in "=+-@", v
PY
exit 0
