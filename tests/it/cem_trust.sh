# CEM answers are taken only from the partner asked, once per certificate,
# and in time order: a response naming another AS2 partner, one with two
# contradicting answers for one certificate, and one older (by its
# MessageOriginated) than the answer recorded are refused by file and
# element and change nothing. A partner's ReasonForRejection is kept raw
# in the store and shown escaped: a newline cannot forge a status line, and
# C1 and bidi controls do not reach the terminal (status, events, logs).
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
printf 'code-a' >ca1
cat >m.csv <<CSV
community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type
acme,6201,file:$T_DIR/ca1,Globex=GLOBEX-AS2;Initech,CN=Acme,p256,p256
CSV
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
expect_rc 0 "$PKIROLL" --db s.db enroll m.csv --ca-url "http://$CA_HTTP/pkix/" --keystore-dir ks \
	--keystore-pass-file pass
expect_rc 0 "$PKIROLL" --db s.db cem --out req --response-url https://gw.example/cem
gx=$(ls req/Globex/acme-*.xml)
grid=$(basename "$gx" .xml | sed 's/^acme-//')
ix=$(ls req/Initech/acme-*.xml)
irid=$(basename "$ix" .xml | sed 's/^acme-//')

# answer RID REQUEST.xml AS2 WHEN STATUS[:REASON]... (one per certificate, in order;
# more than the request has repeat the last certificate)
answer() {
	local rid=$1 xml=$2 as2=$3 when=$4 refs i=0 st reason ref
	shift 4
	mapfile -t refs < <(python3 - "$xml" <<'PY'
import sys
from xml.etree import ElementTree as ET
ns = {"x": "urn:ietf:params:xml:ns:ediintcertificateexchange", "ds": "http://www.w3.org/2000/09/xmldsig#"}
for tr in ET.parse(sys.argv[1]).getroot().findall("x:TrustRequest", ns):
    i = tr.find("x:EndEntity/x:CertificateIdentifier", ns)
    print("<ds:X509IssuerName>%s</ds:X509IssuerName><ds:X509SerialNumber>%s</ds:X509SerialNumber>"
          % (i.find("ds:X509IssuerName", ns).text, i.find("ds:X509SerialNumber", ns).text))
PY
	)
	printf '<?xml version="1.0"?><EDIINTCertificateExchangeResponse xmlns="urn:ietf:params:xml:ns:ediintcertificateexchange" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" requestId="%s"><TradingPartnerInfo><Name qualifier="AS2">%s</Name><MessageOriginated>%s</MessageOriginated></TradingPartnerInfo>' "$rid" "$as2" "$when"
	for a in "$@"; do
		st=${a%%:*}
		reason=
		[ "$st" != "$a" ] && reason="<ReasonForRejection>${a#*:}</ReasonForRejection>"
		ref=${refs[$i]:-${refs[${#refs[@]} - 1]}}
		printf '<TrustResponse><CertStatus>%s</CertStatus>%s<CertificateReference>%s</CertificateReference></TrustResponse>' \
			"$st" "$reason" "$ref"
		i=$((i + 1))
	done
	printf '</EDIINTCertificateExchangeResponse>\n'
}
snap() { sqlite3 s.db "SELECT request, certificate_id, status, coalesce(reason, ''), coalesce(answered_at, '') FROM cem_items ORDER BY 1, 2"; }
refused() { # FILE TEXT...: refused, named, nothing changed
	local f=$1
	shift
	snap >before
	expect_rc 1 "$PKIROLL" --db s.db cem-response "$f"
	has "$T_DIR/err" "$f: "
	has "$T_DIR/err" "nothing recorded"
	for t in "$@"; do has "$T_DIR/err" "$t"; done
	snap | cmp -s before - || fail "$f changed the store"
}

# Phase: Globex cannot answer the request that went to Initech.
answer "$irid" "$ix" GLOBEX-AS2 2026-12-01T10:00:00Z Accepted Accepted >spoof.xml
refused spoof.xml 'TradingPartnerInfo/Name "GLOBEX-AS2"' "went to partner Initech"
answer "$irid" "$ix" Initech 2026-12-01T10:00:00Z Accepted Accepted >iok.xml
expect_rc 0 "$PKIROLL" --db s.db cem-response iok.xml

# Phase: two answers for one certificate in one file: both or neither.
answer "$grid" "$gx" GLOBEX-AS2 2026-12-01T10:00:00Z Accepted Accepted Rejected:no >twice.xml
refused twice.xml "TrustResponse[2] and TrustResponse[3]" "differently"
# the same answer twice is no contradiction
answer "$grid" "$gx" GLOBEX-AS2 2026-12-01T10:00:00Z Accepted Accepted Accepted >same.xml
expect_rc 0 "$PKIROLL" --db s.db cem-response same.xml

# Phase: an older answer replayed after a newer one.
answer "$grid" "$gx" GLOBEX-AS2 2026-12-02T09:00:00Z "Rejected:renegotiate" Accepted >newer.xml
expect_rc 0 "$PKIROLL" --db s.db cem-response newer.xml
refused same.xml "TrustResponse[1]" "is older than the one recorded (Rejected"
answer "$grid" "$gx" GLOBEX-AS2 2026-12-02T09:00:00Z Accepted Accepted >sametime.xml
refused sametime.xml "as old as but differs from"
answer "$grid" "$gx" GLOBEX-AS2 2026-12-02 Accepted Accepted >notime.xml
refused notime.xml "TradingPartnerInfo/MessageOriginated"
# an answer with a zone offset orders by its UTC time: 10:30+02:00 is 08:30Z, older
answer "$grid" "$gx" GLOBEX-AS2 2026-12-02T10:30:00+02:00 Accepted Accepted >offset.xml
refused offset.xml "is older than the one recorded"
[ "$(sqlite3 s.db "SELECT DISTINCT answered_at FROM cem_items i JOIN cem_requests r ON r.id = i.request
	WHERE r.request_id = '$grid'")" = "$(date -ud 2026-12-02T09:00:00Z +%s)" ] \
	|| fail "answered_at is not the response's MessageOriginated"

# Phase: a reason with a newline, C1 and bidi controls: raw in the store, escaped on output.
evil=$(printf 'bad key\n  Globex                   accepted\xc2\x85\xe2\x80\xae\xe2\x81\xa6end')
answer "$grid" "$gx" GLOBEX-AS2 2026-12-03T09:00:00Z "Rejected:$evil" Accepted >evil.xml
expect_rc 0 "$PKIROLL" --db s.db cem-response evil.xml
[ "$(sqlite3 s.db "SELECT reason FROM cem_items WHERE reason LIKE 'bad key%'")" = "$evil" ] \
	|| fail "the store does not keep the raw reason"
for args in "status acme" "status --all" "status"; do
	# shellcheck disable=SC2086
	expect_rc 0 "$PKIROLL" --db s.db $args
	grep -q '^  Globex  *accepted' "$T_DIR/out" && { cat "$T_DIR/out"; fail "$args: a forged line"; }
	LC_ALL=C grep -q $'\xc2\x85\|\xe2\x80\xae\|\xe2\x81\xa6' "$T_DIR/out" && fail "$args: a C1 or bidi control reached the terminal"
done
expect_rc 0 "$PKIROLL" --db s.db status acme
has "$T_DIR/out" 'bad key\n  Globex'
has "$T_DIR/out" '\u0085\u202E\u2066end'
expect_rc 0 "$PKIROLL" --db s.db status acme --json
jq -e --arg r "$evil" '.cem.Globex.reason == $r' "$T_DIR/out" >/dev/null || fail "--json does not carry the reason exactly"
exit 0
