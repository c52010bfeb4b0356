# pkiroll bundle: one zip per partner with exactly the public material it
# should hold; the files match the keystores and the sheets match openssl's
# fingerprints; SHA256SUMS checks; byte-identical on a second run in another
# time zone, and from the library alone in any time zone; no private key,
# code or passphrase inside; communities without a certificate are left out
# and reported; the store records each bundle.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
mkdir -p codes
for c in a b c d; do printf "AUTH-BUNDLE-%s-%s" "$c" "$RANDOM" >"codes/$c"; chmod 600 "codes/$c"; done
cat >m.csv <<CSV
community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,dual
alpha,700001,file:$T_DIR/codes/a,Globex;Müller & <Söhne>,"CN=Alpha,O=Example,C=US",p256,p256,yes
beta,700002,file:$T_DIR/codes/b,Globex,"CN=Beta,O=Example,C=US",p256,p256,no
gamma,700003,file:$T_DIR/codes/c,Globex,"CN=Gamma,O=Example,C=US",p256,p256,yes
delta,700004,file:$T_DIR/codes/d,Lonely,"CN=Delta,O=Example,C=US",p256,p256,yes
CSV
# the CA knows alpha and beta only: gamma and delta end without certificates
head -3 m.csv >ca-users.csv
"$PKIROLL_CA" init --state ca --intermediate --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca ca-users.csv >/dev/null || fail "users"
start_ca ca
expect_rc 1 "$PKIROLL" --db s.db enroll m.csv -j 2 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has out "2 enrolled"

# Phase: the bundles and what they say.
expect_rc 1 "$PKIROLL" --db s.db bundle --out out1
has err "partner Lonely: no community has a current certificate"
has err "partner Globex: 1 community without a certificate left out"
has out "3 partners: 2 zips written"
[ ! -e out1/Lonely.zip ] || fail "a zip for a partner without certificates"
[ "$(ls out1/*.zip | wc -l)" = 2 ] || fail "want 2 zips, have: $(ls out1)"
muller=$(ls out1 | grep -v '^Globex.zip$')
case "$muller" in M*.zip) ;; *) fail "partner file name: $muller" ;; esac
for z in out1/*.zip; do
	unzip -tq "$z" >/dev/null || fail "unzip -t $z"
done
# the entries' spill files and the zips' temporaries are gone
[ -z "$(find out1 -name '.*')" ] || fail "left in out1: $(find out1 -name '.*')"
unzip -Z1 out1/Globex.zip >entries
printf '%s\n' alpha/signing.cer alpha/signing.pem alpha/encryption.cer alpha/encryption.pem \
	beta/signing.cer beta/signing.pem ca/chain.p7b ca/chain.pem fingerprints.txt \
	fingerprints.html fingerprints.csv README.txt SHA256SUMS >want
diff want entries >/dev/null || { diff want entries; fail "Globex.zip entries"; }

mkdir g && (cd g && unzip -q ../out1/Globex.zip) || fail "unzip"
# the HTML sheet's fingerprints carry a line-break hint after each colon
sed 's/<wbr>//g' g/fingerprints.html >sheet-html.txt
(cd g && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS does not check"
for f in alpha/signing alpha/encryption beta/signing; do
	cmp -s "g/$f.cer" "ks/${f%%/*}/${f#*/}.cer" || fail "$f.cer differs from the keystore copy"
	openssl x509 -in "g/$f.pem" -outform DER -out pem.der 2>/dev/null || fail "$f.pem"
	cmp -s pem.der "g/$f.cer" || fail "$f.pem and $f.cer differ"
	for h in md5 sha1 sha256; do
		fp=$(openssl x509 -inform DER -in "g/$f.cer" -noout -fingerprint -$h | sed 's/.*=//')
		has g/fingerprints.txt "$fp"
		has sheet-html.txt "$fp"
	done
done
openssl pkcs7 -inform DER -in g/ca/chain.p7b -print_certs -out p7.pem 2>/dev/null || fail "chain.p7b"
[ "$(grep -c 'BEGIN CERTIFICATE' p7.pem)" = "$(grep -c 'BEGIN CERTIFICATE' g/ca/chain.pem)" ] ||
	fail "chain.p7b and chain.pem hold different numbers of certificates"
openssl verify -CAfile g/ca/chain.pem g/alpha/signing.pem g/beta/signing.pem >/dev/null 2>&1 ||
	fail "the certificates do not verify against the bundled chain"
for h in sha256; do
	while read -r cer; do
		fp=$(openssl x509 -in "$cer" -noout -fingerprint -$h | sed 's/.*=//')
		has g/fingerprints.txt "$fp"
	done < <(awk '/BEGIN CERT/ { n++; f = "ca" n ".pem"; print f } f { print >f } /END CERT/ { f = "" }' g/ca/chain.pem | grep '^ca')
done
grep -q gamma g/fingerprints.txt && fail "gamma (no certificate) in the sheet"
# the CSV sheet's dates are ISO 8601 in UTC
python3 - g/fingerprints.csv <<'PY' || fail "fingerprints.csv dates"
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
assert rows, "no rows"
for r in rows:
    for k in ("not_before", "not_after"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[k]), (k, r[k])
PY
has g/fingerprints.txt "Not in this bundle (no certificate yet): 1 community"

# the HTML sheet escapes what came from the manifest
mkdir m && (cd m && unzip -q "../out1/$muller") || fail "unzip $muller"
has m/fingerprints.html "Müller &amp; &lt;Söhne&gt;"
grep -qF "<Söhne>" m/fingerprints.html && fail "partner name not escaped in HTML"
has m/fingerprints.txt "Certificate fingerprints for Müller & <Söhne>"

# Phase: only public material.
for z in out1/*.zip; do
	unzip -p "$z" >all.bin
	grep -q "PRIVATE KEY" all.bin && fail "$z holds a private key"
	grep -qF "$(cat pass)" all.bin && fail "$z holds the keystore passphrase"
	for c in codes/*; do grep -qF "$(cat "$c")" all.bin && fail "$z holds an authorization code"; done
	grep -q "keystore.p12" all.bin && fail "$z names a keystore"
done

# Phase: same store, same bytes (another time zone, another second).
sleep 2 # zip dates have a 2-second resolution
expect_rc 1 env TZ=Asia/Tokyo "$PKIROLL" --db s.db bundle --out out2
for z in out1/*.zip; do
	cmp -s "$z" "out2/${z#out1/}" || fail "$z is not reproducible"
done

# Phase: the store records each bundle and the certificates in it.
n=$(sqlite3 s.db "SELECT count(*) FROM bundles")
[ "$n" = 4 ] || fail "bundles recorded: $n, want 4 (2 runs x 2 zips)"
n=$(sqlite3 s.db "SELECT count(*) FROM bundle_certificates bc JOIN bundles b ON b.id = bc.bundle_id WHERE b.path LIKE 'out1/%'")
[ "$n" = 5 ] || fail "bundle certificates recorded: $n, want 5"
rec=$(sqlite3 s.db "SELECT sha256 FROM bundles WHERE path = 'out1/Globex.zip'")
[ "$rec" = "$(sha256sum out1/Globex.zip | cut -d' ' -f1)" ] || fail "recorded SHA-256 $rec"
n=$(sqlite3 s.db "SELECT count(*) FROM ca_certificates")
[ "$n" -ge 1 ] || fail "no CA certificate recorded"

# Phase: one partner; errors.
expect_rc 0 "$PKIROLL" --db s.db bundle --out out3 --partner "Müller & <Söhne>"
[ "$(ls out3)" = "$muller" ] || fail "--partner wrote: $(ls out3)"
expect_rc 2 "$PKIROLL" --db s.db bundle --out out3 --partner Nobody
has err 'no partner named "Nobody"'
# a bad --out: one line that names the path and the real reason, no summary
onlyline() {
	[ "$(wc -l <"$T_DIR/err")" = 1 ] && [ ! -s "$T_DIR/out" ] ||
		{ cat "$T_DIR/out" "$T_DIR/err"; fail "bundle --out $1: not one error line"; }
	has "$T_DIR/err" "$2"
}
touch afile
expect_rc 2 "$PKIROLL" --db s.db bundle --out nope/x
onlyline nope/x "nope/x: cannot create it: nope does not exist"
expect_rc 2 "$PKIROLL" --db s.db bundle --out afile
onlyline afile "afile: exists and is not a directory"
expect_rc 2 "$PKIROLL" --db s.db bundle --out afile/sub
onlyline afile/sub "afile/sub: cannot create it: afile is not a directory"
# an empty --out (an unset variable in a script) is said, not a silent exit 2
expect_rc 2 "$PKIROLL" --db s.db bundle --out ''
has "$T_DIR/err" "bundle: --out: an empty directory name"
ro=
if [ "$(id -u)" != 0 ]; then
	mkdir rodir && chmod 555 rodir && ro=rodir
elif [ -d /sys/kernel ] && ! touch /sys/kernel/.pkiroll-t 2>/dev/null; then
	ro=/sys/kernel # root writes anywhere but in sysfs
fi
if [ -n "$ro" ]; then
	expect_rc 2 "$PKIROLL" --db s.db bundle --out "$ro"
	onlyline "$ro" "$ro: cannot write in it: "
fi
expect_rc 2 "$PKIROLL" --db s.db bundle --colour
expect_rc 2 "$PKIROLL" --db s.db bundle extra

# Phase: the library alone gives the same bytes in any time zone: `pkiroll
# bundle` sets TZ=UTC itself, bundlew calls pkiroll_bundle_write() in the
# TZ it is given (New Zealand as a POSIX rule: no tzdata needed).
TZ=UTC0 "$TOOLS/bundlew" s.db lib-utc0 >/dev/null 2>&1
TZ=NZST-12NZDT,M9.5.0,M4.1.0/3 "$TOOLS/bundlew" s.db lib-nz >/dev/null 2>&1
for z in out1/*.zip; do
	cmp -s "$z" "lib-utc0/${z#out1/}" || fail "${z#out1/}: the library in TZ=UTC0 differs from pkiroll bundle"
	cmp -s "$z" "lib-nz/${z#out1/}" || fail "${z#out1/}: the library in New Zealand time gives other bytes"
done
exit 0
