# The openssl cmp CLI (3.0) as client against pkiroll-ca over HTTP: ir (RSA
# and EC) with certConf, cr, p10cr, kur, rr, a wrong secret, consumed codes,
# implicitConfirm; every certificate verifies with openssl verify.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
"$PKIROLL_CA" init --state ca --intermediate >/dev/null || fail "init"
for f in ca/root.key ca/root.pem ca/issuing.key ca/issuing.pem; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
done
cat >users.csv <<'CSV'
community,reference_number,authorization_code,subject
rsa-one,1001,code-1001,"CN=RSA One,O=Example,C=US"
ec-two,1002,code-1002,"CN=EC Two,O=Example,C=US"
p10-three,1003,code-1003,"CN=P10 Three,O=Example,C=US"
implicit-four,1004,code-1004,"CN=Implicit Four,O=Example,C=US"
CSV
expect_rc 0 "$PKIROLL_CA" users import --state ca users.csv
has "$T_DIR/out" "4 users registered"
start_ca ca --allow-implicit-confirm
S="-server $CA_HTTP -path pkix/"
ROOT=ca/root.pem
verify() { openssl verify -CAfile "$ROOT" -untrusted ca/issuing.pem "$1" >/dev/null 2>&1 \
	|| fail "$1 does not verify"; }
ocmp() { openssl cmp "$@" >"$T_DIR/out" 2>&1; }

openssl genrsa -out k1.pem 2048 2>/dev/null
openssl ecparam -genkey -name prime256v1 -out k2.pem 2>/dev/null
openssl ecparam -genkey -name prime256v1 -out k3.pem 2>/dev/null

# ir with PBM, RSA: certConf, subject set from the registered user
ocmp -cmd ir $S -ref 1001 -secret pass:code-1001 -newkey k1.pem -subject "/CN=asked" \
	-certout c1.pem -cacertsout cas.pem || { cat "$T_DIR/out"; fail "ir RSA"; }
verify c1.pem
openssl x509 -in c1.pem -noout -subject | grep -q "CN = RSA One" || fail "subject not from the user"
grep -q "certConf ref=1001 -> pkiConf (confirmed)" "$CA_LOG" || fail "no certConf for 1001"
# ir, EC key
ocmp -cmd ir $S -ref 1002 -secret pass:code-1002 -newkey k2.pem -subject "/CN=x" -certout c2.pem \
	|| { cat "$T_DIR/out"; fail "ir EC"; }
verify c2.pem
openssl x509 -in c2.pem -noout -text | grep -q "Digital Signature, Non Repudiation" || fail "keyUsage"
# codes are one-time
ocmp -cmd ir $S -ref 1001 -secret pass:code-1001 -newkey k3.pem -subject "/CN=x" -certout x.pem \
	&& fail "consumed codes accepted"
has "$T_DIR/out" "notAuthorized"
# a wrong secret is refused
ocmp -cmd ir $S -ref 1003 -secret pass:wrong -newkey k3.pem -subject "/CN=x" -certout x.pem \
	&& fail "wrong secret accepted"
grep -q "ir ref=1003 -> error (badMessageCheck" "$CA_LOG" || fail "no badMessageCheck"
# p10cr with PBM
openssl req -new -key k3.pem -subj "/CN=csr" -out r.csr
ocmp -cmd p10cr $S -ref 1003 -secret pass:code-1003 -csr r.csr -certout c3.pem \
	|| { cat "$T_DIR/out"; fail "p10cr"; }
verify c3.pem
# implicitConfirm: granted, so no certConf
ocmp -cmd ir $S -ref 1004 -secret pass:code-1004 -newkey k3.pem -subject "/CN=x" \
	-implicit_confirm -certout c4.pem || { cat "$T_DIR/out"; fail "ir implicit"; }
# (the CA sets the subject from its user: grantedWithMods, which openssl cmp takes)
grep -q "ir ref=1004 -> ip grantedWithMods implicitConfirm" "$CA_LOG" || fail "implicitConfirm not granted"
grep -q "certConf ref=1004" "$CA_LOG" && fail "certConf despite implicitConfirm"
# kur, signed with the issued certificate
openssl genrsa -out k5.pem 2048 2>/dev/null
ocmp -cmd kur $S -cert c1.pem -key k1.pem -trusted "$ROOT" -newkey k5.pem -certout c5.pem \
	|| { cat "$T_DIR/out"; fail "kur"; }
verify c5.pem
openssl x509 -in c5.pem -noout -subject | grep -q "CN = RSA One" || fail "kur subject"
# cr, signed with an issued certificate
ocmp -cmd cr $S -cert c5.pem -key k5.pem -trusted "$ROOT" -newkey k2.pem -subject "/CN=x" \
	-certout c6.pem || { cat "$T_DIR/out"; fail "cr"; }
verify c6.pem
# rr revokes; a revoked certificate can no longer protect a request
ocmp -cmd rr $S -cert c5.pem -key k5.pem -trusted "$ROOT" -oldcert c5.pem -revreason 1 \
	|| { cat "$T_DIR/out"; fail "rr"; }
has "$T_DIR/out" "revocation accepted"
ocmp -cmd kur $S -cert c5.pem -key k5.pem -trusted "$ROOT" -newkey k1.pem -certout x.pem \
	&& fail "revoked certificate protected a kur"
has "$T_DIR/out" "certRevoked"
# genm: the CA certificates
ocmp -cmd genm $S -ref 1002 -secret pass:code-1002 || { cat "$T_DIR/out"; fail "genm"; }
has "$T_DIR/out" "id-it-caCerts"
# another path is 404, which our client reports as a configuration fault
CMPC=$TOOLS/cmpc
printf code-1002 >code
expect_rc 1 "$CMPC" --url "http://$CA_HTTP/other/" --ref 1002 --secret-file code --subject CN=x
has "$T_DIR/out" "FAULT configuration"
has "$T_DIR/out" "status 404"
expect_rc 0 "$PKIROLL_CA" issued --state ca
has "$T_DIR/out" "revoked"
grep -q "code-10" "$CA_LOG" && fail "a code is in the CA log"
stop_ca
[ "$CA_RC" = 0 ] || fail "SIGTERM: exit $CA_RC"
exit 0
