# pkiroll export in each format, read back with openssl; a replaced
# certificate by --serial; the refusals (an existing file, a private key to
# a terminal, unknown community, no such certificate).
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 --intermediate >/dev/null || fail "init"
make_manifest m.csv 2 e 60000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }
expect_rc 0 ks enroll m.csv --ca-url "http://$CA_HTTP/pkix/"
sign=$(openssl x509 -in ks/e-1/signing.pem -noout -serial | cut -d= -f2)
enc=$(openssl x509 -in ks/e-1/encryption.pem -noout -serial | cut -d= -f2)

# der and pem: one certificate, the signing one by default
expect_rc 0 "$PKIROLL" --db s.db export e-1 --format der -o s.der
openssl x509 -inform DER -in s.der -noout -serial | grep -q "$sign" || fail "der: not the signing certificate"
expect_rc 0 "$PKIROLL" --db s.db export e-1 --usage encryption --format pem -o e.pem
openssl x509 -in e.pem -noout -serial | grep -q "$enc" || fail "pem: not the encryption certificate"
"$PKIROLL" --db s.db export e-1 >stdout.pem || fail "pem to stdout"
cmp -s stdout.pem ks/e-1/signing.pem || fail "pem to stdout differs from the keystore's copy"
# p7b: both certificates and the chain (root and intermediate)
expect_rc 0 "$PKIROLL" --db s.db export e-1 --format p7b -o all.p7b
n=$(openssl pkcs7 -inform DER -in all.p7b -print_certs | grep -c '^subject=')
[ "$n" = 4 ] || fail "p7b: $n certificates, want 2 and the 2 CA certificates"
# p12 under a new passphrase, modern and legacy
(umask 077 && printf 'new-pass-%s' "$RANDOM" >newpass)
expect_rc 0 ks export e-1 --format p12 -o e1.p12 --out-pass-file newpass
[ "$(stat -c %a e1.p12)" = 600 ] || fail "p12 is not 0600"
openssl pkcs12 -in e1.p12 -passin file:newpass -nodes -out e1.all 2>/dev/null || fail "p12: openssl cannot read it"
[ "$(grep -c 'BEGIN PRIVATE KEY' e1.all)" = 2 ] || fail "p12: not both keys"
openssl pkcs12 -in e1.p12 -passin file:pass -nodes -out /dev/null 2>/dev/null && fail "p12 opens with the old passphrase"
expect_rc 0 ks export e-1 --format p12 --legacy -o e1l.p12 --out-pass-file newpass --usage signing
openssl pkcs12 -legacy -in e1l.p12 -passin file:newpass -nodes -out e1l.all 2>/dev/null \
	|| fail "legacy p12: openssl -legacy cannot read it"
[ "$(grep -c 'BEGIN PRIVATE KEY' e1l.all)" = 1 ] || fail "legacy p12 --usage signing: not one key"
openssl pkcs12 -in e1l.p12 -passin file:newpass -info -noout 2>&1 | grep -q TripleDES || fail "legacy p12 is not 3DES"
# the passphrases never on the command line: the environment works too
PKIROLL_EXPORT_PASS=env-pass expect_rc 0 ks export e-2 --format p12 -o e2.p12
openssl pkcs12 -in e2.p12 -passin pass:env-pass -nokeys -out /dev/null 2>/dev/null || fail "p12 from env"

# a replaced certificate, by serial
expect_rc 0 ks renew --ca-url "http://$CA_HTTP/pkix/" --community e-1
expect_rc 0 "$PKIROLL" --db s.db export e-1 --serial "$sign" -o old.pem
openssl x509 -in old.pem -noout -serial | grep -q "$sign" || fail "--serial: not the replaced certificate"
expect_rc 0 "$PKIROLL" --db s.db export e-1 -o new.pem
openssl x509 -in new.pem -noout -serial | grep -q "$sign" && fail "the current export is the replaced certificate"

# the refusals
expect_rc 2 "$PKIROLL" --db s.db export e-1 -o new.pem
has "$T_DIR/err" "exists (--force replaces it)"
expect_rc 0 "$PKIROLL" --db s.db export e-1 -o new.pem --force
expect_rc 2 "$PKIROLL" --db s.db export nobody
has "$T_DIR/err" 'no community "nobody"'
expect_rc 1 "$PKIROLL" --db s.db export e-1 --serial 00DEAD
has "$T_DIR/err" "no certificate with serial 00DEAD"
expect_rc 2 "$PKIROLL" --db s.db export e-1 --format der --usage both
has "$T_DIR/err" "der and pem hold one certificate"
expect_rc 2 ks export e-1 --format p12
has "$T_DIR/err" "a new passphrase for the p12"
# a terminal: script(1) gives the command one
if command -v script >/dev/null; then
	PKIROLL_EXPORT_PASS=x PKIROLL_KEYSTORE_PASS=$(cat pass) script -qec \
		"$PKIROLL --db s.db export e-1 --format p12 --keystore-dir ks" /dev/null >tty.out 2>&1
	grep -q "not written to a terminal" tty.out || { cat tty.out; fail "a p12 went to a terminal"; }
	grep -q "BEGIN\|0\x82" tty.out && fail "key material on the terminal"
fi
exit 0
