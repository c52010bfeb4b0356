# pkiroll renew end to end against pkiroll-ca issuing short-lived
# certificates: the window selects exactly the expiring communities; the
# renewed keystores open, their keys match the new certificates and they
# keep the previous decryption key; the old rows stay with superseded_by;
# only the stale partners are rebuilt; a second run renews nothing; over
# HTTP and TCP; an expired certificate ends in needs_codes and new codes in
# a manifest re-enroll it.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
# short: 6 communities (partners A and B), long: 4 (partner C)
echo "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type" >short.csv
echo "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type" >long.csv
for i in 1 2 3 4 5 6; do
	printf 'code-s%d' $i >cs$i
	echo "s$i,$((9100 + i)),file:$T_DIR/cs$i,Partner $([ $i -le 3 ] && echo A || echo B),CN=s$i,p256,p256" >>short.csv
done
for i in 1 2 3 4; do
	printf 'code-l%d' $i >cl$i
	echo "l$i,$((9200 + i)),file:$T_DIR/cl$i,Partner C,CN=l$i,p256,p256" >>long.csv
done
"$PKIROLL_CA" users import --state ca short.csv >/dev/null || fail "users short"
"$PKIROLL_CA" users import --state ca long.csv >/dev/null || fail "users long"
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }

# Phase: the short-lived ones (2 h), then the long-lived ones (30 days).
start_ca ca --validity 7200
expect_rc 0 ks enroll short.csv --ca-url "http://$CA_HTTP/pkix/"
stop_ca
start_ca ca --validity 2592000
URL="http://$CA_HTTP/pkix/"
expect_rc 0 ks enroll long.csv --ca-url "$URL"
expect_rc 0 "$PKIROLL" --db s.db bundle --out b
for p in b/*.zip; do sha256sum "$p"; done >bundles.before
old_s1=$(openssl x509 -in ks/s1/signing.pem -noout -serial | cut -d= -f2)
old_e1=$(openssl x509 -in ks/s1/encryption.pem -noout -serial | cut -d= -f2)
sha256sum ks/l1/keystore.p12 >l1.before

# Phase: a dry run says what a 1-day window would renew, and writes nothing.
expect_rc 0 ks renew --ca-url "$URL" --within 1d --now --dry-run
has "$T_DIR/err" "would renew s1"
grep -q "would renew l1" "$T_DIR/err" && fail "dry run: a long-lived community is due"
[ "$(grep -c 'would renew' "$T_DIR/err")" = 6 ] || fail "dry run: not 6 due"
# without any CA (no --ca-url, no configuration): why and when each renews
expect_rc 0 "$PKIROLL" --db s.db renew --within 1d --now --dry-run
[ "$(grep -c 'would renew' "$T_DIR/err")" = 6 ] || fail "dry run without a CA: not 6 due"
exp=$(for u in signing encryption; do
	date -u -d "$(openssl x509 -in ks/s1/$u.pem -noout -enddate | cut -d= -f2)" +%s
done | sort -n | head -1)
has "$T_DIR/err" "would renew s1: inside the window (--now: no spreading); renew-after $(date -u -d @$((exp - 86400)) +%Y-%m-%dT%H:%M:%SZ), earliest certificate expires $(date -u -d @"$exp" +%Y-%m-%dT%H:%M:%SZ)"
expect_rc 0 "$PKIROLL" --db s.db renew --community l1 --dry-run
has "$T_DIR/err" "would renew l1: forced (--community), whatever its dates; renew-after"

# Phase: renew with --bundle: the 6 short ones, over HTTP.
expect_rc 0 ks renew --ca-url "$URL" --within 1d --now --bundle --bundle-dir b
has "$T_DIR/out" "renew: 6 due: 6 renewed, 0 enrolled, 0 failed"
[ "$(grep -c 'http kur signer=' "$CA_LOG")" = 6 ] || fail "the CA did not see 6 signed kur"
grep -q 'kur .*-> kup accepted, accepted' "$CA_LOG" || fail "no dual-key kup"
# the store: old rows kept with superseded_by, the events say what was replaced
[ "$(sqlite3 s.db "SELECT count(*) FROM certificates WHERE superseded_by IS NOT NULL")" = 12 ] \
	|| fail "the replaced certificates are not kept with superseded_by"
[ "$(sqlite3 s.db "SELECT count(*) FROM certificates c JOIN communities m ON m.id = c.community_id
	WHERE m.name LIKE 'l%' AND c.superseded_by IS NOT NULL")" = 0 ] || fail "a long one was renewed"
sqlite3 s.db "SELECT reason FROM events WHERE reason LIKE 'renewed:%'" | grep -q "serial $old_s1" \
	|| fail "no renewal event naming the replaced serial"
cmp -s l1.before <(sha256sum ks/l1/keystore.p12) || fail "a long one's keystore changed"
# every step of a renewal is an event
[ "$(sqlite3 s.db "SELECT group_concat(substr(e.reason, 15), ',') FROM events e JOIN communities c
	ON c.id = e.community_id WHERE c.name = 's1' AND e.reason LIKE 'renewal step:%' ORDER BY e.id")" \
	= "request,response,keys,confirm,confirmed" ] || fail "s1: the renewal's steps are not events"

# the keystores: openssl reads them, keys match, the old decryption key stays
for i in 1 2 3 4 5 6; do
	d=ks/s$i
	[ ! -e $d/keystore.p12.staged ] || fail "s$i: a staged keystore was left"
	openssl pkcs12 -in $d/keystore.p12 -passin file:pass -nodes -out s$i.all 2>/dev/null \
		|| fail "s$i: openssl cannot read the renewed keystore"
	openssl verify -CAfile ca/root.pem $d/signing.pem $d/encryption.pem >/dev/null \
		|| fail "s$i: the new certificates do not verify"
	# one earlier decryption key: its key bag and its certificate bag
	n=$(grep 'friendlyName: encryption-' s$i.all | sort -u | wc -l)
	[ "$n" = 1 ] && [ "$(grep -c 'friendlyName: encryption-' s$i.all)" = 2 ] \
		|| fail "s$i: not one earlier decryption key with its certificate"
	[ "$(ls $d/keystore-*.p12 | wc -l)" = 1 ] || fail "s$i: the previous keystore is not kept"
done
new_s1=$(openssl x509 -in ks/s1/signing.pem -noout -serial | cut -d= -f2)
[ "$new_s1" != "$old_s1" ] || fail "s1: the signing certificate did not change"
[ -f "ks/s1/keystore-$old_s1.p12" ] || fail "s1: keystore-$old_s1.p12 missing"
grep -q "friendlyName: encryption-$old_e1" s1.all || fail "s1: the previous decryption key is not named encryption-$old_e1"
# the signing key in the PKCS#12 is the new certificate's
openssl pkcs12 -in ks/s1/keystore.p12 -passin file:pass -nocerts -nodes 2>/dev/null \
	| awk '/friendlyName: signing/,/END PRIVATE KEY/' | openssl pkey -pubout >k.pub 2>/dev/null
openssl x509 -in ks/s1/signing.pem -noout -pubkey >c.pub
cmp -s k.pub c.pub || fail "s1: the signing key does not match the new certificate"
# the previous decryption key is the one of the old encryption certificate
openssl pkcs12 -in ks/s1/keystore.p12 -passin file:pass -nocerts -nodes 2>/dev/null \
	| awk "/friendlyName: encryption-$old_e1/,/END PRIVATE KEY/" | openssl pkey -pubout >ek.pub 2>/dev/null
openssl pkcs12 -in "ks/s1/keystore-$old_s1.p12" -passin file:pass -nokeys 2>/dev/null \
	| awk '/friendlyName: encryption$/,/END CERTIFICATE/' | openssl x509 -noout -pubkey >ec.pub
cmp -s ek.pub ec.pub || fail "s1: the kept decryption key is not the old encryption key"

# the bundles: A and B rebuilt (new certificate current, the old under
# previous/, the sheet names the replaced serial), C untouched
for p in b/*.zip; do sha256sum "$p"; done >bundles.after
[ "$(grep -c Partner_C bundles.before)" = 1 ] || fail "no bundle for partner C"
grep Partner_C bundles.before | cmp -s - <(grep Partner_C bundles.after) || fail "partner C was rebuilt"
grep Partner_A bundles.before | cmp -s - <(grep Partner_A bundles.after) && fail "partner A was not rebuilt"
za=$(ls b/Partner_A*.zip)
unzip -t "$za" >/dev/null || fail "partner A's zip is broken"
unzip -l "$za" | grep -q "s1/previous/signing.cer" || fail "no previous/ in partner A's zip"
unzip -p "$za" fingerprints.txt | grep -q "replaces   serial $old_s1" || fail "the sheet does not name the replaced serial"
unzip -p "$za" s1/signing.pem | openssl x509 -noout -serial | grep -q "$new_s1" || fail "A holds the old certificate as current"

# Phase: a second run renews nothing, silently; bundle --stale has nothing to do.
expect_rc 0 ks renew --ca-url "$URL" --within 1d --now --bundle --bundle-dir b
[ -s "$T_DIR/out" ] && { cat "$T_DIR/out"; fail "a run with nothing to do printed something"; }
[ "$(grep -c 'http kur signer=' "$CA_LOG")" = 6 ] || fail "the second run sent a kur"
# with a manifest too (cron: renew MANIFEST): nothing on stdout or stderr
expect_rc 0 ks renew long.csv --ca-url "$URL" --within 1d --now
[ -s "$T_DIR/out" ] || [ -s "$T_DIR/err" ] && { cat "$T_DIR/out" "$T_DIR/err"; fail "renew MANIFEST with nothing to do was not silent"; }
expect_rc 0 "$PKIROLL" --db s.db bundle --out b --stale
has "$T_DIR/out" "no stale bundle"

# Phase: --community over TCP renews a long one whatever its dates.
expect_rc 0 ks renew --ca-url "cmp://$CA_TCP" --community l2
has "$T_DIR/out" "1 due: 1 renewed"
grep -q "tcp/v10 kur signer=" "$CA_LOG" || fail "no kur over TCP"
# renew_encryption = keep: only the signing key renews; = reenroll: new codes
printf '[ca keep]\nurl = %s\nrenew_encryption = keep\n[ca re]\nurl = %s\nrenew_encryption = reenroll\n' \
	"$URL" "$URL" >kr.conf
e2=$(openssl x509 -in ks/s2/encryption.pem -noout -serial)
s2=$(openssl x509 -in ks/s2/signing.pem -noout -serial)
expect_rc 0 "$PKIROLL" --db s.db --config kr.conf renew --ca keep --community s2 --keystore-dir ks \
	--keystore-pass-file pass
[ "$(openssl x509 -in ks/s2/encryption.pem -noout -serial)" = "$e2" ] || fail "keep: the encryption key changed"
[ "$(openssl x509 -in ks/s2/signing.pem -noout -serial)" != "$s2" ] || fail "keep: the signing key did not renew"
openssl pkcs12 -in ks/s2/keystore.p12 -passin file:pass -nodes 2>/dev/null | grep -c 'BEGIN PRIVATE KEY' \
	| grep -qx 3 || fail "keep: the keystore does not hold signing, encryption and one earlier key"
expect_rc 1 "$PKIROLL" --db s.db --config kr.conf renew --ca re --community s3 --keystore-dir ks \
	--keystore-pass-file pass
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 's3'")" = needs_codes ] \
	|| fail "reenroll: s3 is not needs_codes"
sqlite3 s.db "SELECT reason FROM communities WHERE name = 's3'" | grep -q "renew_encryption = reenroll" \
	|| fail "reenroll: the reason does not say why"

# keep_decryption_keys (default 2): two more renewals of s1 keep the last two
expect_rc 0 ks renew --ca-url "$URL" --community s1
expect_rc 0 ks renew --ca-url "$URL" --community s1
n=$(openssl pkcs12 -in ks/s1/keystore.p12 -passin file:pass -nokeys 2>/dev/null \
	| grep 'friendlyName: encryption-' | sort -u | wc -l)
[ "$n" = 2 ] || fail "s1: $n earlier decryption keys after three renewals, want 2"
openssl pkcs12 -in ks/s1/keystore.p12 -passin file:pass -nokeys 2>/dev/null \
	| grep -q "friendlyName: encryption-$old_e1" && fail "s1: the oldest decryption key was kept"
[ "$(ls ks/s1/keystore-*.p12 | wc -l)" = 3 ] || fail "s1: not three previous keystores"
expect_rc 0 "$PKIROLL" --db s.db status --json
jq -e '.states.enrolled == 9 and .states.needs_codes == 1' "$T_DIR/out" >/dev/null \
	|| fail "not 9 enrolled and s3 needing codes after the renewals"
jq -e '[.communities[] | select(.renew_after != null)] | length == 10' "$T_DIR/out" >/dev/null \
	|| fail "status --json has no renew_after"

# Phase: an expired certificate needs new codes; a manifest with them re-enrolls.
stop_ca
start_ca ca --validity 2
printf 'code-x' >cx
echo "community,reference_number,authorization_code,subject,key_type,encryption_key_type" >x.csv
echo "x1,9301,file:$T_DIR/cx,CN=x1,p256,p256" >>x.csv
"$PKIROLL_CA" users import --state ca x.csv >/dev/null || fail "users x"
URL="http://$CA_HTTP/pkix/"
expect_rc 0 ks enroll x.csv --ca-url "$URL"
sleep 3
expect_rc 1 ks renew --ca-url "$URL" --community x1
has "$T_DIR/out" "1 need new codes"
has "$T_DIR/err" "has expired"
expect_rc 0 "$PKIROLL" --db s.db status --json
jq -e '.communities[] | select(.community == "x1") | .state == "needs_codes" and (.reason | test("new reference number"))' \
	"$T_DIR/out" >/dev/null || fail "x1: not needs_codes with a reason"
stop_ca
start_ca ca --validity 2592000
URL="http://$CA_HTTP/pkix/"
printf 'code-x2' >cx2
echo "community,reference_number,authorization_code,subject,key_type,encryption_key_type" >x2.csv
echo "x1,9302,file:$T_DIR/cx2,CN=x1,p256,p256" >>x2.csv
"$PKIROLL_CA" users import --state ca x2.csv >/dev/null || fail "users x2"
old_x=$(openssl x509 -in ks/x1/signing.pem -noout -serial | cut -d= -f2)
old_xe=$(openssl x509 -in ks/x1/encryption.pem -noout -serial | cut -d= -f2)
expect_rc 0 ks renew x2.csv --ca-url "$URL"
has "$T_DIR/out" "1 enrolled"
grep -q "ir ref=9302" "$CA_LOG" || fail "no ir with the new codes"
[ "$(sqlite3 s.db "SELECT state FROM communities WHERE name = 'x1'")" = enrolled ] || fail "x1 not enrolled again"
# the re-enrollment kept the old keystore beside the new one, and its decryption key in it
[ -f "ks/x1/keystore-$old_x.p12" ] || fail "x1: the previous keystore was not kept"
openssl pkcs12 -in ks/x1/keystore.p12 -passin file:pass -nokeys 2>/dev/null \
	| grep -q "friendlyName: encryption-$old_xe" || fail "x1: the previous decryption key is not kept"
[ "$(sqlite3 s.db "SELECT count(*) FROM certificates x JOIN communities c ON c.id = x.community_id
	WHERE c.name = 'x1' AND x.superseded_by IS NOT NULL")" = 2 ] || fail "x1: its history is not kept"
exit 0
