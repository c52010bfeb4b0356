# Protocol debugging against the real pkiroll-ca on loopback: --dump-dir
# writes every request and reply of an enrollment (ir/ip/certConf/pkiConf
# per community) and of a revocation (rr/rp) as DER files that openssl
# parses and `openssl cmp -rspin` replays; -vvv traces each message with
# its transactionID, body and failInfo; neither holds an authorization
# code or the passphrase; pkiroll ping with a code, with a wrong code,
# with a community's keystore and against a closed port.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
printf 'AUTHCODE-acme-7f3k9q' >c1
printf 'AUTHCODE-beta-2m8x4w' >c2
printf 'AUTHCODE-gamma-5t1z6r' >c3
printf 'AUTHCODE-rej-9p0v3n' >c4
printf 'AUTHCODE-wrong-0000' >bad
cat >m.csv <<EOF
community,reference_number,authorization_code,subject,key_type,dual
acme-edi,1001,file:$T_DIR/c1,CN=acme,p256,yes
beta/x,1002,file:$T_DIR/c2,CN=beta,p256,yes
gamma,1003,file:$T_DIR/c3,CN=gamma,p256,no
EOF
cat >rej.csv <<EOF
community,reference_number,authorization_code,subject,key_type
rejected,1004,file:$T_DIR/c4,CN=rejected,p256
EOF
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users import"
"$PKIROLL_CA" users add --state ca --ref 1004 --code-file c4 --subject CN=rejected \
	--fault reject=badRequest >/dev/null || fail "users add"
start_ca ca
H="http://$CA_HTTP/pkix/"

# Phase: ping before the enrollment, with the code: a verified genp, and
# the one-time code is still good for the ir afterwards.
expect_rc 0 "$PKIROLL" ping --ca-url "$H" --reference 1001 --code-file c1 --dump-dir pdump
has "$T_DIR/out" "reply:      genp: caCerts"
has "$T_DIR/out" "protection: PBM, PBM verified with the authorization code"
grep -Eq '^round trip: [0-9]+ ms$' "$T_DIR/out" || { cat "$T_DIR/out"; fail "no round trip"; }
ls pdump | grep -q '^ping\..*\.001\.genm\.request\.der$' || { ls pdump; fail "genm dump"; }
ls pdump | grep -q '^ping\..*\.002\.genp\.reply\.der$' || { ls pdump; fail "genp dump"; }
# the code from a descriptor and from the environment, an empty genm
expect_rc 0 "$PKIROLL" ping --ca-url "cmp://$CA_TCP" --reference 1002 --code-fd 3 --empty 3<c2
has "$T_DIR/out" "genm (empty)"
PKIROLL_CODE=$(cat c3) expect_rc 0 "$PKIROLL" ping --ca-url "$H" --reference 1003

# Phase: the enrollment, dumped and traced.
expect_rc 0 "$PKIROLL" -vvv --db s.db enroll m.csv -j 2 --ca-url "$H" --keystore-dir ks \
	--keystore-pass-file pass --dump-dir dumps
has "$T_DIR/out" "3 due: 3 enrolled, 0 failed"
cp "$T_DIR/err" enroll.err
[ "$(stat -c %a dumps)" = 700 ] || fail "dumps mode $(stat -c %a dumps)"
for c in acme-edi beta_x- gamma; do
	n=0
	for want in 001.ir.request 002.ip.reply 003.certConf.request 004.pkiconf.reply; do
		f=$(ls dumps | grep "^$c.*\.$want\.der$")
		[ "$(echo "$f" | grep -c .)" = 1 ] || { ls dumps; fail "$c: one $want file expected"; }
		[ "$(stat -c %a "dumps/$f")" = 600 ] || fail "$f mode"
		openssl asn1parse -inform DER -in "dumps/$f" >/dev/null || fail "asn1parse $f"
		n=$((n + 1))
	done
	# the trace names this transaction and its four messages
	tid=$(ls dumps | grep "^$c.*\.001\.ir\.request\.der$" | awk -F. '{ print $(NF-4) }')
	[ ${#tid} = 32 ] || fail "$c: no transactionID in the file name"
	for m in "sent ir" "received ip" "sent certConf" "received pkiconf"; do
		grep -q "CMP $m tid=$tid " enroll.err || { cat enroll.err; fail "$c: no trace of $m $tid"; }
	done
done
[ "$(ls dumps | wc -l)" = 12 ] || { ls dumps; fail "12 dump files expected"; }
grep -q "^beta/x: CMP sent ir tid=.* protection=PBM" enroll.err || fail "trace names the community"
has enroll.err "received ip tid="
has enroll.err "certReqId 1 accepted"

# A reply file replays through `openssl cmp -rspin`: gamma's single-key ip
# and pkiConf, with gamma's key from its keystore (the code from its
# file, not argv). OpenSSL 3.0 takes one CertResponse per message, so a
# dual-key ip is refused there ("multiple responses not supported"), which
# it says only after decoding the PKIMessage.
openssl pkcs12 -in ks/gamma/keystore.p12 -passin file:pass -nocerts -nodes -out gamma.key \
	2>/dev/null || fail "gamma's key"
ip=$(ls dumps/gamma.*.ip.reply.der) pc=$(ls dumps/gamma.*.pkiconf.reply.der)
openssl cmp -cmd ir -rspin "$ip $pc" -ref 1003 -secret file:c3 -newkey gamma.key \
	-subject /CN=gamma -certout gamma-replayed.pem >replay.log 2>&1 || { cat replay.log; fail "openssl cmp -rspin gamma"; }
cmp <(openssl x509 -in gamma-replayed.pem -outform DER) ks/gamma/signing.cer \
	|| fail "the replayed ip holds another certificate"
ip=$(ls dumps/acme-edi.*.ip.reply.der)
openssl cmp -cmd ir -rspin "$ip" -ref 1001 -secret file:c1 -newkey gamma.key -subject /CN=acme \
	-certout x.pem >replay2.log 2>&1
grep -q "multiple responses not supported" replay2.log || { cat replay2.log; fail "acme-edi ip"; }

# Phase: a rejection, traced with its failInfo.
expect_rc 1 "$PKIROLL" -vvv --db s.db enroll rej.csv --ca-url "$H" --keystore-dir ks \
	--keystore-pass-file pass --dump-dir dumps
grep -q "^rejected: CMP received ip tid=[0-9a-f]\{32\} .*rejection (badRequest)" "$T_DIR/err" \
	|| { cat "$T_DIR/err"; fail "no failInfo in the trace"; }
cp "$T_DIR/err" reject.err
# below -vvv, no trace line
expect_rc 0 "$PKIROLL" -vv ping --ca-url "$H" --reference 1002 --code-file c2
grep -q "CMP sent" "$T_DIR/err" && fail "trace lines below -vvv"

# Phase: ping signed with a community's keystore, a wrong code, no CA.
expect_rc 0 "$PKIROLL" -vvv --db s.db ping --community acme-edi --keystore-dir ks \
	--keystore-pass-file pass --ca-url "cmp://$CA_TCP"
has "$T_DIR/out" "protection: signature, signature verified against the CA chain of acme-edi"
has "$T_DIR/err" "acme-edi: CMP received genp tid="
cp "$T_DIR/err" ping.err
expect_rc 1 "$PKIROLL" -vvv ping --ca-url "$H" --reference 1001 --code-file bad
has "$T_DIR/out" "reply:      error: rejection (badMessageCheck)"
has "$T_DIR/out" "unverified"
has "$T_DIR/err" "refused by the CA"
cp "$T_DIR/err" pingbad.err
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_rc 4 "$PKIROLL" ping --ca-url "cmp://127.0.0.1:$port" --reference 1001 --code-file c1
has "$T_DIR/out" "reply:      none"
has "$T_DIR/err" "no answer: transient"
expect_rc 2 "$PKIROLL" ping --ca-url "$H" --reference 1001
expect_rc 2 "$PKIROLL" ping --ca-url "$H"

# Phase: a revocation, dumped.
expect_rc 0 "$PKIROLL" --db s.db revoke gamma --reason superseded --yes --ca-url "$H" \
	--keystore-dir ks --keystore-pass-file pass --dump-dir rdump
ls rdump | grep -q '^gamma\..*\.001\.rr\.request\.der$' || { ls rdump; fail "rr dump"; }
ls rdump | grep -q '^gamma\..*\.002\.rp\.reply\.der$' || { ls rdump; fail "rp dump"; }

# Phase: no secret anywhere: codes and passphrase in no dump and no trace.
for s in c1 c2 c3 c4 bad pass; do
	if grep -r -a -F -q -- "$(cat $s)" dumps pdump rdump enroll.err reject.err ping.err pingbad.err; then
		fail "the secret of $s appears in a dump or a trace"
	fi
done
exit 0
