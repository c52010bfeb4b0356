# pkiroll-ca as an independent client suite found it: PBM-protected replies
# carry the CA chain in extraCerts; a replayed request (its transactionID in
# use) is refused with transactionIdInUse; rr by certDetails without a
# serial number (one match revokes, several are an error); removeFromCRL
# releases a certificateHold; one port for IPv4 and IPv6; repeated slashes
# in the path.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
CMPC=${CMPC:-$TOOLS/cmpc}
[ -x "$CMPC" ] || fail "cmpc not built"
cd "$T_DIR" || exit 3
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 --intermediate >/dev/null || fail "init"
for i in 1 2 3 4; do
	printf 'code-%d' $i >c$i
	"$PKIROLL_CA" users add --state ca --ref 880$i --code-file c$i --subject "CN=Indep $i" >/dev/null \
		|| fail "user $i"
done
# two users with one subject: an rr by subject alone cannot tell them apart
"$PKIROLL_CA" users add --state ca --ref 8805 --code-file c1 --subject "CN=Twin" >/dev/null
"$PKIROLL_CA" users add --state ca --ref 8806 --code-file c2 --subject "CN=Twin" >/dev/null
start_ca ca
ROOT=ca/root.pem
S="-server $CA_HTTP -path pkix/"
ocmp() { openssl cmp "$@" >"$T_DIR/out" 2>&1; }
issued() { "$PKIROLL_CA" issued --state ca | awk -v s="$1" '$1 == s { print $3 }'; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

# Phase: a PBM-protected ip carries the chain in extraCerts, so openssl cmp
# validates the new certificate with nothing but the root.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k1.pem 2>/dev/null
ocmp -cmd ir $S -ref 8801 -secret pass:code-1 -newkey k1.pem -subject "/CN=Indep 1" \
	-trusted "$ROOT" -certout c1.pem -extracertsout extra.pem -reqout ir1.der,cc1.der \
	|| { cat "$T_DIR/out"; fail "ir with PBM and only the root trusted"; }
[ "$(grep -c 'BEGIN CERTIFICATE' extra.pem)" -ge 2 ] || fail "the ip carried no chain in extraCerts"
openssl verify -CAfile "$ROOT" -untrusted extra.pem c1.pem >/dev/null || fail "c1 does not verify with extraCerts"

# Phase: a replayed request is refused (RFC 4210 5.1.1 transactionIdInUse),
# a signed cr too, so one transaction never issues twice.
n=$(grep -c 'cp accepted\|ip accepted' "$CA_LOG")
curl -s -o rep.der -H 'Content-Type: application/pkixcmp' --data-binary @ir1.der "http://$CA_HTTP/pkix/" \
	|| fail "replay"
grep -q "error (transactionIdInUse" "$CA_LOG" || fail "the replayed ir was not refused with transactionIdInUse"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k2.pem 2>/dev/null
ocmp -cmd cr $S -cert c1.pem -key k1.pem -trusted "$ROOT" -newkey k2.pem -certout c2.pem -reqout cr.der,cc2.der \
	|| { cat "$T_DIR/out"; fail "cr"; }
curl -s -o rep2.der -H 'Content-Type: application/pkixcmp' --data-binary @cr.der "http://$CA_HTTP/pkix/"
[ "$(grep -c 'error (transactionIdInUse' "$CA_LOG")" = 2 ] || fail "the replayed cr was not refused"
[ "$(grep -c 'cp accepted\|ip accepted' "$CA_LOG")" = $((n + 1)) ] || fail "a replay issued a certificate"

# Phase: rr by certDetails without a serial number.
"$CMPC" --url "http://$CA_HTTP/pkix/" --cert c2.pem --old-key k2.pem --trusted "$ROOT" \
	--rr 1 --rr-cert c2.pem --rr-by-subject >rr.out 2>&1 || { cat rr.out; fail "rr by subject and key"; }
[ "$(issued "$(serial c2.pem)")" = revoked ] || fail "rr by subject and key did not revoke"
[ "$(issued "$(serial c1.pem)")" = confirmed ] || fail "rr by subject and key revoked the other one too"
# two certificates with one subject and one key: an error, no guess
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tk.pem 2>/dev/null
for i in 5 6; do
	ocmp -cmd ir $S -ref 880$i -secret pass:code-$((i - 4)) -newkey tk.pem -subject "/CN=Twin" \
		-trusted "$ROOT" -certout tw$i.pem || { cat "$T_DIR/out"; fail "twin $i"; }
done
printf 'code-1' >tw.secret
"$CMPC" --url "http://$CA_HTTP/pkix/" --ref 8805 --secret-file tw.secret --trusted "$ROOT" \
	--rr 1 --rr-cert tw5.pem --rr-by-subject >rr2.out 2>&1
grep -q "result: ok" rr2.out && fail "an rr by subject took one of two matches"
grep -q "2 certificates match the subject and key" "$CA_LOG" || fail "the ambiguity is not said"
[ "$(issued "$(serial tw5.pem)")" = confirmed ] && [ "$(issued "$(serial tw6.pem)")" = confirmed ] \
	|| fail "an ambiguous rr revoked something"

# Phase: certificateHold, then removeFromCRL releases it.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k3.pem 2>/dev/null
ocmp -cmd ir $S -ref 8803 -secret pass:code-3 -newkey k3.pem -subject "/CN=Indep 3" -trusted "$ROOT" \
	-certout c3.pem || { cat "$T_DIR/out"; fail "ir 3"; }
ocmp -cmd rr $S -ref 8803 -secret pass:code-3 -trusted "$ROOT" -oldcert c3.pem -revreason 6 \
	|| { cat "$T_DIR/out"; fail "rr certificateHold"; }
[ "$(issued "$(serial c3.pem)")" = revoked ] || fail "certificateHold did not hold"
ocmp -cmd rr $S -ref 8803 -secret pass:code-3 -trusted "$ROOT" -oldcert c3.pem -revreason 8 \
	|| { cat "$T_DIR/out"; fail "rr removeFromCRL"; }
[ "$(issued "$(serial c3.pem)")" = confirmed ] || fail "removeFromCRL did not release the hold"
grep -q "hold released" "$CA_LOG" || fail "no hold released in the log"
ocmp -cmd rr $S -ref 8803 -secret pass:code-3 -trusted "$ROOT" -oldcert c3.pem -revreason 8 \
	&& fail "removeFromCRL of a certificate not on hold was accepted"
stop_ca

# Phase: /pkix//// is /pkix/; [::]:PORT serves IPv4 and IPv6 (where the
# machine has IPv6 at all).
start_ca ca
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k4.pem 2>/dev/null
ocmp -cmd ir -server "$CA_HTTP" -path 'pkix////' -ref 8804 -secret pass:code-4 -newkey k4.pem \
	-subject "/CN=Indep 4" -trusted "$ROOT" -certout c4.pem \
	|| { cat "$T_DIR/out"; fail "/pkix//// is not /pkix/"; }
stop_ca
"$PKIROLL_CA" serve --state ca --http '[::]:0' >v6.out 2>v6.log &
CA_PID=$!
for _ in $(seq 100); do
	grep -q '^listening' v6.out 2>/dev/null && break
	kill -0 $CA_PID 2>/dev/null || break
	sleep 0.05
done
port=$(awk '$2 == "http" { print $3 }' v6.out | sed 's/.*://')
if [ -z "$port" ]; then
	grep -qi "not supported\|cannot assign\|unavailable" v6.log \
		|| { cat v6.log; fail "[::]:0 did not listen"; }
	echo "no IPv6 on this machine: the dual-stack phase is skipped" >&2
	exit 0
fi
# IPv4 reaches the IPv6 wildcard socket: a CMP request over 127.0.0.1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k5.pem 2>/dev/null
ocmp -cmd cr -server "127.0.0.1:$port" -path pkix/ -cert c4.pem -key k4.pem -newkey k5.pem \
	-trusted "$ROOT" -certout c5.pem || { cat "$T_DIR/out"; fail "IPv4 to [::]"; }
code=$(curl -s -o /dev/null -w '%{http_code}' -g "http://[::1]:$port/pkix/" 2>/dev/null || true)
if [ -n "$code" ] && [ "$code" != 000 ]; then
	[ "$code" != 404 ] || fail "IPv6 reached the port but not the path"
fi
exit 0
