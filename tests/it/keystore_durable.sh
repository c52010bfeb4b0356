# A keystore directory made for a community is durable before its keys are
# relied on: the directory that holds it is synced after the mkdir (and the
# keystore base's parent when the base is new), before the keystore's own
# directory sync that precedes the certConf. Checked in the system calls
# (strace) of an enrollment against pkiroll-ca.
. "$T_SRC/tests/lib.sh"
command -v strace >/dev/null || exit 77
# LeakSanitizer cannot run under ptrace (strace): off in this test only
[ -n "${PKIROLL_SANITIZED:-}" ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
make_manifest m.csv 3 d 930000
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca

strace -f -qq -e trace=mkdir,openat,fsync,close -o trace "$PKIROLL" --db s.db enroll m.csv -j 1 \
	--ca-url "http://$CA_HTTP/pkix/" --keystore-dir ks --keystore-pass-file pass >out 2>err \
	|| { cat out err; fail "enroll under strace"; }
grep -q "3 due: 3 enrolled" out || { cat out; fail "3 enrolled expected"; }

# Per process: which directory each fd is. A community directory made
# (mkdir "ks/X") must see an fsync of "ks" before the fsync of "ks/X"
# itself; a base "ks" made, an fsync of ".". (strace -f may split a call
# in two lines: "<unfinished ...>", then "<... openat resumed>".)
awk '
	function arg(s) { match(s, /"[^"]*"/); return substr(s, RSTART + 1, RLENGTH - 2) }
	{ pid = $1 }
	/ openat\(/ { pending[pid] = /O_DIRECTORY/ ? arg($0) : "-" }
	/ openat\(.* = [0-9]+$/ || /<\.\.\. openat resumed>.* = [0-9]+$/ { fd[pid, $NF] = pending[pid] }
	/ fsync\([0-9]+/ {
		match($0, /fsync\([0-9]+/); d = fd[pid, substr($0, RSTART + 6, RLENGTH - 6)]
		if (d == ".") dot = 1
		if (d == "ks") for (x in state) if (state[x] == "made" && owner[x] == pid) state[x] = "based"
		if (d in state) {
			if (state[d] == "made") { print "FAIL: " d " synced, ks not"; bad = 1 }
			if (state[d] == "based") state[d] = "done"
		}
	}
	/ mkdir\("ks\/[^"]*", 0700\) *= 0/ { state[arg($0)] = "made"; owner[arg($0)] = pid; n++ }
	/ mkdir\("ks", 0700\) *= 0/ { base_made = 1 }
	END {
		for (x in state) if (state[x] != "done") { print "FAIL: " x ": " state[x]; bad = 1 }
		if (n != 3) { print "FAIL: " n " community directories made, 3 expected"; bad = 1 }
		if (!base_made || !dot) { print "FAIL: ks made " base_made ", . synced " dot; bad = 1 }
		exit bad
	}' trace || { grep -E 'mkdir|fsync|O_DIRECTORY' trace | head -60; fail "a new keystore directory was not made durable"; }
exit 0
