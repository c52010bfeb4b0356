# Certificate exchange messaging: pkiroll cem writes one request per partner
# and community (xmllint and an XPath check per required element, Python's
# email package reads the entity, openssl reads each certificate part, a
# signed request verifies against the old certificate); a rerun writes
# nothing; bundle --cem; cem-response records accepted, rejected, pending
# and a mix, and refuses XXE, an entity bomb, a 50 MB file, a wrong
# namespace and an unknown requestId without changing the store; status
# shows who has accepted, and a fully rolled-over community; --reissue
# writes a new (signed) request for certificates asked about already.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
command -v xmllint >/dev/null || fail "xmllint (libxml2-utils) is missing"
passfile
umask 077
printf 'code-a' >ca1
printf 'code-b' >cb1
cat >m.csv <<CSV
community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,as2_id,cem_response_url
acme,6101,file:$T_DIR/ca1,Globex=GLOBEX-AS2;Initech,CN=Acme,p256,p256,ACME-AS2,https://acme.example/cem
beta,6102,file:$T_DIR/cb1,Globex=GLOBEX-AS2,CN=Beta,p256,p256,,
CSV
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
URL="http://$CA_HTTP/pkix/"
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }
expect_rc 0 ks enroll m.csv --ca-url "$URL"
old_sign=$(openssl x509 -in ks/acme/signing.pem -noout -serial | cut -d= -f2)
cp ks/acme/signing.pem old-acme.pem
expect_rc 0 ks renew --ca-url "$URL" --community acme
[ "$(sqlite3 s.db "SELECT as2_id FROM partners WHERE name = 'Globex'")" = GLOBEX-AS2 ] || fail "partner AS2 id"

# Phase: the requests, signed where there is a previous key.
expect_rc 0 ks cem --out req --sign --response-url https://gw.example/cem
has "$T_DIR/out" "3 requests written"
has "$T_DIR/err" "beta: first enrollment, no previous signing key: the request to Globex goes unsigned"
[ "$(ls req/Globex/*.mime req/Initech/*.mime | wc -l)" = 3 ] || fail "not 3 requests"
for f in req/*/*.xml; do
	xmllint --noout "$f" || fail "$f does not parse"
	for e in /x:EDIINTCertificateExchangeRequest/@requestId \
		/x:EDIINTCertificateExchangeRequest/x:TradingPartnerInfo/x:Name \
		/x:EDIINTCertificateExchangeRequest/x:TradingPartnerInfo/x:MessageOriginated; do
		python3 - "$f" "$e" <<'PY' || fail "$f lacks $e"
import sys
from xml.etree import ElementTree as ET
ns = {"x": "urn:ietf:params:xml:ns:ediintcertificateexchange", "ds": "http://www.w3.org/2000/09/xmldsig#"}
root = ET.parse(sys.argv[1]).getroot()
path = sys.argv[2].replace("/x:EDIINTCertificateExchangeRequest", ".", 1)
if path.endswith("/@requestId"):
    assert root.get("requestId"), "requestId"
else:
    assert root.find(path, ns) is not None, path
assert root.tag == "{urn:ietf:params:xml:ns:ediintcertificateexchange}EDIINTCertificateExchangeRequest"
PY
	done
done
# the signed request: usages, parts, certificates, signature
f=$(ls req/Globex/acme-*.mime)
rid=$(basename "$f" .mime | sed 's/^acme-//')
# put in place in one batch: no temporary left, each request in history
# once (from its row: no event per request), also when an earlier version
# recorded an event of the same text
[ -z "$(find req -name '.*')" ] || fail "temporaries left: $(find req -name '.*')"
[ "$(sqlite3 s.db "SELECT count(*) FROM events WHERE reason LIKE 'CEM request%'")" = 0 ] \
	|| fail "an event per CEM request"
sqlite3 s.db "INSERT INTO events (at, community_id, reason) SELECT 1, c.id,
	'CEM request ' || r.request_id || ' to partner Initech written'
	FROM cem_requests r JOIN communities c ON c.id = r.community_id
	JOIN partners p ON p.id = r.partner_id WHERE c.name = 'acme' AND p.name = 'Initech'"
expect_rc 0 "$PKIROLL" --db s.db status acme
[ "$(grep -c "CEM request $rid to partner Globex written (signed)" "$T_DIR/out")" = 1 ] \
	|| { cat "$T_DIR/out"; fail "history lacks the signed request to Globex"; }
[ "$(grep -c 'CEM request pkiroll-[0-9a-f]* to partner Initech written' "$T_DIR/out")" = 1 ] \
	|| { cat "$T_DIR/out"; fail "history shows the request to Initech other than once"; }
expect_rc 0 "$PKIROLL" --db s.db status acme --json
jq -e --arg r "$rid" '[.events[] | select(.reason | startswith("CEM request " + $r))] | length == 1' \
	"$T_DIR/out" >/dev/null || fail "history --json lacks the request"
grep -q "ds:X509SerialNumber" "req/Globex/acme-$rid.xml" || fail "no serial in the XML"
openssl smime -verify -in "$f" -CAfile ca/root.pem -signer signer.pem -out inner.mime >/dev/null 2>&1 \
	|| fail "the signed request does not verify"
[ "$(openssl x509 -in signer.pem -noout -serial | cut -d= -f2)" = "$old_sign" ] || fail "not signed with the old key"
python3 - inner.mime "req/Globex/acme-$rid.xml" s.db acme <<'PY' || fail "the MIME entity"
import email, sqlite3, subprocess, sys
from xml.etree import ElementTree as ET
msg = email.message_from_bytes(open(sys.argv[1], "rb").read())
assert msg.get_content_type() == "multipart/related", msg.get_content_type()
assert msg.get_param("type") == "application/ediint-cert-exchange+xml"
parts = msg.get_payload()
assert parts[0].get_content_type() == "application/ediint-cert-exchange+xml"
ns = {"x": "urn:ietf:params:xml:ns:ediintcertificateexchange", "ds": "http://www.w3.org/2000/09/xmldsig#"}
root = ET.fromstring(parts[0].get_payload(decode=True))
ids = {p.get("Content-ID", "").strip("<>"): p for p in parts[1:]}
db = sqlite3.connect(sys.argv[3])
current = {u: s for u, s in db.execute(
    "SELECT x.usage, x.serial FROM certificates x JOIN communities c ON c.id = x.community_id"
    " WHERE c.name = ? AND x.superseded_by IS NULL", (sys.argv[4],))}
want = {"digitalSignature": "signing", "keyEncipherment": "encryption"}
seen = set()
for tr in root.findall("x:TrustRequest", ns):
    usage = tr.find("x:CertUsage", ns).text
    cid = tr.find("x:EndEntity/x:CertificateContentID", ns).text
    serial = int(tr.find("x:EndEntity/x:CertificateIdentifier/ds:X509SerialNumber", ns).text)
    for e in ("x:RespondByDate", "x:ResponseURL", "x:EndEntity/x:CertificateIdentifier/ds:X509IssuerName"):
        assert tr.find(e, ns) is not None, e
    assert tr.find("x:ResponseURL", ns).text == "https://acme.example/cem"
    part = ids[cid]
    assert part.get_content_type() == "application/pkcs7-mime" and part.get_param("smime-type") == "certs-only"
    out = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs"], input=part.get_payload(decode=True),
                         capture_output=True, check=True).stdout
    got = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=out, capture_output=True, check=True).stdout
    hexs = got.decode().strip().split("=")[1]
    assert int(hexs, 16) == serial, (hexs, serial)
    assert hexs == current[want[usage]], (usage, hexs, current)
    seen.add(want[usage])
assert seen == {"signing", "encryption"}, seen
assert root.find("x:TradingPartnerInfo/x:Name", ns).text == "ACME-AS2"
PY
# a rerun writes nothing
expect_rc 0 ks cem --out req --sign --response-url https://gw.example/cem
has "$T_DIR/out" "0 requests written"
# bundle --cem carries them
expect_rc 0 "$PKIROLL" --db s.db bundle --out b --cem --partner Globex
unzip -l b/Globex.zip | grep -q "cem/acme-$rid.mime" || fail "bundle --cem lacks the request"
# the requests are recorded by absolute path (--out was relative): bundle
# --cem finds them from another directory, as cron runs it
[ "$(sqlite3 s.db "SELECT count(*) FROM cem_dirs WHERE path NOT LIKE '/%'")" = 0 ] \
	|| fail "a CEM request directory recorded by a relative path"
# each request by its file name in a directory recorded once (schema 17)
[ "$(sqlite3 s.db "SELECT count(*) FROM cem_requests WHERE dir_id IS NULL OR path LIKE '%/%'")" = 0 ] \
	|| fail "a CEM request recorded with its directory"
[ "$(sqlite3 s.db "SELECT count(*) FROM cem_dirs")" = 2 ] || fail "not one directory per partner"
mkdir -p elsewhere
(cd elsewhere && "$PKIROLL" --db ../s.db bundle --out ../b2 --cem --partner Globex) \
	>/dev/null 2>b2.err || { cat b2.err; fail "bundle --cem from another directory"; }
unzip -l b2/Globex.zip | grep -q "cem/acme-$rid.mime" || fail "bundle --cem from elsewhere lacks the request"
# a request file replaced by a FIFO is refused with its path, not waited on
# (timeout: reading a FIFO blocks until a writer comes)
req=$(sqlite3 s.db "SELECT d.path || '/' || r.path FROM cem_requests r JOIN cem_dirs d
	ON d.id = r.dir_id WHERE r.path = 'acme-$rid.mime' LIMIT 1")
mv "$req" "$req.keep" && mkfifo "$req"
rc=0; timeout 30 "$PKIROLL" --db s.db bundle --out b3 --cem --partner Globex >/dev/null 2>b3.err || rc=$?
rm -f "$req" && mv "$req.keep" "$req"
[ "$rc" -ne 124 ] || fail "bundle --cem waited on a FIFO"
[ "$rc" -ne 0 ] || fail "bundle --cem took a FIFO for a request"
grep -q "CEM request $req: is not a regular file" b3.err || { cat b3.err; fail "FIFO refusal unclear"; }
# only what cem wrote goes to the partner: a keystore linked in a request's
# place, by a symbolic or a hard link, is refused and no zip is written
for how in -s ""; do
	mv "$req" "$req.keep" && ln $how "$T_DIR/ks/acme/keystore.p12" "$req"
	rm -rf b4
	rc=0; "$PKIROLL" --db s.db bundle --out b4 --cem --partner Globex >/dev/null 2>b4.err || rc=$?
	rm -f "$req" && mv "$req.keep" "$req"
	[ "$rc" -ne 0 ] && [ ! -e b4/Globex.zip ] || fail "bundle --cem sent a keystore linked (ln $how) as a request"
	if [ -n "$how" ]; then want="CEM request $req: is a symbolic link"
	else want="CEM request $req: not a MIME entity"; fi
	grep -q "$want" b4.err || { cat b4.err; fail "link (ln $how) refusal unclear"; }
done

# Phase: where a relative --out lands, on a copy of the store.
sqlite3 s.db ".backup s5.db"
cem5() { "$PKIROLL" --db "$T_DIR/s5.db" cem --partner Globex --reissue --response-url https://gw.example/cem "$@"; }
# the directory as it physically is: neither a symlink later re-pointed nor
# a `..` through a directory later removed takes the requests away
mkdir -p real other sub && ln -sfn real link
(cd sub && cem5 --out ../r8) >/dev/null 2>r8.err || { cat r8.err; fail "cem --out ../r8"; }
[ "$(sqlite3 s5.db "SELECT count(*) FROM cem_dirs WHERE path = '$(pwd -P)/r8/Globex'")" = 1 ] \
	|| { sqlite3 s5.db "SELECT path FROM cem_dirs"; fail "the directory not recorded as $(pwd -P)/r8/Globex"; }
(cd link && cem5 --out ./r5) >/dev/null 2>r5.err || { cat r5.err; fail "cem --out ./r5 from a symlink"; }
phys=$(cd real && pwd -P)
[ "$(sqlite3 s5.db "SELECT count(*) FROM cem_dirs WHERE path = '$phys/r5/Globex'")" = 1 ] \
	|| { sqlite3 s5.db "SELECT path FROM cem_dirs"; fail "the directory not recorded as $phys/r5/Globex"; }
ln -sfn other link && rmdir sub
expect_rc 0 "$PKIROLL" --db s5.db bundle --out b5 --cem --partner Globex
[ "$(unzip -l b5/Globex.zip | grep -c 'cem/acme-pkiroll-[0-9a-f]*\.mime')" = 1 ] \
	|| fail "bundle --cem lost the request after the symlink moved and the directory went"
# a store that refuses the record: the files taken back, exit 3
sqlite3 s5.db "CREATE TRIGGER boom BEFORE INSERT ON cem_requests BEGIN SELECT RAISE(ABORT, 'boom'); END"
expect_rc 3 cem5 --out r9
[ -z "$(find r9 -type f)" ] || fail "files left after the store refused them: $(find r9 -type f)"
sqlite3 s5.db "DROP TRIGGER boom"
# an empty --out, a working directory that is gone, a path too long for the
# requests' names: refused, nothing written, not exit 0
expect_rc 2 cem5 --out ""
has "$T_DIR/err" "output directory (--out or cem_dir) is empty"
mkdir gone
rc=0; (cd gone && rmdir ../gone && cem5 --out r6) >/dev/null 2>r6.err || rc=$?
[ "$rc" -ne 0 ] || { cat r6.err; fail "cem from a deleted working directory exited 0"; }
grep -q "the working directory" r6.err || { cat r6.err; fail "deleted working directory unclear"; }
long=$(python3 -c 'print("/".join(["d" * 200] * 9))')
mkdir -p "$long"
rc=0; (cd "$long" && cem5 --out r7) >/dev/null 2>r7.err || rc=$?
[ "$rc" = 2 ] && grep -q "path is too long" r7.err || { cat r7.err; fail "a too long --out path: rc $rc"; }
[ ! -e "$long/r7" ] || fail "a too long --out path wrote $(find "$long/r7" | head -3)"

# Phase: responses.
serials() { python3 - "$1" <<'PY'
import sys
from xml.etree import ElementTree as ET
ns = {"x": "urn:ietf:params:xml:ns:ediintcertificateexchange", "ds": "http://www.w3.org/2000/09/xmldsig#"}
r = ET.parse(sys.argv[1]).getroot()
for tr in r.findall("x:TrustRequest", ns):
    print(tr.find("x:EndEntity/x:CertificateIdentifier/ds:X509IssuerName", ns).text + "|" +
          tr.find("x:EndEntity/x:CertificateIdentifier/ds:X509SerialNumber", ns).text)
PY
}
response() { # REQUESTID STATUS... (one per certificate of the request, in order)
	local rid=$1 xml=$2 i=0
	shift 2
	echo "<?xml version=\"1.0\"?><EDIINTCertificateExchangeResponse xmlns=\"urn:ietf:params:xml:ns:ediintcertificateexchange\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" requestId=\"$rid\"><TradingPartnerInfo><Name qualifier=\"AS2\">${AS2:-GLOBEX-AS2}</Name><MessageOriginated>${WHEN:-2026-11-30T10:00:00Z}</MessageOriginated></TradingPartnerInfo>"
	while IFS='|' read -r iss ser; do
		i=$((i + 1))
		st=$(eval echo "\${$i}")
		echo "<TrustResponse><CertStatus>$st</CertStatus>"
		[ "$st" = Rejected ] && echo "<ReasonForRejection>key too short &amp; old</ReasonForRejection>"
		echo "<CertificateReference><ds:X509IssuerName>$iss</ds:X509IssuerName><ds:X509SerialNumber>$ser</ds:X509SerialNumber></CertificateReference></TrustResponse>"
	done < <(serials "$xml")
	echo "</EDIINTCertificateExchangeResponse>"
}
snap() { sqlite3 s.db "SELECT request, certificate_id, status, coalesce(reason, '') FROM cem_items ORDER BY 1, 2"; }
# hostile and wrong ones change nothing
snap >before
gx="req/Globex/acme-$rid.xml"
cat >xxe.xml <<'X'
<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<EDIINTCertificateExchangeResponse xmlns="urn:ietf:params:xml:ns:ediintcertificateexchange" requestId="&x;"/>
X
cat >bomb.xml <<'X'
<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<EDIINTCertificateExchangeResponse xmlns="urn:ietf:params:xml:ns:ediintcertificateexchange" requestId="&lol9;"/>
X
head -c 52428800 /dev/zero | tr '\0' ' ' >big.xml
response "$rid" "$gx" Accepted Accepted | sed 's/ediintcertificateexchange/ediintcertificateexchangeX/' >wrongns.xml
response "pkiroll-0000000000000000" "$gx" Accepted Accepted >unknown.xml
response "$rid" "$gx" Accepted Accepted | sed 's/<ds:X509SerialNumber>[0-9]*</<ds:X509SerialNumber>4711</' >notsent.xml
printf '<EDIINTCertificateExchangeResponse' >broken.xml
for bad in xxe bomb big wrongns unknown notsent broken; do
	expect_rc 1 "$PKIROLL" --db s.db cem-response $bad.xml
	has "$T_DIR/err" "$bad.xml: "
	has "$T_DIR/err" "nothing recorded"
	snap | cmp -s before - || fail "$bad.xml changed the store"
done
grep -q "DTD" <("$PKIROLL" --db s.db cem-response xxe.xml 2>&1) || fail "XXE: the error does not say DTD"
grep -q "not a request pkiroll wrote" <("$PKIROLL" --db s.db cem-response unknown.xml 2>&1) || fail "unknown requestId"
grep -q "TrustResponse\[1\]" <("$PKIROLL" --db s.db cem-response notsent.xml 2>&1) || fail "a certificate not sent"
# a mix in one file: Globex rejects acme's signing certificate, keeps the other pending
response "$rid" "$gx" Rejected Pending >mix.xml
expect_rc 0 "$PKIROLL" --db s.db cem-response mix.xml
expect_rc 0 "$PKIROLL" --db s.db status acme --json
jq -e '.cem.Globex.state == "rejected" and .cem.Globex.reason == "key too short & old"
	and .cem.Initech.state == "unanswered"' "$T_DIR/out" >/dev/null || { jq .cem "$T_DIR/out"; fail "status after the mix"; }
# as the MIME entity a gateway saves, base64: Globex accepts both
WHEN=2026-11-30T11:00:00Z response "$rid" "$gx" Accepted Accepted >acc.xml
{
	printf 'Content-Type: multipart/related; type="application/ediint-cert-exchange+xml"; boundary="b1"\r\n\r\n'
	printf -- '--b1\r\nContent-Type: application/ediint-cert-exchange+xml\r\nContent-Transfer-Encoding: base64\r\n\r\n'
	base64 acc.xml | sed 's/$/\r/'
	printf -- '--b1--\r\n'
} >acc.mime
expect_rc 0 "$PKIROLL" --db s.db cem-response acc.mime
ix=$(ls req/Initech/acme-*.xml)
irid=$(basename "$ix" .xml | sed 's/^acme-//')
AS2=Initech response "$irid" "$ix" Accepted Accepted >iacc.xml
expect_rc 0 "$PKIROLL" --db s.db cem-response iacc.xml
expect_rc 0 "$PKIROLL" --db s.db status --all
grep "^  acme " "$T_DIR/out" | grep -q "CEM: all 2 partners accepted (rolled over)" || { cat "$T_DIR/out"; fail "acme not rolled over"; }

# Phase: after another renewal the requests cover exactly the renewed certificates.
printf '[pkiroll]\ncem_response_url = https://gw.example/cem\n' >c.conf
expect_rc 0 ks --config c.conf renew --ca-url "$URL" --community beta --cem
ls cem/Globex/beta-*.mime >/dev/null 2>&1 || fail "renew --cem wrote no request for beta"
[ "$(ls cem/*/*.mime | wc -l)" = 1 ] || fail "renew --cem wrote requests for more than beta"
bx=$(ls cem/Globex/beta-*.xml)
cur=$(sqlite3 s.db "SELECT x.serial FROM certificates x JOIN communities c ON c.id = x.community_id
	WHERE c.name = 'beta' AND x.superseded_by IS NULL" | while read -r h; do python3 -c "print(int('$h', 16))"; done | sort | paste -sd,)
got=$(serials "$bx" | cut -d'|' -f2 | sort | paste -sd,)
[ "$got" = "$cur" ] || fail "the request covers $got, the current certificates are $cur"

# Phase: --reissue: a new request for certificates asked about already; here
# a signed one after the unsigned one renew --cem wrote (beta now has a
# previous key). Without it nothing is written; status follows the latest
# request, and an answer to the earlier one is still taken.
expect_rc 0 ks --config c.conf cem --out req2 --sign --community beta
has "$T_DIR/out" "0 requests written"
expect_rc 0 ks --config c.conf cem --out req2 --sign --community beta --reissue
has "$T_DIR/out" "1 request written in req2 (1 signed"
bx2=$(ls req2/Globex/beta-*.mime)
[ "$(ls req2/*/*.mime | wc -l)" = 1 ] || fail "--reissue --community beta wrote more than beta's request"
[ "$(basename "$bx2")" != "$(basename "$bx" .xml).mime" ] || fail "the reissued request has the old requestId"
grep -q "multipart/signed" "$bx2" || fail "the reissued request is not signed"
[ "$(sqlite3 s.db "SELECT count(*) FROM cem_requests r JOIN communities c ON c.id = r.community_id
	JOIN partners p ON p.id = r.partner_id WHERE c.name = 'beta' AND p.name = 'Globex'
	AND r.id > (SELECT min(id) FROM cem_requests)")" -ge 2 ] || fail "the reissued request is not on record"
brid=$(basename "$bx" .xml | sed 's/^beta-//')
WHEN=2026-12-01T10:00:00Z response "$brid" "$bx" Rejected Rejected >brej.xml
expect_rc 0 "$PKIROLL" --db s.db cem-response brej.xml
expect_rc 0 "$PKIROLL" --db s.db status beta --json
jq -e '.cem.Globex.state == "unanswered"' "$T_DIR/out" >/dev/null \
	|| { jq .cem "$T_DIR/out"; fail "status does not follow the reissued request"; }
exit 0
