# The store is WAL with synchronous = NORMAL (a commit survives a crash of
# the process, not a power loss until the WAL is synced), but the steps a
# power loss must not take back are synced before the worker goes on:
# "keys" (the certConf goes out next) for every community, and "request"
# too under implicitConfirm (the ir may spend the codes for good). Counted
# in the parent's system calls (strace): syncs of the store's WAL.
. "$T_SRC/tests/lib.sh"
command -v strace >/dev/null || exit 77
# LeakSanitizer cannot run under ptrace (strace): off in this test only
[ -n "${PKIROLL_SANITIZED:-}" ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
make_manifest m.csv 4 w 940000
make_manifest i.csv 4 v 950000
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
"$PKIROLL_CA" users import --state ca i.csv >/dev/null || fail "users"
start_ca ca --allow-implicit-confirm

wal_syncs() { # TRACE: fsync/fdatasync of an fd opened on s.db-wal
	awk '
		{ pid = $1 }
		/ openat\(/ { pending[pid] = /s\.db-wal"/ }
		/ openat\(.* = [0-9]+$/ || /<\.\.\. openat resumed>.* = [0-9]+$/ { wal[pid, $NF] = pending[pid] }
		/ f(data)?sync\([0-9]+/ { match($0, /sync\([0-9]+/); if (wal[pid, substr($0, RSTART + 5, RLENGTH - 5)]) n++ }
		END { print n + 0 }' "$1"
}

# keys: one synced commit per community at least
strace -f -qq -e trace=openat,fsync,fdatasync -o trace1 "$PKIROLL" --db s.db enroll m.csv -j 2 \
	--ca-url "http://$CA_HTTP/pkix/" --keystore-dir ks --keystore-pass-file pass >out 2>err \
	|| { cat out err; fail "enroll under strace"; }
grep -q "4 due: 4 enrolled" out || { cat out; fail "4 enrolled expected"; }
n=$(wal_syncs trace1)
[ "$n" -ge 4 ] || fail "$n syncs of the store's WAL for 4 communities, want at least 4 (step keys)"

# under implicitConfirm, the request too
printf '[ca i]\nurl = http://%s/pkix/\nimplicit_confirm = yes\n' "$CA_HTTP" >i.conf
strace -f -qq -e trace=openat,fsync,fdatasync -o trace2 "$PKIROLL" --config i.conf --db s.db enroll i.csv \
	-j 2 --keystore-dir ks --keystore-pass-file pass >out 2>err || { cat out err; fail "enroll implicit"; }
grep -q "4 due: 4 enrolled" out || { cat out; fail "4 enrolled expected (implicitConfirm)"; }
grep -q "implicitConfirm" "$CA_LOG" || fail "the CA granted no implicitConfirm"
n=$(wal_syncs trace2)
[ "$n" -ge 8 ] || fail "$n syncs of the store's WAL for 4 communities under implicitConfirm, want at least 8"
exit 0
