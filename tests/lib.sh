# Helpers for the integration tests; sourced, not run.
# T_DIR is this test's scratch directory, PKIROLL the binary under test.
set -u
cd "$T_SRC" || exit 3

fail() {
	echo "FAIL: $*"
	exit 1
}

# expect_rc WANT CMD...: runs CMD, output in $T_DIR/out, $T_DIR/err.
expect_rc() {
	local want=$1
	shift
	"$@" >"$T_DIR/out" 2>"$T_DIR/err"
	local rc=$?
	[ "$rc" = "$want" ] || {
		echo "--- stdout"; cat "$T_DIR/out"; echo "--- stderr"; cat "$T_DIR/err"
		fail "$* exited $rc, want $want"
	}
}

# has FILE TEXT: FILE contains TEXT (fixed string).
has() {
	grep -qF -- "$2" "$1" || { echo "--- $1"; cat "$1"; fail "$1 lacks: $2"; }
}

# start_mock ARGS...: `openssl cmp` as mock server on a free loopback port;
# sets MOCK_PORT and MOCK_PID. The test's trap should call stop_mock.
start_mock() {
	local try
	for try in 1 2 3 4 5 6 7 8; do
		MOCK_PORT=$((20000 + RANDOM % 40000))
		openssl cmp -port "$MOCK_PORT" "$@" >"$T_DIR/mock.$MOCK_PORT.log" 2>&1 &
		MOCK_PID=$!
		for _ in $(seq 50); do
			grep -q '^ACCEPT' "$T_DIR/mock.$MOCK_PORT.log" 2>/dev/null && return 0
			kill -0 "$MOCK_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$MOCK_PID" 2>/dev/null
		wait "$MOCK_PID" 2>/dev/null
	done
	fail "cannot start openssl cmp as mock server"
}

stop_mock() {
	[ -n "${MOCK_PID:-}" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
	MOCK_PID=
}

# start_ca DIR [serve options]: a pkiroll-ca (made on first use) on free
# loopback ports; sets CA_HTTP (host:port), CA_TCP, CA_PID, CA_LOG.
start_ca() {
	local dir=$1
	shift
	[ -f "$dir/root.pem" ] || "$PKIROLL_CA" init --state "$dir" >/dev/null || fail "pkiroll-ca init"
	CA_LOG=$dir.log
	rm -f "$dir.out"
	"$PKIROLL_CA" serve --state "$dir" --http 127.0.0.1:0 --tcp 127.0.0.1:0 "$@" \
		>"$dir.out" 2>"$CA_LOG" &
	CA_PID=$!
	local want=2
	case " $* " in *" --https "*) want=3 ;; esac
	for _ in $(seq 100); do
		[ "$(grep -c '^listening' "$dir.out" 2>/dev/null)" -ge $want ] && break
		kill -0 "$CA_PID" 2>/dev/null || { cat "$CA_LOG"; fail "pkiroll-ca serve died"; }
		sleep 0.05
	done
	CA_HTTP=$(awk '$2 == "http" { print $3 }' "$dir.out")
	CA_TCP=$(awk '$2 == "tcp" { print $3 }' "$dir.out")
	CA_HTTPS=$(awk '$2 == "https" { print $3 }' "$dir.out")
	[ -n "$CA_HTTP" ] && [ -n "$CA_TCP" ] || fail "pkiroll-ca did not say where it listens"
}

stop_ca() {
	[ -n "${CA_PID:-}" ] || return 0
	kill -TERM "$CA_PID" 2>/dev/null
	wait "$CA_PID" 2>/dev/null
	CA_RC=$?
	CA_PID=
}

# make_manifest FILE N PREFIX REFBASE: N communities whose codes are in
# files (file:), partners, p256 keys with every 10th rsa2048.
make_manifest() {
	local file=$1 n=$2 prefix=$3 base=$4 i kt mask
	mask=$(umask)
	umask 077 # code files are private, or pkiroll refuses them
	mkdir -p "$T_DIR/codes"
	echo "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type" >"$file"
	for i in $(seq 1 "$n"); do
		kt=p256
		[ $((i % 10)) = 0 ] && kt=rsa2048
		printf "AUTH-%s-%05d" "$prefix" "$i" >"$T_DIR/codes/$prefix-$i"
		echo "$prefix-$i,$((base + i)),file:$T_DIR/codes/$prefix-$i,Partner $((i % 7)),\"CN=$prefix $i,O=Example,C=US\",$kt,$kt" >>"$file"
	done
	umask "$mask"
}

# passfile: a keystore passphrase file, 0600.
passfile() {
	(umask 077 && printf 'pass-%s-%s' "$RANDOM" "$RANDOM" >"$T_DIR/pass")
}
