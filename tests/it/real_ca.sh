# What real CMP servers (Nokia NCM / Insta, EJBCA) are documented to do,
# played by pkiroll-ca, against enrollment and renewal: replies signed by a
# CMP responder with a bare pkiConf, signed replies to MAC-protected
# requests, a lost certConf answer followed by transactionIdInUse or by
# EJBCA's consumed-code badRequest, a damaged pkiConf (bad MAC, a flipped
# byte), signed errors to a wrong code, and an unverifiable ip. Each is
# checked at the CA side too: what it issued and confirmed against what
# the store and the keystores hold, how many requests each code cost. The
# rule: a key whose certificate the CA may have issued is never deleted,
# and a code is never spent by our own mistake.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"

# community:reference:faults (per user, applied after authentication)
specs="bare:7001:responder,signpbm
inuse:7002:lostconf,reconf=transactionIdInUse
ejbca:7003:lostconf,reconf=badRequest,ejbca
badconf:7004:badconf
flipconf:7005:flipconf
wrongcode:7006:
untrusted:7007:signpbm"
hdr="community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type"
echo "$hdr" >m.csv
echo "$hdr" >u.csv
echo "$specs" | while IFS=: read -r name ref faults; do
	printf 'code-%s' "$ref" >c$ref
	m=m.csv
	[ "$name" = untrusted ] && m=u.csv
	echo "$name,$ref,file:$T_DIR/c$ref,Partner A,CN=$name,p256,p256" >>$m
	code=c$ref
	# the CA knows another code for wrongcode
	[ "$name" = wrongcode ] && { printf 'the-real-one' >real; code=real; }
	"$PKIROLL_CA" users add --state ca --ref "$ref" --code-file "$code" --subject "CN=$name" \
		${faults:+--fault "$faults"} >/dev/null || fail "users add $name"
done
conf() { # conf FILE URL [trust anchor]
	{
		printf '[ca t]\nurl = %s\nretries = 3\ncircuit_breaker = 1000\n' "$2"
		[ -n "${3:-}" ] && printf 'trust_anchor = %s\n' "$3"
	} >"$1"
}
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }
state() { sqlite3 s.db "SELECT state FROM communities WHERE name = '$1'"; }
requests() { sqlite3 ca/ca.db "SELECT count(*) FROM transactions WHERE ref = '$1' AND kind = '$2'"; }
# the CA's confirmed certificates of a reference against the store's current ones
agree() {
	local name=$1 ref=$2 ca st
	ca=$(sqlite3 ca/ca.db "SELECT lower(serial) FROM issued WHERE ref = '$ref' AND state IN
		('confirmed', 'superseded', 'spent') ORDER BY issued_at DESC, usage LIMIT 2" | sort)
	st=$(sqlite3 s.db "SELECT lower(x.serial) FROM certificates x JOIN communities c ON
		c.id = x.community_id WHERE c.name = '$name' AND x.superseded_by IS NULL" | sort)
	[ -n "$st" ] && [ "$ca" = "$st" ] || fail "$name: the CA confirmed [$ca], the store holds [$st]"
	local ks_serial
	ks_serial=$(openssl pkcs12 -in ks/$name/keystore.p12 -passin file:pass -nokeys 2>/dev/null |
		awk '/friendlyName: signing/,/END CERTIFICATE/' | openssl x509 -noout -serial | cut -d= -f2)
	echo "$st" | grep -qi "^$ks_serial\$" || fail "$name: keystore.p12 holds $ks_serial, not the store's"
}

# Phase: replies signed by the CA although the request had a MAC, and no
# trust anchor for them: the ip counts as issued. Its key is kept, no
# certConf, and the code is not sent again.
start_ca ca --confirm-timeout 2
conf c.conf "http://$CA_HTTP/pkix/"
expect_rc 1 ks --config c.conf enroll u.csv
[ "$(state untrusted)" = failed ] || fail "untrusted: $(state untrusted), want failed"
sqlite3 s.db "SELECT reason FROM communities WHERE name = 'untrusted'" | grep -q "trust_anchor" \
	|| fail "untrusted: the reason does not name trust_anchor"
ls ks/untrusted/unverified-*.p12 >/dev/null 2>&1 || fail "untrusted: the key of the issued certificate was deleted"
[ "$(requests 7007 ir)" = 1 ] || fail "untrusted: $(requests 7007 ir) ir sent, want 1"
expect_rc 0 "$PKIROLL" --db s.db status
has "$T_DIR/out" "untrusted"
# with the trust anchor, once the CA rolled the unconfirmed one back
sleep 3
conf t.conf "http://$CA_HTTP/pkix/" "$T_DIR/ca/root.pem"
expect_rc 0 ks --config t.conf enroll u.csv --retry-failed
agree untrusted 7007

# Phase: everything else, enrolled with the trust anchor.
expect_rc 1 ks --config t.conf enroll m.csv -j 3
cp "$T_DIR/out" enroll.out
cp "$T_DIR/err" enroll.err
for c in bare:7001 inuse:7002 ejbca:7003 badconf:7004 flipconf:7005; do
	name=${c%:*} ref=${c#*:}
	[ "$(state "$name")" = enrolled ] || { cat enroll.err; fail "$name: $(state "$name"), want enrolled"; }
	[ "$(requests "$ref" ir)" = 1 ] || fail "$name: $(requests "$ref" ir) ir sent, want 1 (a code spent twice)"
	agree "$name" "$ref"
done
# a lost answer, then EJBCA's refusal: recorded, with a warning, not needs_codes
sqlite3 s.db "SELECT attention FROM communities WHERE name = 'ejbca'" | grep -q "not proven" \
	|| fail "ejbca: no warning that the confirmation is unproven"
[ -z "$(sqlite3 s.db "SELECT attention FROM communities WHERE name = 'inuse'")" ] \
	|| fail "inuse: transactionIdInUse on a resent certConf is a proof, yet a warning was kept"
# a wrong code answered by a signed error: needs_codes, sent once
[ "$(state wrongcode)" = needs_codes ] || fail "wrongcode: $(state wrongcode), want needs_codes"
[ "$(grep -c 'ir ref=7006' ca.log)" = 1 ] || fail "a wrong code was sent $(grep -c 'ir ref=7006' ca.log) times"
expect_rc 0 "$PKIROLL" --db s.db status
has "$T_DIR/out" "ejbca"
has "$T_DIR/out" "not proven"
stop_ca

# Phase: signed errors to a wrong code (Insta signs everything): shown with
# failInfo, sent once.
start_ca ca --fault signerrors
conf t.conf "http://$CA_HTTP/pkix/" "$T_DIR/ca/root.pem"
printf 'again' >c7006
"$PKIROLL_CA" users add --state ca --ref 7106 --code-file real --subject CN=wrong2 >/dev/null
echo "$hdr" >w.csv
echo "wrong2,7106,file:$T_DIR/c7006,Partner A,CN=wrong2,p256,p256" >>w.csv
expect_rc 1 ks --config t.conf enroll w.csv
[ "$(state wrong2)" = needs_codes ] || fail "wrong2: $(state wrong2), want needs_codes"
sqlite3 s.db "SELECT reason FROM communities WHERE name = 'wrong2'" | grep -q "badMessageCheck" \
	|| fail "wrong2: the signed error's failInfo is not shown"
[ "$(grep -c 'ir ref=7106' "$CA_LOG")" = 1 ] || fail "a wrong code was sent more than once"
stop_ca

# Phase: renewal of each (the faults are the user's, so they apply to kur).
start_ca ca
conf t.conf "http://$CA_HTTP/pkix/" "$T_DIR/ca/root.pem"
for c in bare:7001 inuse:7002 ejbca:7003 badconf:7004 flipconf:7005; do
	name=${c%:*} ref=${c#*:}
	ks --config t.conf renew --community "$name" >r.$name.out 2>r.$name.err \
		|| { cat r.$name.out r.$name.err; fail "$name: renewal failed"; }
	grep -q "1 renewed" r.$name.out || { cat r.$name.out r.$name.err; fail "$name: not renewed"; }
	[ "$(requests "$ref" kur)" = 1 ] || fail "$name: $(requests "$ref" kur) kur sent, want 1"
	[ "$(state "$name")" = enrolled ] || fail "$name: $(state "$name") after renewal"
	[ ! -e ks/$name/keystore.p12.staged ] || fail "$name: a staged keystore was left"
	agree "$name" "$ref"
	# the replaced keystore is kept
	ls ks/$name/keystore-*.p12 >/dev/null 2>&1 || fail "$name: the previous keystore was not kept"
done
sqlite3 s.db "SELECT attention FROM communities WHERE name = 'ejbca'" | grep -q "renewal confirmation not proven" \
	|| fail "ejbca: the unproven renewal has no warning"
stop_ca

# Phase: under implicitConfirm an ir whose answer is lost (read timeout) may
# have spent the codes for good: no second ir on our own, neither in the
# run nor in the next. And a certConf the CA refuses because it rolled the
# issuance back (it arrived too late) is not "new codes needed".
for c in slowip:7201:slow=3000 late:7202:delay=4000; do
	IFS=: read -r name ref faults <<<"$c"
	printf 'code-%s' "$ref" >c$ref
	"$PKIROLL_CA" users add --state ca --ref "$ref" --code-file c$ref --subject "CN=$name" \
		--fault "$faults" >/dev/null || fail "users add $name"
	echo "$hdr" >$name.csv
	echo "$name,$ref,file:$T_DIR/c$ref,Partner A,CN=$name,p256,p256" >>$name.csv
done
start_ca ca --allow-implicit-confirm --confirm-timeout 2
conf i.conf "http://$CA_HTTP/pkix/" "$T_DIR/ca/root.pem"
printf 'implicit_confirm = yes\nread_timeout = 1\n' >>i.conf
expect_rc 1 ks --config i.conf enroll slowip.csv
[ "$(state slowip)" = failed ] || fail "slowip: $(state slowip), want failed"
sqlite3 s.db "SELECT attention FROM communities WHERE name = 'slowip'" | grep -q "implicitConfirm" \
	|| fail "slowip: no warning that the codes may be spent"
expect_rc 0 ks --config i.conf enroll slowip.csv
[ "$(requests 7201 ir)" = 1 ] || fail "slowip: $(requests 7201 ir) ir sent after an unanswered one under implicitConfirm"
conf l.conf "http://$CA_HTTP/pkix/" "$T_DIR/ca/root.pem"
expect_rc 1 ks --config l.conf enroll late.csv
[ "$(state late)" = failed ] || fail "late: $(state late), want failed (the codes were not refused)"
[ "$(sqlite3 s.db "SELECT retryable FROM communities WHERE name = 'late'")" = 1 ] || fail "late: not retryable"
[ "$(sqlite3 ca/ca.db "SELECT state FROM users WHERE ref = '7202'")" = active ] \
	|| fail "late: the CA did not roll back, the test tested nothing"
exit 0
