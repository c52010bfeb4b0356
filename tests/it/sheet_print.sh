# The fingerprint sheet of a real bundle, printed: headless Chromium makes
# a PDF of fingerprints.html on the default paper, on A4 and on Letter;
# pdftotext reads it back. Every fingerprint openssl computes (MD5, SHA-1,
# SHA-256 of each certificate and CA certificate) is on the page, and no
# line breaks inside a byte; page 1 starts with the title; the sheet
# carries its date (ISO 8601, UTC), the sender and the lines to sign.
# Skips (77) without chromium or pdftotext.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
	{ echo "SKIP: no chromium"; exit 77; }
command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null ||
	{ echo "SKIP: no pdftotext/pdfinfo (poppler-utils)"; exit 77; }

# Phase: a real bundle for one partner with three communities.
passfile
mkdir -p codes
for c in a b c; do printf "AUTH-SHEET-%s-%s" "$c" "$RANDOM" >"codes/$c"; chmod 600 "codes/$c"; done
cat >m.csv <<CSV
community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,dual,as2_id
alpha,710001,file:$T_DIR/codes/a,Globex,"CN=Alpha EDI,O=Example Trading,C=US",rsa2048,rsa2048,yes,ALPHA-AS2
beta,710002,file:$T_DIR/codes/b,Globex,"CN=Beta,O=Example Trading,C=US",p256,p256,yes,
gamma,710003,file:$T_DIR/codes/c,Globex,"CN=Gamma,O=Other Org,C=GB",p384,p384,yes,GAMMA-AS2
CSV
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
expect_rc 0 "$PKIROLL" --db s.db enroll m.csv -j 2 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
expect_rc 0 "$PKIROLL" --db s.db bundle --out zips
mkdir g && (cd g && unzip -q ../zips/Globex.zip) || fail "unzip"

# Phase: what the HTML says and how it may break.
html=g/fingerprints.html
has $html "@page"
grep -q "@page {[^}]*size: auto" $html || fail "@page does not leave the size to the printer"
grep -Eq "break-all|overflow-wrap: *anywhere|word-break: *break-word" $html &&
	fail "a style lets the browser break inside a fingerprint byte"
grep -Eq "page-break-before|break-before" $html && fail "a forced page break"
grep -Eq "<tr><th>Date</th><td>20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z" \
	$html || fail "no ISO 8601 date"
has $html "<tr><th>From</th><td>Example Trading, Other Org"
has $html "<tr><th>AS2 id</th><td>ALPHA-AS2</td></tr>"
has $html "Checked by ____"
has g/fingerprints.txt "Checked by ____"
grep -Eq "^  Date +20[0-9-]+T[0-9:]+Z" g/fingerprints.txt || fail "text sheet: no ISO 8601 date"

# every fingerprint openssl sees, one per line: signing, encryption, CA
: >fps
for f in g/*/signing.cer g/*/encryption.cer; do
	for h in md5 sha1 sha256; do
		openssl x509 -inform DER -in "$f" -noout -fingerprint -$h | sed 's/.*=//' >>fps
	done
done
awk '/BEGIN CERT/ { n++; f = "ca" n ".pem" } f { print >f } /END CERT/ { f = "" }' g/ca/chain.pem
for f in ca*.pem; do
	for h in md5 sha1 sha256; do
		openssl x509 -in "$f" -noout -fingerprint -$h | sed 's/.*=//' >>fps
	done
done
[ "$(wc -l <fps)" -ge 21 ] || fail "only $(wc -l <fps) fingerprints"

# print NAME [PAGE-SIZE]: NAME.pdf of the sheet, the size forced by a
# print style added to a copy (the sheet's own margins stay)
print() {
	local src=$html
	if [ -n "${2:-}" ]; then
		sed "s|</style>|@page { size: $2; }\n</style>|" $html >"$1.html"
		src=$1.html
	fi
	timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$T_DIR/chrome-$1" --no-pdf-header-footer \
		--print-to-pdf="$T_DIR/$1.pdf" "file://$T_DIR/$src" >"$1.log" 2>&1
	[ -s "$1.pdf" ] || { cat "$1.log"; fail "chromium made no $1.pdf"; }
	pdftotext -layout "$1.pdf" "$1.txt" || fail "pdftotext $1.pdf"
	pdftotext -layout -f 1 -l 1 "$1.pdf" "$1.p1.txt" || fail "pdftotext page 1"
	pdfinfo "$1.pdf" >"$1.info" || fail "pdfinfo $1.pdf"
}

# check NAME: no fingerprint byte split across lines; every fingerprint
# there once its line fragments are joined; page 1 holds the title
check() {
	python3 - "$1.txt" fps <<'PY' || fail "$1.pdf: fingerprints"
import re, sys
text = open(sys.argv[1]).read().splitlines()
want = [l.strip() for l in open(sys.argv[2]) if l.strip()]
byte = re.compile(r'^([0-9A-F]{2}:)*[0-9A-F]{2}:?$')
frags = []
for n, line in enumerate(text, 1):
    for tok in line.split():
        if ':' in tok and re.fullmatch(r'[0-9A-F:]+', tok):
            if not byte.match(tok):
                sys.exit("line %d: a fingerprint broken inside a byte: %r" % (n, line))
            frags.append(tok)
joined = set()
for i in range(len(frags)):
    s = ''
    for j in range(i, min(i + 8, len(frags))):
        s += frags[j]
        joined.add(s)
        if not s.endswith(':'):
            break
missing = [w for w in want if w not in joined]
if missing:
    sys.exit("not on the printed sheet: %s" % missing)
PY
	grep -q "Certificate fingerprints for Globex" "$1.p1.txt" || fail "$1.pdf: page 1 lacks the title"
	grep -q "alpha" "$1.p1.txt" || fail "$1.pdf: page 1 lacks the first community"
	has "$1.txt" "Checked by"
}

print default
grep -Eq "^Page size: .*\((A4|letter)\)" default.info ||
	fail "default paper: $(grep 'Page size' default.info)"
check default
print a4 A4
grep -Eq "^Page size: .*\(A4\)" a4.info || fail "A4: $(grep 'Page size' a4.info)"
check a4
print letter letter
grep -Eq "^Page size: .*\(letter\)" letter.info || fail "letter: $(grep 'Page size' letter.info)"
check letter
echo "pages: default $(grep Pages default.info | tr -s ' ' | cut -d' ' -f2)," \
	"A4 $(grep Pages a4.info | tr -s ' ' | cut -d' ' -f2)," \
	"letter $(grep Pages letter.info | tr -s ' ' | cut -d' ' -f2)"
exit 0
