# Monitoring against the real pkiroll-ca: a store with enrolled, expired,
# revoked, failed (codes refused) and renewal-failed (wrong passphrase, CA
# refusal) communities. status (text, --brief, --json) lists the failed
# renewals under attention, marks expired certificates, leaves revoked
# ones out of "expiring", gives every JSON certificate days_left and
# expired; status --check follows the monitoring plugin convention (exit
# 0/1/2/3, one line with perfdata); the metrics file is written after
# every command that opens the store, passes promtool and keeps the last
# runs and the CMP request counter across commands; log lines carry the
# journal's priority prefix only when stderr is the journal.
. "$T_SRC/tests/lib.sh"
command -v jq >/dev/null || { echo "jq is not installed (make deps)"; exit 77; }
trap stop_ca EXIT
cd "$T_DIR" || exit 3
unset JOURNAL_STREAM
passfile
umask 077
printf 'wrong-passphrase' >wrongpass
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
hdr="community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type"
echo "$hdr" >m.csv
ref=7000
for c in e1 e2 e3 r1; do
	ref=$((ref + 1))
	printf 'code-%s' $c >c-$c
	echo "$c,$ref,file:$T_DIR/c-$c,Partner A,CN=$c,p256,p256" >>m.csv
done
# f1 has codes the CA does not know: it refuses them (needs_codes)
printf 'code-f1' >c-f1
echo "f1,7999,file:$T_DIR/c-f1,Partner B,CN=f1,p256,p256" >>m.csv
# a name the metrics must escape (a quote and a backslash)
printf 'code-q' >c-q
printf '"q""u\\o",7998,file:%s/c-q,Partner B,CN=q,p256,p256\n' "$T_DIR" >>m.csv
echo "$hdr" >x.csv
printf 'code-x1' >c-x1
echo "x1,7990,file:$T_DIR/c-x1,Partner A,CN=x1,p256,p256" >>x.csv
grep -v '^f1,' m.csv >ca-users.csv
"$PKIROLL_CA" users import --state ca ca-users.csv >/dev/null || fail "users"
"$PKIROLL_CA" users import --state ca x.csv >/dev/null || fail "users x"
printf '[pkiroll]\nmetrics_file = %s/metrics/pkiroll.prom\n' "$T_DIR" >p.conf
mkdir metrics
P() { "$PKIROLL" --db s.db --config p.conf "$@"; }
ks() { P "$@" --keystore-dir ks --keystore-pass-file pass; }

# Phase: the store. 30-day certificates; x1 for 3 seconds; r1 revoked;
# f1 refused; e2 renewed with the wrong passphrase, e3 refused by the CA.
start_ca ca --validity 2592000
URL="http://$CA_HTTP/pkix/"
expect_rc 1 ks enroll m.csv --ca-url "$URL"
[ -s metrics/pkiroll.prom ] || fail "enroll wrote no metrics file"
expect_rc 0 ks revoke r1 --yes --reason cessationOfOperation --ca-url "$URL"
# e2's keystore under another passphrase than the store's (a keystore put
# back from elsewhere): the run's passphrase is right, e2's renewal fails
openssl pkcs12 -in ks/e2/keystore.p12 -passin file:pass -nodes -out e2.pem 2>/dev/null \
	&& openssl pkcs12 -export -in e2.pem -passout file:wrongpass -out ks/e2/keystore.p12 \
	&& rm e2.pem || fail "re-wrapping e2's keystore"
expect_rc 1 ks renew --community e2 --ca-url "$URL"
stop_ca
start_ca ca --validity 3 --fault reject=badRequest
URL="http://$CA_HTTP/pkix/"
expect_rc 1 ks renew --community e3 --ca-url "$URL"
stop_ca
start_ca ca --validity 3
expect_rc 0 ks enroll x.csv --ca-url "http://$CA_HTTP/pkix/"
stop_ca
sleep 4
sqlite3 s.db "SELECT name || '=' || state FROM communities ORDER BY name" | tr '\n' ' ' >states
for want in e1=enrolled e2=enrolled e3=enrolled f1=needs_codes r1=needs_codes x1=enrolled; do
	grep -q "$want" states || fail "the store is not as the test needs: $(cat states)"
done

# Phase: status in text and --brief: the failed renewals need attention,
# x1 is EXPIRED, r1 (revoked) is not expiring.
for mode in "" --brief; do
	expect_rc 0 P status --days 40 $mode
	sed -n '/^need attention:/,/^$/p' "$T_DIR/out" >att
	grep -q "^  e2  renewal failed" att || { cat "$T_DIR/out"; fail "status $mode: e2 (wrong passphrase) not under attention"; }
	grep -q "^  e3  renewal failed.*badRequest" att || { cat "$T_DIR/out"; fail "status $mode: e3 (CA refusal) not under attention"; }
	grep -q "^  f1  needs_codes" att || fail "status $mode: f1 not under attention"
	sed -n '/^certificates expiring/,/^$/p' "$T_DIR/out" >exp
	grep -q "^  x1  signing .*EXPIRED" exp || { cat exp; fail "status $mode: x1 not marked EXPIRED"; }
	grep -q "^  e1  signing" exp || fail "status $mode: e1 not expiring within 40 days"
	grep -q "EXPIRED" <(grep "^  e1 " exp) && fail "status $mode: e1 marked EXPIRED"
	grep -q "^  r1 " exp && fail "status $mode: the revoked r1 is under expiring"
done
expect_rc 0 P status
grep -q "^  x1 .*EXPIRED" "$T_DIR/out" || fail "the list does not mark x1 EXPIRED"
grep -q "^  r1 .*REVOKED" "$T_DIR/out" || fail "the list does not mark r1 REVOKED"

# Phase: --json.
expect_rc 0 P status --json --days 40
J=$T_DIR/out
jq -e '.total == 7 and (.communities | type) == "array" and (.communities | length) == 7' "$J" >/dev/null \
	|| fail "--json: communities is not the list of 7 (total 7)"
jq -e '[.attention[] | select(.kind == "renewal_failed") | .community] == ["e2", "e3"]' "$J" >/dev/null \
	|| { jq .attention "$J"; fail "--json: e2 and e3 are not renewal_failed under attention"; }
jq -e '[.attention[] | select(.community == "f1")][0].kind == "needs_codes"' "$J" >/dev/null \
	|| fail "--json: f1 not needs_codes under attention"
jq -e '[.communities[] | (.signing, .encryption) | select(. != null)
	| select((.days_left | type) != "number" or (.expired | type) != "boolean")] | length == 0' "$J" >/dev/null \
	|| fail "--json: a certificate without days_left or expired"
jq -e '[.expiring[] | select((.days_left | type) != "number" or (.expired | type) != "boolean")] | length == 0' \
	"$J" >/dev/null || fail "--json: an expiring certificate without days_left or expired"
jq -e '.communities[] | select(.community == "x1") | .signing.expired == true and .signing.days_left < 0' \
	"$J" >/dev/null || fail "--json: x1 is not expired"
jq -e '.communities[] | select(.community == "e1") | .signing.expired == false and .signing.days_left >= 29' \
	"$J" >/dev/null || fail "--json: e1 is not 29 days from expiry"
jq -e '[.expiring[] | select(.community == "x1")][0].expired == true' "$J" >/dev/null \
	|| fail "--json: x1 not expired under expiring"
jq -e '[.expiring[] | select(.community == "r1")] | length == 0' "$J" >/dev/null \
	|| fail "--json: the revoked r1 is under expiring"
jq -e '.communities[] | select(.community == "r1") | .signing.revoked == true' "$J" >/dev/null \
	|| fail "--json: r1's certificate is not marked revoked"
expect_rc 0 P status e1 --json
jq -e '[.certificates[] | select((.days_left | type) == "number" and (.expired | type) == "boolean")]
	| length == 2' "$T_DIR/out" >/dev/null || fail "--json history: certificates without days_left or expired"

# Phase: --check. x1 expired: CRITICAL (2), one line with perfdata.
expect_rc 2 P status --check
[ "$(wc -l <"$T_DIR/out")" = 1 ] || fail "--check printed more than one line"
grep -Eq '^PKIROLL CRITICAL - 5 enrolled, 4 need attention \(e2, e3, f1, \.\.\.\), 2 certificates expired, soonest expired [0-9]+ days ago \| pending=0;;; enrolling=0;;; enrolled=5;;; failed=0;;; needs_codes=2;;; renewing=0;;; retired=0;;; attention=4;;; expired=2;;; soonest_expiry_days=-1;30:;7:;;$' \
	"$T_DIR/out" || { cat "$T_DIR/out"; fail "--check: not the CRITICAL line"; }
# retire the expired one: attention makes it a WARNING however far expiry is
expect_rc 0 P retire x1
expect_rc 1 P status --check --warn 7d --crit 1d
grep -Eq '^PKIROLL WARNING - 4 enrolled, 4 need attention .* soonest expiry in (29|30) days \|.* soonest_expiry_days=(29|30);7:;1:;;$' \
	"$T_DIR/out" || { cat "$T_DIR/out"; fail "--check: not the WARNING line"; }
# nobody needs attention: OK, then WARNING and CRITICAL by age alone
for c in e2 e3 f1 r1 q\"u\\o; do expect_rc 0 P retire "$c"; done
expect_rc 0 P status --check --warn 7d --crit 1d
grep -Eq '^PKIROLL OK - 1 enrolled, soonest expiry in (29|30) days \| .*enrolled=1;;;.*soonest_expiry_days=(29|30);7:;1:;;$' \
	"$T_DIR/out" || { cat "$T_DIR/out"; fail "--check: not the OK line"; }
expect_rc 1 P status --check --warn 40 --crit 1d
has "$T_DIR/out" "PKIROLL WARNING - 1 enrolled"
expect_rc 2 P status --check --crit 6w
has "$T_DIR/out" "PKIROLL CRITICAL - 1 enrolled"
# UNKNOWN: no store, a bad option
expect_rc 3 "$PKIROLL" --db none.db status --check
has "$T_DIR/out" "PKIROLL UNKNOWN - store none.db cannot be opened"
expect_rc 3 P status --check --warn soon
has "$T_DIR/out" "PKIROLL UNKNOWN - --warn takes an age"
expect_rc 3 P status --check --bogus
has "$T_DIR/out" "PKIROLL UNKNOWN - unknown option"

# Phase: the metrics file, after every command that opens the store (a
# dry run writes it, but is no run of its command).
expect_rc 0 ks renew --community e1 --ca-url http://127.0.0.1:9/pkix/ --dry-run
M=metrics/pkiroll.prom
ls -A metrics | grep -v '^pkiroll.prom$' && fail "a temporary was left beside the metrics file"
[ "$(stat -c %a $M)" = 644 ] || fail "the metrics file is not 0644"
if command -v promtool >/dev/null; then
	promtool check metrics <$M || { cat $M; fail "promtool check metrics refuses the file"; }
else
	echo "promtool is not installed (apt-get install prometheus): format not checked"
	promtool_missing=1
fi
# the last status --check is the last run; enroll's and renew's survive it
grep -q '^pkiroll_last_run_exit_code{command="status"} 3$' $M || { cat $M; fail "status's last run is not exit 3"; }
grep -q '^pkiroll_last_run_exit_code{command="renew"} 1$' $M || fail "renew's last run (exit 1) was not kept"
grep -q '^pkiroll_last_run_success{command="enroll"} 1$' $M || fail "enroll's last run (success) was not kept"
grep -q '^pkiroll_last_run_success{command="retire"} 1$' $M || fail "retire's run is not in the metrics"
grep -q '^pkiroll_last_success_timestamp_seconds{command="renew"}' $M && fail "renew never succeeded"
grep -Eq '^pkiroll_last_run_duration_seconds\{command="enroll"\} [0-9]+\.[0-9]{3}$' $M || fail "no enroll duration"
grep -q '^# TYPE pkiroll_cmp_requests_total counter$' $M || fail "no counter TYPE line"
grep -Eq '^pkiroll_cmp_requests_total\{operation="ir",result="accepted",failinfo=""\} 6$' $M \
	|| { grep cmp_requests $M; fail "not 6 ir accepted"; }
grep -Eq '^pkiroll_cmp_requests_total\{operation="ir",result="rejected",failinfo="[a-zA-Z,]+"\} 1$' $M \
	|| { grep cmp_requests $M; fail "f1's refused ir (with failInfo) is not counted"; }
grep -q '^pkiroll_cmp_requests_total{operation="kur",result="rejected",failinfo="badRequest"} 1$' $M \
	|| { grep cmp_requests $M; fail "e3's refused kur (badRequest) is not counted"; }
grep -q '^pkiroll_cmp_requests_total{operation="kur",result="local_error",failinfo=""} 1$' $M \
	|| fail "e2's renewal (wrong passphrase) is not counted"
grep -q '^pkiroll_cmp_requests_total{operation="rr",result="accepted",failinfo=""} 1$' $M || fail "r1's rr not counted"
grep -q '^pkiroll_communities{state="retired"} 6$' $M || fail "not 6 retired in the metrics"
grep -Eq '^pkiroll_certificate_not_after_seconds\{community="e1",usage="signing",serial="[0-9A-F]+"\} [0-9]+$' $M \
	|| fail "no notAfter of e1's signing certificate"
[ "$(grep -c '^pkiroll_certificate_not_after_seconds{' $M)" = 2 ] || fail "not only e1's 2 current certificates"
grep -q '^pkiroll_attention_communities{kind="renewal_failed"} 0$' $M || fail "attention kinds missing"
# unretire the quoted name: its label is escaped; CEM requests make answers pending
expect_rc 0 P unretire 'q"u\o'
grep -qF 'community="q\"u\\o",usage="signing"' $M || { grep q $M; fail "the label value is not escaped"; }
expect_rc 0 P cem --out cem --response-url https://as2.example.com/cem
grep -q '^pkiroll_cem_pending_answers{partner="Partner A"} 2$' $M || { grep cem $M; fail "Partner A: not 2 answers pending"; }
grep -q '^pkiroll_cem_pending_answers{partner="Partner B"} 2$' $M || fail "Partner B: not 2 answers pending"
[ -n "${promtool_missing:-}" ] || promtool check metrics <$M || fail "promtool refuses the escaped file"
# --metrics-file overrides the configuration; a command without a store writes none
expect_rc 0 P --metrics-file other.prom status --brief
[ -s other.prom ] || fail "--metrics-file was not written"
expect_rc 0 P --metrics-file other2.prom check m.csv
[ -e other2.prom ] && fail "check (no store) wrote a metrics file"
# a metrics file that is not a regular file (a FIFO here, /dev/null as
# root) is left as it is; the command keeps its exit code
mkfifo fifo.prom
expect_rc 0 P --metrics-file fifo.prom status --brief
[ -p fifo.prom ] || fail "the FIFO was replaced by the metrics file"
has "$T_DIR/err" "not a regular file"

# Phase: the journal. A priority prefix on each line only when stderr is
# the file JOURNAL_STREAM names.
: >j.err
JOURNAL_STREAM=$(stat -c '%d:%i' j.err) "$PKIROLL" --db none.db status 2>>j.err >/dev/null
grep -q '^<3>' j.err || { cat j.err; fail "no <3> prefix on an error when stderr is the journal"; }
grep -qv '^<[0-9]>' j.err && { cat j.err; fail "a line without a prefix when stderr is the journal"; }
: >j.err
JOURNAL_STREAM=$(stat -c '%d:%i' j.err) P retire e1 2>>j.err >/dev/null
JOURNAL_STREAM=$(stat -c '%d:%i' j.err) P retire e1 2>>j.err >/dev/null
grep -q '^<6>e1: retired already' j.err || { cat j.err; fail "no <6> prefix on an info line"; }
: >other.err
JOURNAL_STREAM=$(stat -c '%d:%i' other.err) "$PKIROLL" --db none.db status 2>j.err >/dev/null
grep -q '^<' j.err && fail "a prefix when JOURNAL_STREAM names another file"
"$PKIROLL" --db none.db status 2>j.err >/dev/null
grep -q '^<' j.err && fail "a prefix without JOURNAL_STREAM"
grep -q '^store none.db: no such file' j.err || { cat j.err; fail "no error line without the journal"; }
[ -n "${promtool_missing:-}" ] && exit 77
exit 0
