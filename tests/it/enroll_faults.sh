# Enrollment under faults: CA misbehaviour per user ends in the right state
# with a reason; nothing is lost; the lock; a dry run writes nothing.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
cat >faults.csv <<CSV
community,reference_number,authorization_code,subject,key_type,encryption_key_type
ok,9001,file:$T_DIR/c9001,CN=ok,p256,p256
delay,9002,file:$T_DIR/c9002,CN=delay,p256,p256
waiting,9003,file:$T_DIR/c9003,CN=waiting,p256,p256
http500,9004,file:$T_DIR/c9004,CN=http500,p256,p256
drop,9005,file:$T_DIR/c9005,CN=drop,p256,p256
garbage,9006,file:$T_DIR/c9006,CN=garbage,p256,p256
wrongmac,9007,file:$T_DIR/c9007,CN=wrongmac,p256,p256
rejected,9008,file:$T_DIR/c9008,CN=rejected,p256,p256
consumed,9009,file:$T_DIR/c9009,CN=consumed,p256,p256
unknown,9010,file:$T_DIR/c9010,CN=unknown,p256,p256
badcode,9011,file:$T_DIR/c9011,CN=badcode,p256,p256
CSV
umask 077 # code files are private
for i in $(seq 9001 9011); do printf "code-$i" >c$i; done
add() { "$PKIROLL_CA" users add --state ca --ref "$1" --code-file "c$1" --subject "CN=$2" \
	${3:+--fault "$3"} >/dev/null || fail "add $1"; }
add 9001 ok
add 9002 delay delay=300
add 9003 waiting waiting=2
add 9004 http500 http500
add 9005 drop drop
add 9006 garbage garbage
add 9007 wrongmac wrongmac
add 9008 rejected reject=badCertTemplate
add 9009 consumed consumed
printf "other-code" >other
"$PKIROLL_CA" users add --state ca --ref 9011 --code-file other --subject CN=badcode >/dev/null

# a dry run contacts nothing and writes nothing
expect_rc 0 "$PKIROLL" --db dry.db enroll faults.csv --dry-run --ca-url http://127.0.0.1:9/pkix/
has "$T_DIR/err" "would enroll ok (reference 9001) via http://127.0.0.1:9/pkix/"
has "$T_DIR/out" "11 communities would be enrolled"
[ ! -e dry.db ] || fail "dry run wrote a store"

start_ca ca --check-after 0
expect_rc 1 "$PKIROLL" --db s.db enroll faults.csv -j 4 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
cp "$T_DIR/err" run1.err
expect_rc 0 "$PKIROLL" --db s.db status --json
state() { jq -r --arg c "$1" '.communities[] | select(.community == $c) | .state + "|" + (.reason // "")' "$T_DIR/out"; }
want() { # COMMUNITY STATE REASON-PART
	local s
	s=$(state "$1")
	case $s in "$2|"*"$3"*) ;; *) fail "$1: got \"$s\", want $2 with \"$3\"" ;; esac
}
want ok enrolled ""
want delay enrolled ""
want waiting enrolled ""
want http500 failed "transient"
want drop failed "transient"
want garbage failed "protocol error"
# an ip whose MAC fails carries a certificate the CA may have issued: kept, not retried
want wrongmac failed "may have been issued"
ls ks/wrongmac/unverified-*.p12 >/dev/null 2>&1 || fail "wrongmac: the key of the unverified certificate was not kept"
want rejected failed "badCertTemplate"
want consumed needs_codes "already used"
want unknown needs_codes "unknown reference number"
want badcode needs_codes "new codes are needed"
# transient faults were retried in the run, rejections and MAC failures never
grep -q "http500: failed (will retry)" run1.err || fail "http500 not retried"
grep -q "wrongmac: failed (will retry)\|wrongmac: needs_codes (will retry)" run1.err && fail "MAC failure retried"
[ "$(grep -c 'ir ref=9007' ca.log)" = 1 ] || fail "an ir was sent again after an unverified ip"
[ "$(grep -c 'ir ref=9011' ca.log)" = 1 ] || fail "a bad code was sent more than once"

# nothing lost: every community has a state, every state change an event
jq -e '.total == 11' "$T_DIR/out" >/dev/null || fail "communities lost"

# new codes for a community in needs_codes put it back to pending
printf "code-9009-new" >c9009
"$PKIROLL_CA" users add --state ca --ref 9099 --code-file c9009 --subject CN=consumed >/dev/null
sed -i 's/^consumed,9009,/consumed,9099,/' faults.csv
# (the transient failures wait for their backoff: only "consumed" is due)
expect_rc 0 "$PKIROLL" --db s.db enroll faults.csv --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "1 due: 1 enrolled"
expect_rc 0 "$PKIROLL" --db s.db status --json
want consumed enrolled ""

# a corrected authorization code (same reference number) is recognised
# by its hash and puts the community back to pending
printf "other-code" >c9011
expect_rc 0 "$PKIROLL" --db s.db enroll faults.csv --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/err" "authorization_code refused -> new"
has "$T_DIR/out" "1 due: 1 enrolled"
expect_rc 0 "$PKIROLL" --db s.db status --json
want badcode enrolled ""
grep -a -q "other-code\|code-9011" s.db* && fail "a code is in the store"

# one run at a time: the lock names the holder
exec 9>s.db.lock
flock -n 9 || fail "cannot take the lock for the test"
echo 4242 >&9
expect_rc 3 "$PKIROLL" --db s.db enroll faults.csv --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/err" "in use by another pkiroll run (pid 4242)"
exec 9>&-

# no passphrase, no run; no CA, no run
expect_rc 2 env -u PKIROLL_KEYSTORE_PASS "$PKIROLL" --db s.db enroll faults.csv --ca-url "http://$CA_HTTP/pkix/"
has "$T_DIR/err" "no keystore passphrase"
expect_rc 2 "$PKIROLL" --db s.db enroll faults.csv --keystore-pass-file pass
has "$T_DIR/err" "no CA"
exit 0
