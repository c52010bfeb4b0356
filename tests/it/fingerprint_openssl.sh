# pkiroll fingerprint agrees with openssl x509 -fingerprint for PEM and DER.
. "$T_SRC/tests/lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/k.pem" \
	-subj "/C=US/O=Acme Corp/CN=Acme EDI" -days 2 -out "$T_DIR/c.pem" 2>/dev/null || fail "openssl req"
openssl x509 -in "$T_DIR/c.pem" -outform DER -out "$T_DIR/c.der"
for f in c.pem c.der; do
	expect_rc 0 "$PKIROLL" fingerprint "$T_DIR/$f"
	for md in md5 sha1 sha256; do
		want=$(openssl x509 -in "$T_DIR/c.pem" -noout -fingerprint -$md | cut -d= -f2)
		grep -qF "$want" "$T_DIR/out" || { cat "$T_DIR/out"; fail "$f: $md $want missing"; }
	done
	has "$T_DIR/out" "CN=Acme EDI,O=Acme Corp,C=US"
	has "$T_DIR/out" "key        p256"
done
echo "not a cert" >"$T_DIR/junk"
expect_rc 1 "$PKIROLL" fingerprint "$T_DIR/junk"
exit 0
