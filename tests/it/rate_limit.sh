# A rate limiter in front of the CA (HTTP 503 with Retry-After, counting
# every request, certConf included): pkiroll pauses the whole CA profile
# until Retry-After, across its workers, does not trip the circuit breaker
# and does not count the refusals as retries; every community ends
# enrolled, each code sent in one ir that reached the CA. Then 429 without
# Retry-After: the same, with its own backoff.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 8 rl 62000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca --log-time --fault ratelimit=2/3,retryafter=3
# no transient retries and a breaker of 2: only the rate-limit path can pass
printf '[ca t]\nurl = http://%s/pkix/\nretries = 0\ncircuit_breaker = 2\n' "$CA_HTTP" >c.conf
expect_rc 0 "$PKIROLL" --db s.db --config c.conf enroll m.csv -j 4 --keystore-dir ks \
	--keystore-pass-file pass
has "$T_DIR/out" "8 enrolled"
has "$T_DIR/err" "rate limited"
grep -q "paused for the rest of this run" "$T_DIR/err" && fail "the circuit breaker counted the rate limit"
refused=$(grep -c -- '-> 503 rate limit' "$CA_LOG")
[ "$refused" -ge 1 ] || fail "the limiter refused nothing: the test tested nothing"
# every code went out in one ir that reached the CA, and was confirmed once
for i in $(seq 1 8); do
	[ "$(sqlite3 ca/ca.db "SELECT count(*) FROM transactions WHERE ref = '$((62000 + i))' AND kind = 'ir'")" = 1 ] \
		|| fail "rl-$i: not exactly one ir reached the CA"
done
[ "$(sqlite3 ca/ca.db "SELECT count(*) FROM transactions WHERE state = 'confirmed'")" = 8 ] || fail "not 8 confirmed"
# no request before Retry-After: after the first refusal (and a second of
# slack for requests already on their way), nothing until it has passed
first=$(grep -- '-> 503 rate limit' "$CA_LOG" | head -1 | awk '{print $1}')
early=$(awk -v t="$first" '$2 == "pkiroll-ca:" && $1 > t + 1000 && $1 < t + 2500' "$CA_LOG" | wc -l)
[ "$early" = 0 ] || { cat "$CA_LOG"; fail "$early requests arrived before the Retry-After of the first refusal"; }
stop_ca

# Phase: 429 without Retry-After.
make_manifest m2.csv 4 rm 62100
"$PKIROLL_CA" users import --state ca m2.csv >/dev/null || fail "users 2"
start_ca ca --log-time --fault ratelimit429=2/2
printf '[ca t]\nurl = http://%s/pkix/\nretries = 0\ncircuit_breaker = 2\n' "$CA_HTTP" >c.conf
expect_rc 0 "$PKIROLL" --db s.db --config c.conf enroll m2.csv -j 2 --keystore-dir ks \
	--keystore-pass-file pass
has "$T_DIR/out" "4 enrolled"
[ "$(grep -c -- '-> 429 rate limit' "$CA_LOG")" -ge 1 ] || fail "no 429 seen"
exit 0
