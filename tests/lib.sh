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
