# pkiroll-ca's fault injection, per user and for every user, as our client
# sees it: each fault ends in its own fault class and reason.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
CMPC=$TOOLS/cmpc
cd "$T_DIR" || exit 3
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
add() { printf "code-$1" >code$1; "$PKIROLL_CA" users add --state ca --ref $1 --code-file code$1 \
	--subject "CN=User $1" ${2:+--fault "$2"} >/dev/null || fail "users add $1"; }
add 1 "delay=300"
add 2 "waiting=2"
add 3 "drop"
add 4 "close"
add 5 "http500"
add 6 "garbage"
add 7 "wrongmac"
add 8 "reject=badCertTemplate"
add 9 "consumed"
add 10 "slow=200"
add 11
add 12
start_ca ca --check-after 0 --confirm-timeout 1
run() { # REF URL EXPECTED-RC: one single-key ir
	expect_rc "$3" "$CMPC" --url "$2" --ref "$1" --secret-file "code$1" --subject CN=x \
		--key-type p256 "${@:4}"
}
H="http://$CA_HTTP/pkix/" T="cmp://$CA_TCP"
run 1 "$H" 0
run 2 "$H" 0
has "$T_DIR/out" "polls: 2"
run 3 "$T" 1
has "$T_DIR/out" "FAULT transient"
run 3 "$H" 1
has "$T_DIR/out" "FAULT transient"
run 4 "$T" 1
has "$T_DIR/out" "closed the connection"
run 5 "$H" 1
has "$T_DIR/out" "FAULT transient"
run 5 "$T" 1
has "$T_DIR/out" "errorMsgRep"
run 6 "$H" 1
has "$T_DIR/out" "FAULT protocol error"
run 7 "$T" 1
# a wrong MAC on an ip that carries our certificate: it may have been issued
has "$T_DIR/out" "FAULT unverified reply with certificates"
run 8 "$H" 1
has "$T_DIR/out" "rejection (badCertTemplate)"
run 9 "$T" 1
has "$T_DIR/out" "rejection (notAuthorized): reference number already used"
run 10 "$T" 0
# unknown reference number
printf x >code99
run 99 "$H" 1
has "$T_DIR/out" "unknown reference number"

# an issuance never confirmed is rolled back after --confirm-timeout
run 11 "$H" 0 --no-confirm
has "$T_DIR/out" "step: response"
sleep 2
run 11 "$H" 0
expect_rc 0 "$PKIROLL_CA" issued --state ca
awk -F'\t' '$3 == "rolledback" && $4 == "11"' "$T_DIR/out" | grep -q . \
	|| { cat "$T_DIR/out"; fail "no rollback"; }
awk -F'\t' '$3 == "confirmed" && $4 == "11"' "$T_DIR/out" | grep -q . || fail "no reissue"
# the client rejecting in certConf undoes the issuance; the code is not used up
run 12 "$T" 1 --reject
has "$T_DIR/out" "rejected in certConf"
run 12 "$T" 0
stop_ca

# a fault for every user
start_ca ca --fault delay=100,reject=badPOP
printf code-13 >code13
"$PKIROLL_CA" users add --state ca --ref 13 --code-file code13 --subject CN=u13 >/dev/null
run 13 "http://$CA_HTTP/pkix/" 1
has "$T_DIR/out" "rejection (badPOP)"
stop_ca
exit 0
