#!/usr/bin/env bash
# The test runner: the unit tests (one line per test), then every
# tests/it/*.sh (one test each: exit 0 pass, 77 skip, else fail), then the
# fuzz targets over their corpus. Ends with "N passed, N failed, N skipped".
# usage: tests/run.sh [BUILD_DIR] [FILTER]
set -u
cd "$(dirname "$0")/.." || exit 3
B=${1:-build}
FILTER=${2:-}
export T_SRC=$PWD
export PKIROLL=$PWD/$B/bin/pkiroll
export PKIROLL_CA=$PWD/$B/bin/pkiroll-ca
export FUZZ_DIR=$PWD/$B/tests/fuzz
export TOOLS=$PWD/$B/tests/tools
# an installed /etc/pkiroll.conf (its store, its CA) is not the suite's
export PKIROLL_SYSTEM_CONFIG=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pkiroll-tests.XXXXXX")
export T_TMP=$TMP/unit
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0 skip=0

# Phase: unit tests.
unit=$PWD/$B/tests/unit_tests
# a binary older than its sources would test old code: make test rebuilds
for pair in "$unit:tests/unit" "$PKIROLL:cmd/pkiroll" "$PKIROLL_CA:cmd/pkiroll-ca"; do
	bin=${pair%:*}
	newer=$(find include lib "${pair##*:}" -name '*.[ch]' -newer "$bin" 2>/dev/null | head -1)
	if [ -e "$bin" ] && [ -n "$newer" ]; then
		echo "FAIL build: $bin is older than $newer (run make test)"
		fail=$((fail + 1))
	fi
done
if [ -x "$unit" ]; then
	"$unit" $FILTER >"$TMP/unit.log" 2>&1
	rc=$?
	p=$(grep -c '^PASS ' "$TMP/unit.log")
	f=$(grep -c '^FAIL ' "$TMP/unit.log")
	pass=$((pass + p))
	fail=$((fail + f))
	grep -v '^PASS ' "$TMP/unit.log" | grep -v '^# unit tests' || true
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL unit_tests: exited $rc without a failing test (crash?)"
		tail -20 "$TMP/unit.log"
		fail=$((fail + 1))
	fi
	echo "# unit tests: ok=$p failed=$f"
else
	echo "FAIL unit_tests: $unit not built"
	fail=$((fail + 1))
fi

# Phase: integration tests, one process each.
for t in tests/it/*.sh; do
	name=$(basename "$t" .sh)
	[ -n "$FILTER" ] && [[ "$name" != *"$FILTER"* ]] && continue
	mkdir -p "$TMP/it/$name"
	T_DIR="$TMP/it/$name" timeout 900 bash "$t" >"$TMP/it/$name.log" 2>&1
	rc=$?
	case $rc in
	0) echo "PASS $name"; pass=$((pass + 1)) ;;
	77) echo "SKIP $name: $(tail -1 "$TMP/it/$name.log")"; skip=$((skip + 1)) ;;
	*) echo "FAIL $name (exit $rc)"; sed 's/^/  /' "$TMP/it/$name.log" | tail -40
	   fail=$((fail + 1)) ;;
	esac
done

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
