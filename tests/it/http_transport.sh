# The HTTP(S) client (libcurl) against the real pkiroll-ca over loopback:
# Content-Type with parameters and in other case, chunked replies, a garbage
# reply under text/html, refused connections and unknown hosts reported as
# such, a real proxy (tinyproxy) from the config and from http_proxy,
# no_proxy, HTTPS through the proxy (CONNECT), and the CA's rate limiter
# (503/429 with Retry-After in both forms) as the transport reports it.
. "$T_SRC/tests/lib.sh"
PROXY_PID=
cleanup() {
	stop_ca
	if [ -n "$PROXY_PID" ]; then
		kill "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
	fi
}
trap cleanup EXIT
CMPC=$TOOLS/cmpc
cd "$T_DIR" || exit 3
# the proxy is what each case says, not what the caller's environment has
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
command -v tinyproxy >/dev/null || fail "tinyproxy not installed (make deps)"
passfile
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"

# Phase: what the CA's reply looks like, one community per fault.
make_manifest m.csv 5 h 7100
umask 077
add() { # N FAULT: community h-N answered with FAULT
	"$PKIROLL_CA" users add --state ca --ref $((7100 + $1)) --code-file "codes/h-$1" \
		--subject "CN=h $1,O=Example,C=US" ${2:+--fault "$2"} >/dev/null || fail "add $1"
}
add 1 "ctype=application/pkixcmp;charset=binary"
add 2 "ctype=params"
add 3 "chunked"
add 4 "chunked,ctype=Application/PKIXCMP;x-vendor=1"
add 5 "garbage,ctype=text/html"
start_ca ca --check-after 0
expect_rc 1 "$PKIROLL" --db s.db enroll m.csv -j 2 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "4 enrolled"
expect_rc 0 "$PKIROLL" --db s.db status --json
state() { jq -r --arg c "$1" '.communities[] | select(.community == $c) | .state + "|" + (.reason // "")' "$T_DIR/out"; }
for i in 1 2 3 4; do
	[ "$(state "h-$i")" = "enrolled|" ] || fail "h-$i: $(state "h-$i")"
done
case $(state h-5) in
*"status 200 with Content-Type text/html"*"not a PKIMessage"*) ;;
*) fail "h-5 (garbage as text/html): $(state h-5)" ;;
esac
grep -q "http certConf" "$CA_LOG" || fail "no certConf reached the CA"
http_port=$CA_HTTP
stop_ca

# Phase: connection failures say what happened, without waiting for the timeout.
conf() { # FILE URL [key = value lines]: a config with one CA profile "t"
	local f=$1 url=$2
	shift 2
	{
		printf '[ca t]\nurl = %s\nconnect_timeout = 20\nretries = 0\n' "$url"
		for kv in "$@"; do printf '%s\n' "$kv"; done
	} >"$f"
}
ref_base=7200
enroll_one() { # NAME RC CONFIG [env...]: a new community through profile t
	local name=$1 rc=$2 cfg=$3
	shift 3
	ref_base=$((ref_base + 1))
	make_manifest "$name.csv" 1 "$name" "$ref_base"
	"$PKIROLL_CA" users import --state ca "$name.csv" >/dev/null || fail "import $name"
	expect_rc "$rc" env "$@" "$PKIROLL" --config "$cfg" --db "$name.db" enroll "$name.csv" \
		--ca t --keystore-dir "ks-$name" --keystore-pass-file pass
}
conf refused.conf "http://$http_port/pkix/" # the stopped CA's port: nobody listens
t0=$(date +%s)
enroll_one refused 1 refused.conf
elapsed=$(($(date +%s) - t0))
has "$T_DIR/err" "connection refused"
[ "$elapsed" -lt 25 ] || fail "a refused connection took $elapsed s (connect_timeout 20)"
conf dns.conf "http://ca.pkiroll-test.invalid:8080/pkix/"
t0=$(date +%s)
enroll_one dns 1 dns.conf
elapsed=$(($(date +%s) - t0))
has "$T_DIR/err" "cannot resolve host ca.pkiroll-test.invalid"
[ "$elapsed" -lt 25 ] || fail "an unknown host took $elapsed s (connect_timeout 20)"

# Phase: a real proxy.
start_ca ca --check-after 0 --https 127.0.0.1:0
for try in 1 2 3 4 5 6 7 8; do
	pport=$((20000 + RANDOM % 40000))
	cat >tinyproxy.conf <<CONF
Port $pport
Listen 127.0.0.1
Timeout 60
Allow 127.0.0.1
LogFile "$T_DIR/tinyproxy.log"
LogLevel Info
MaxClients 20
CONF
	: >tinyproxy.log
	tinyproxy -d -c tinyproxy.conf >tinyproxy.out 2>&1 &
	PROXY_PID=$!
	for _ in $(seq 50); do
		grep -q "Accepting connections" tinyproxy.log 2>/dev/null && break 2
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=
done
[ -n "$PROXY_PID" ] || { cat tinyproxy.out tinyproxy.log; fail "cannot start tinyproxy"; }
P="http://127.0.0.1:$pport"
seen() { grep -c "Request (file descriptor [0-9]*): $1" tinyproxy.log; }

conf proxy.conf "http://$CA_HTTP/pkix/" "proxy = $P"
enroll_one viaconf 0 proxy.conf
[ "$(seen "POST http://$CA_HTTP/pkix/")" -ge 2 ] || { cat tinyproxy.log; fail "ir and certConf did not go through the proxy"; }
before=$(seen POST)
conf plain.conf "http://$CA_HTTP/pkix/"
enroll_one viaenv 0 plain.conf http_proxy="$P"
[ "$(seen POST)" -ge $((before + 2)) ] || fail "http_proxy from the environment not used"
before=$(seen POST)
enroll_one noproxyenv 0 plain.conf http_proxy="$P" no_proxy=127.0.0.1
conf noproxy.conf "http://$CA_HTTP/pkix/" "proxy = $P" "no_proxy = 127.0.0.1,localhost"
enroll_one noproxyconf 0 noproxy.conf
[ "$(seen POST)" = "$before" ] || fail "no_proxy did not bypass the proxy"
# an explicit proxy wins over the environment's
conf override.conf "http://$CA_HTTP/pkix/" "proxy = $P"
enroll_one override 0 override.conf http_proxy=http://127.0.0.1:9
[ "$(seen POST)" -ge $((before + 2)) ] || fail "the configured proxy did not override http_proxy"
# HTTPS through the proxy: a CONNECT tunnel, the CA verified against root.pem
conf tls.conf "https://$CA_HTTPS/pkix/" "proxy = $P" "tls_ca_file = $T_DIR/ca/root.pem"
enroll_one tunnel 0 tls.conf
[ "$(seen "CONNECT $CA_HTTPS")" -ge 1 ] || { cat tinyproxy.log; fail "no CONNECT tunnel"; }
# the proxy's own failures
conf deadproxy.conf "http://$CA_HTTP/pkix/" "proxy = http://127.0.0.1:${http_port##*:}"
enroll_one deadproxy 1 deadproxy.conf
has "$T_DIR/err" "cannot connect to the proxy http://127.0.0.1:${http_port##*:}"
conf dnsproxy.conf "http://$CA_HTTP/pkix/" "proxy = http://proxy.pkiroll-test.invalid:3128"
enroll_one dnsproxy 1 dnsproxy.conf
has "$T_DIR/err" "cannot resolve the proxy http://proxy.pkiroll-test.invalid:3128"
# a client certificate file that is not there is a configuration error
conf nocert.conf "https://$CA_HTTPS/pkix/" "tls_ca_file = $T_DIR/ca/root.pem" \
	"tls_cert = $T_DIR/missing.pem"
enroll_one nocert 1 nocert.conf
has "$T_DIR/err" "tls_cert $T_DIR/missing.pem: cannot read"
stop_ca

# Phase: TLS client certificates (serve --https-client-ca) and server trust.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cca.key \
	-out cca.pem -subj /CN=client-ca -days 2 2>/dev/null || fail "client CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cl.key \
	-out cl.csr -subj /CN=client 2>/dev/null || fail "client key"
printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >cl.ext
openssl x509 -req -in cl.csr -CA cca.pem -CAkey cca.key -out cl.pem -days 2 \
	-extfile cl.ext 2>/dev/null || fail "client certificate"
start_ca ca --check-after 0 --https 127.0.0.1:0 --https-client-ca cca.pem
conf nocc.conf "https://$CA_HTTPS/pkix/" "tls_ca_file = $T_DIR/ca/root.pem"
enroll_one nocc 1 nocc.conf
has "$T_DIR/err" "TLS refused by the server (a client certificate? check tls_cert, tls_key)"
conf cc.conf "https://$CA_HTTPS/pkix/" "tls_ca_file = $T_DIR/ca/root.pem" \
	"tls_cert = $T_DIR/cl.pem" "tls_key = $T_DIR/cl.key"
enroll_one cc 0 cc.conf
conf untrusted.conf "https://$CA_HTTPS/pkix/" "tls_ca_file = $T_DIR/cca.pem" \
	"tls_cert = $T_DIR/cl.pem" "tls_key = $T_DIR/cl.key"
enroll_one untrusted 1 untrusted.conf
has "$T_DIR/err" "the server's certificate is not trusted or not for this host (check tls_ca_file)"
stop_ca

# Phase: the CA's rate limiter, as the transport reports it (cmpc: one
# transaction; what the batch does with it is lib/enroll's).
add_user() { printf "code-$1" >"c$1"; "$PKIROLL_CA" users add --state ca --ref "$1" \
	--code-file "c$1" --subject "CN=User $1" >/dev/null || fail "users add $1"; }
cmpc() { # REF RC
	expect_rc "$2" "$CMPC" --url "http://$CA_HTTP/pkix/" --ref "$1" --secret-file "c$1" \
		--subject CN=x --key-type p256
}
for r in 7301 7302 7303 7304; do add_user $r; done
start_ca ca --log-time --fault ratelimit=2/600,retryafter=17
cmpc 7301 0 # ir and certConf: the window's two requests
cmpc 7302 1
has "$T_DIR/out" "status 503: rate limited by the CA (Retry-After: 17 s)"
cmpc 7302 1
grep -c -- "-> 503 rate limit (2 per 600 s) Retry-After: 17" "$CA_LOG" | grep -qx 2 \
	|| { cat "$CA_LOG"; fail "the CA did not log two refusals"; }
grep -q "CN=User 7302" <("$PKIROLL_CA" issued --state ca) && fail "a refused request was issued"
grep -q '^[0-9]\{13\} pkiroll-ca: http ir' "$CA_LOG" || { cat "$CA_LOG"; fail "--log-time"; }
stop_ca
start_ca ca --fault ratelimit429=0,retrydate=600
cmpc 7303 1
grep -Eq "status 429: rate limited by the CA \(Retry-After: (59[0-9]|600) s\)" "$T_DIR/out" \
	|| { cat "$T_DIR/out"; fail "429 with an HTTP-date"; }
stop_ca
start_ca ca --fault ratelimit=0
cmpc 7304 1
has "$T_DIR/out" "status 503: rate limited by the CA (no Retry-After)"
exit 0
