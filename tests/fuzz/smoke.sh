#!/usr/bin/env bash
# Runs every libFuzzer target (built by `make fuzz`) for RUNS inputs,
# starting from a scratch copy of its corpus, and prints its speed. Exits 1
# if one crashed, leaked or timed out.
# usage: tests/fuzz/smoke.sh BUILD_DIR RUNS
set -u
cd "$(dirname "$0")/../.." || exit 3
dir=$1 runs=$2 failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pkiroll-fuzz-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for bin in "$dir"/fuzz_*; do
	n=$(basename "$bin")
	mkdir -p "$tmp/$n"
	cp -r tests/fuzz/corpus/"${n#fuzz_}"/. "$tmp/$n/"
	# ASan's quarantine (256 MB by default) is what makes RSS grow
	ASAN_OPTIONS=quarantine_size_mb=16:detect_leaks=1 "$bin" -runs="$runs" -max_len=65536 \
		-timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 "$tmp/$n" >"$tmp/$n.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$n.log")
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$tmp/$n.log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$tmp/$n.log")
	if [ "$rc" != 0 ]; then
		echo "FAIL $n (exit $rc)"
		grep -E "ERROR|SUMMARY|Test unit written" "$tmp/$n.log" | head -5
		failed=1
		continue
	fi
	printf '%-16s %8s runs in %3s s (%s/s), peak RSS %s MB\n' "$n" "$execs" "${secs:-0}" \
		"$([ "${secs:-0}" -gt 0 ] && echo $((execs / secs)) || echo "$execs+")" "$rss"
done
exit $failed
