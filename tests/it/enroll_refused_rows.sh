# enroll reads the manifest twice: the import validates every row, the
# dispatch pass only takes the codes. A row the import did not take (bad,
# or refused by the store) is never sent, even for a community the store
# already holds as pending; the good rows of the same file enroll.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
for i in 1 2 3; do printf "code-$i" >c$i; done
hdr="community,reference_number,authorization_code,subject,key_type,encryption_key_type"
printf '%s\na,7001,file:%s/c1,CN=a,p256,p256\nb,7002,file:%s/c2,CN=b,p256,p256\n' "$hdr" "$T_DIR" "$T_DIR" >v1.csv
expect_rc 0 "$PKIROLL" --db s.db import v1.csv
# a now claims b's reference (refused by the store), b's subject is bad
# (refused by validation), c is new and good
{
	echo "$hdr"
	echo "a,7002,file:$T_DIR/c1,CN=a,p256,p256"
	echo "b,7002,file:$T_DIR/c2,CN=b\\00,p256,p256"
	echo "c,7003,file:$T_DIR/c3,CN=c,p256,p256"
} >v2.csv
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
for i in 1 2 3; do
	"$PKIROLL_CA" users add --state ca --ref 700$i --code-file c$i --subject CN=x$i >/dev/null || fail "add"
done
start_ca ca
expect_rc 1 "$PKIROLL" --db s.db enroll v2.csv --ca-url "http://$CA_HTTP/pkix/" --keystore-dir ks \
	--keystore-pass-file pass
has "$T_DIR/err" "v2.csv:2: reference_number: already used by community \"b\""
has "$T_DIR/err" "v2.csv:3: subject: unparsable DN"
has "$T_DIR/out" "3 rows (2 bad), 1 due: 1 enrolled"
grep -q "ref=7001\|ref=7002" "$CA_LOG" && fail "a refused row was sent: $(grep 'ref=700[12]' "$CA_LOG")"
grep -q "ir ref=7003" "$CA_LOG" || fail "the good row was not sent"
exit 0
