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
