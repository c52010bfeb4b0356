# Deploy hooks and --report, the corners, with pkiroll-ca: the PEM files a
# hook is named are written from the store when the keystore directory
# lacks them (0644, atomically, the store's certificates and chain); retire
# runs every hook still owed, not only its own; the report names retired,
# refused and skipped communities with their reasons, counts the
# retirements (a plain retirement feeds the post hook), and times the run
# to the sub-second; --hook-timeout is range-checked before it is narrowed.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
command -v jq >/dev/null || exit 77
passfile
umask 077
printf 'code-r1' >c1
printf 'code-r2' >c2
printf 'code-r3' >c3
{
	echo "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,as2_id,dual"
	echo "r1,8001,file:$T_DIR/c1,Partner A,CN=r1,p256,p256,AS2-R1,yes"
	echo "r2,8002,file:$T_DIR/c2,Partner A,CN=r2,p256,p256,AS2-R2,yes"
	echo "r3,8003,file:$T_DIR/c3,Partner B,CN=r3,p256,,AS2-R3,no"
} >m.csv
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
URL="http://$CA_HTTP/pkix/"
P() { "$PKIROLL" --db s.db "$@"; }
ks() { P "$@" --keystore-dir ks --keystore-pass-file pass --ca-url "$URL"; }
pending() { sqlite3 s.db "SELECT coalesce(deploy_pending, '-') FROM communities WHERE name = '$1'"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

cat >dump.sh <<'HOOK'
#!/bin/sh
env >"$HOOK_DIR/env.$PKIROLL_COMMUNITY.$PKIROLL_EVENT"
HOOK
chmod +x dump.sh
export HOOK_DIR=$T_DIR

# Phase: enroll, the hook failing: every community owes it.
expect_rc 1 ks enroll m.csv --deploy-hook 'exit 5' --report "$T_DIR/enroll.json"
for c in r1 r2 r3; do
	[ "$(pending $c)" = enrolled ] || fail "$c: not deploy pending after its hook failed"
done
jq -e '(.started | floor) != .started and .finished >= .started and .duration >= 0' enroll.json \
	>/dev/null || { cat enroll.json; fail "--report: the run's times are whole seconds"; }

# Phase: the PEM copies are gone (a keystore from elsewhere, an operator's
# cleanup): pkiroll deploy writes them from the store before the hook runs.
s1=$(serial_of ks/r1/signing.pem)
x1=$(serial_of ks/r1/encryption.pem)
cp ks/r1/chain.pem chain.orig
rm ks/r1/signing.pem ks/r1/encryption.pem ks/r1/chain.pem ks/r3/signing.pem
expect_rc 0 P deploy r1 r3 --deploy-hook "$T_DIR/dump.sh"
e=env.r1.enrolled
has "$e" "PKIROLL_SIGNING_CERT=$T_DIR/ks/r1/signing.pem"
has "$e" "PKIROLL_ENCRYPTION_CERT=$T_DIR/ks/r1/encryption.pem"
has "$e" "PKIROLL_CHAIN=$T_DIR/ks/r1/chain.pem"
for f in signing encryption chain; do
	[ -f ks/r1/$f.pem ] || fail "r1: $f.pem not written for the hook"
	[ "$(stat -c %a ks/r1/$f.pem)" = 644 ] || fail "r1: $f.pem is $(stat -c %a ks/r1/$f.pem), want 644"
done
[ "$(serial_of ks/r1/signing.pem)" = "$s1" ] || fail "r1: signing.pem is not the store's signing certificate"
[ "$(serial_of ks/r1/encryption.pem)" = "$x1" ] || fail "r1: encryption.pem is not the store's encryption certificate"
cmp -s ks/r1/chain.pem chain.orig || fail "r1: chain.pem is not the chain the keystore had"
openssl verify -CAfile ks/r1/chain.pem ks/r1/signing.pem >/dev/null || fail "r1: signing.pem does not verify against chain.pem"
ls -A ks/r1 | grep -q '^\.' && fail "r1: a temporary was left: $(ls -A ks/r1)"
# single key: the signing copy comes back, there is no encryption one to name
has env.r3.enrolled "PKIROLL_SIGNING_CERT=$T_DIR/ks/r3/signing.pem"
grep -qx "PKIROLL_ENCRYPTION_CERT=" env.r3.enrolled || fail "r3: an encryption certificate named for a single-key community"
[ -f ks/r3/encryption.pem ] && fail "r3: encryption.pem made up"
has "$T_DIR/err" "r1: $T_DIR/ks/r1/signing.pem written from the store"
[ "$(pending r1)" = - ] && [ "$(pending r3)" = - ] || fail "r1, r3: still pending after pkiroll deploy"
[ "$(pending r2)" = enrolled ] || fail "r2: pkiroll deploy r1 r3 ran r2's hook"

# Phase: retire runs its own hook and the one r2 still owes; the report
# names what was retired, what was not and why, and counts the retirements.
rm -f env.*
expect_rc 1 P retire r1 nosuch --deploy-hook "$T_DIR/dump.sh" --report "$T_DIR/retire.json"
[ -f env.r1.retired ] || fail "r1: no retire hook"
[ -f env.r2.enrolled ] || fail "r2: the hook it still owed did not run with the retirement"
[ "$(pending r2)" = - ] || fail "r2: still pending after retire ran its hook"
jq -e '.command == "retire" and .exit_code == 1 and .counts.retired == 1 and .counts.deployed == 2
	and ([.communities[] | select(.name == "r1")][0] | .outcome == "retired"
	     and .deploy.result == "ok" and .deploy.event == "retired")
	and ([.communities[] | select(.name == "nosuch")][0] | .outcome == "failed"
	     and .reason == "not in the store")
	and ([.communities[] | select(.name == "r2")][0] | .outcome == null
	     and .deploy.event == "enrolled")' retire.json >/dev/null \
	|| { cat retire.json; fail "retire --report"; }

# a retirement without a deploy hook did something: the post hook hears of it
expect_rc 0 P retire r3 --post-hook "cat >$T_DIR/post.json"
jq -e '.command == "retire" and .counts.retired == 1 and .communities[0].outcome == "retired"' \
	post.json >/dev/null || { cat post.json 2>&1; fail "retire: the post hook got no report"; }

# Phase: due but not attempted: skipped, with the reason, in the report.
expect_rc 1 ks renew --community nosuch --community r1 --report "$T_DIR/renew.json"
jq -e '.counts.skipped == 2
	and ([.communities[] | select(.name == "nosuch")][0] | .outcome == "skipped"
	     and .reason == "not in the store")
	and ([.communities[] | select(.name == "r1")][0] | .outcome == "skipped"
	     and .reason == "not enrolled")' renew.json >/dev/null \
	|| { cat renew.json; fail "renew --report: the skipped communities"; }
expect_rc 1 ks revoke nosuch --reason superseded --yes --report "$T_DIR/revoke.json"
jq -e '.command == "revoke" and .counts.skipped == 1
	and .communities[0].outcome == "skipped" and .communities[0].reason == "not in the store"' \
	revoke.json >/dev/null || { cat revoke.json; fail "revoke --report: the skipped community"; }

# Phase: a --hook-timeout past an int does not wrap into range (2^32 + 1
# once read as 1 s).
expect_rc 2 P deploy --dry-run --hook-timeout 4294967297
has "$T_DIR/err" "--hook-timeout takes 1 to 86400 seconds"
exit 0
