# Our client, dual key, against pkiroll-ca over HTTP and over TCP in both
# framings (pinned and detected): the decrypted encryption key matches its
# certificate, also with 3DES, OAEP and an EC key hint.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
CMPC=$TOOLS/cmpc
cd "$T_DIR" || exit 3
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
: >users.csv
echo "community,reference_number,authorization_code,subject" >users.csv
for i in 1 2 3 4 5 6 7 8; do echo "c$i,200$i,file:$T_DIR/code$i,CN=Community $i" >>users.csv; printf "secret-$i" >code$i; done
expect_rc 0 "$PKIROLL_CA" users import --state ca users.csv
start_ca ca

enroll() { # N URL [cmpc options]: dual-key enrollment of user 200N
	local n=$1 url=$2
	shift 2
	mkdir -p out$n
	expect_rc 0 "$CMPC" --url "$url" --ref 200$n --secret-file code$n --subject "CN=asked" \
		--dual --out out$n "$@"
	has "$T_DIR/out" "result: ok"
	has "$T_DIR/out" "matches the certificate"
	openssl x509 -in out$n/enc.pem -noout -pubkey >pub.a
	openssl pkey -in out$n/enc.key.pem -pubout >pub.b
	cmp -s pub.a pub.b || fail "user 200$n: encryption key and certificate differ (openssl)"
	openssl verify -CAfile ca/root.pem out$n/sign.pem out$n/enc.pem >/dev/null || fail "verify $n"
}
enroll 1 "http://$CA_HTTP/pkix/"
enroll 2 "cmp://$CA_TCP"
has "$T_DIR/out" "framing: 1"
enroll 3 "cmp://$CA_TCP" --framing v0
has "$T_DIR/out" "framing: 2"
enroll 4 "cmp://$CA_TCP" --framing v10 --key-type rsa2048 --enc-key-type p256
openssl x509 -in out4/enc.pem -noout -text | grep -q "id-ecPublicKey" || fail "EC hint ignored"
openssl x509 -in out4/enc.pem -noout -text | grep -q "Key Agreement" || fail "EC enc keyUsage"
openssl x509 -in out1/enc.pem -noout -text | grep -q "Key Encipherment, Data Encipherment" \
	|| fail "RSA enc keyUsage"

# key update (RFC 4210 D.6) with our client: signed with the current key,
# a new signing key and a new CA-generated encryption key; the reply is
# signed by the CA and checked against the root
mkdir -p kur
expect_rc 0 "$CMPC" --url "http://$CA_HTTP/pkix/" --kur --cert out1/sign.pem --old-key out1/key.pem \
	--trusted ca/root.pem --dual --out kur
has "$T_DIR/out" "result: ok"
has "$T_DIR/out" "matches the certificate"
grep -q "http kur signer=" "$CA_LOG" || fail "the CA saw no signed kur"
cmp -s <(openssl x509 -in kur/sign.pem -noout -subject) <(openssl x509 -in out1/sign.pem -noout -subject) \
	|| fail "kur changed the subject"
cmp -s kur/sign.pem out1/sign.pem && fail "kur returned the old certificate"
# without the right trust anchor the CA's signature is not accepted
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=other \
	-out other.pem 2>/dev/null
expect_rc 1 "$CMPC" --url "http://$CA_HTTP/pkix/" --kur --cert out1/sign.pem --old-key out1/key.pem \
	--trusted other.pem --out kur
has "$T_DIR/out" "signature did not verify"
# cr signed with an issued certificate
expect_rc 0 "$CMPC" --url "http://$CA_HTTP/pkix/" --cr --cert kur/sign.pem --old-key kur/key.pem \
	--trusted ca/root.pem --subject CN=x
has "$T_DIR/out" "result: ok"
stop_ca

# HTTPS (RFC 6712 over TLS): the server must chain to the configured CA
# file and match the host, by address or by name
start_ca ca --https 127.0.0.1:0
enroll 7 "https://$CA_HTTPS/pkix/" --tls-ca ca/root.pem
enroll 8 "https://localhost:${CA_HTTPS##*:}/pkix/" --tls-ca ca/root.pem
printf "secret-9" >code9
"$PKIROLL_CA" users add --state ca --ref 2009 --code-file code9 --subject CN=nine >/dev/null
expect_rc 1 "$CMPC" --url "https://$CA_HTTPS/pkix/" --tls-ca other.pem --ref 2009 \
	--secret-file code9 --subject CN=x
has "$T_DIR/out" "FAULT configuration"
has "$T_DIR/out" "not trusted"
stop_ca

# a CA that speaks only RFC 2510: the client falls back to version 0
start_ca ca --tcp-v0-only --enc-cipher 3des --oaep
enroll 5 "cmp://$CA_TCP"
has "$T_DIR/out" "framing: 2"
enroll 6 "http://$CA_HTTP/pkix/"
grep -q "tcp version 10 frame type 0 -> errorMsgRep" "$CA_LOG" || fail "no errorMsgRep for v10"
stop_ca
exit 0
