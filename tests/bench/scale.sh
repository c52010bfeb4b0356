#!/usr/bin/env bash
# make bench-scale: one store grown by real enrollment against pkiroll-ca
# on loopback (P-256 single key, three partners per community, -j 2) to each
# size in BENCH_SCALE_SIZES (default 10000,30000,100000), and at each size
# the commands that touch every community, timed: wall seconds (date, to
# the millisecond) and peak RSS of the pkiroll process (/usr/bin/time).
# Ends with the store's size
# and the ratio of the largest size to the one before it per command.
# Not a test: numbers. BENCH_SCALE_SIZES=1000,3000 for a quick look. The
# commands that change nothing are timed as the best of three runs.
# export, the other command over many, exports one community: the bundle
# is the export of many, and is timed here.
set -u
cd "$(dirname "$0")/../.." || exit 3
B=${1:-build}
SIZES=${BENCH_SCALE_SIZES:-10000,30000,100000}
P=$PWD/$B/bin/pkiroll
CA=$PWD/$B/bin/pkiroll-ca
W=$(mktemp -d "${TMPDIR:-/tmp}/pkiroll-scale.XXXXXX")
# BENCH_SCALE_KEEP=1 keeps the store and the CA state for a profile
trap 'kill $CA_PID 2>/dev/null; [ -n "${BENCH_SCALE_KEEP:-}" ] && echo "kept: $W" >&2 || rm -rf "$W"' EXIT
cd "$W" || exit 3
(umask 077 && echo scale-pass >pass)
export PKIROLL_SYSTEM_CONFIG=

rows() { # FROM TO: manifest rows FROM..TO
	awk -v a="$1" -v b="$2" 'BEGIN {
		for (i = a; i <= b; i++)
			printf "s%06d,%08d,code-%d,Partner %d;Partner %d;Partner %d,CN=s%06d,p256,p256,no,https://gw.example/cem\n",
				i, 30000000 + i, i, i % 50, (i + 17) % 50, (i + 31) % 50, i
	}'
}
HDR="community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,dual,cem_response_url"
echo "$HDR" >m.csv

"$CA" init --state ca --key-type p256 >/dev/null
"$CA" serve --state ca --http 127.0.0.1:0 --confirm-timeout 3600 >ca.listen 2>ca.log &
CA_PID=$!
sleep 0.5
URL="http://$(awk '$2 == "http" { print $3 }' ca.listen)/pkix/"

# t NAME CMD...: one timed command; appends "SIZE NAME SECONDS KB" to times.
# With T_BEST=3, a command that changes nothing is run three times and the
# fastest kept (a sub-second time is otherwise mostly the machine's noise).
t() {
	local name=$1 best="" kb=0 i sec mem
	shift
	for ((i = 0; i < ${T_BEST:-1}; i++)); do
		local t0 t1
		t0=$(date +%s%N)
		/usr/bin/time -f "%M" -o t.out "$@" >/dev/null 2>cmd.err
		local rc=$?
		t1=$(date +%s%N)
		[ "$rc" -le 1 ] || { echo "$name: exit $rc" >&2; tail -3 cmd.err >&2; }
		sec=$(echo "($t1 - $t0) / 1000000000" | bc -l)
		read -r mem <t.out
		[ -z "$best" ] || [ "$(echo "$sec < $best" | bc -l)" = 1 ] && best=$sec
		[ "$mem" -gt "$kb" ] && kb=$mem
	done
	echo "$size $name $best $kb" >>times
}
ks=(--keystore-dir ks --keystore-pass-file pass)
have=0
: >times
for size in ${SIZES//,/ }; do
	rows $((have + 1)) "$size" >new.csv
	cat new.csv >>m.csv
	{ echo "$HDR"; cat new.csv; } >new-users.csv
	"$CA" users import --state ca new-users.csv >/dev/null
	s0=$(date +%s.%N)
	"$P" --db s.db enroll m.csv -j 2 --ca-url "$URL" "${ks[@]}" >enroll.out 2>&1 \
		|| { echo "enroll to $size failed:" >&2; tail -5 enroll.out >&2; exit 1; }
	s1=$(date +%s.%N)
	printf 'grew to %d communities: %d enrolled in %.0f s\n' "$size" $((size - have)) \
		"$(echo "$s1 - $s0" | bc -l)" >&2
	have=$size
	T_BEST=3 t import "$P" --db s.db import m.csv
	T_BEST=3 t "enroll (nothing due)" "$P" --db s.db enroll m.csv -j 2 --ca-url "$URL" "${ks[@]}"
	T_BEST=3 t "renew --dry-run" "$P" --db s.db renew --dry-run --within 1d
	T_BEST=3 t status "$P" --db s.db status
	T_BEST=3 t "status --json" "$P" --db s.db status --json
	rm -rf bundles
	t bundle "$P" --db s.db bundle --out bundles
	T_BEST=3 t "bundle --stale" "$P" --db s.db bundle --out bundles --stale
	rm -rf cem
	t cem "$P" --db s.db cem --out cem
	T_BEST=3 t "cem (nothing new)" "$P" --db s.db cem --out cem
	sqlite3 s.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
	echo "$size store-MB $(du -m s.db | cut -f1) $(du -sm bundles | cut -f1)" >>sizes
done

# Phase: the table.
awk -v sizes="$SIZES" '
	BEGIN { n = split(sizes, S, ",") }
	FILENAME == "sizes" { db[$1] = $3; zips[$1] = $4; next }
	{ name = $2; for (i = 3; i < NF - 1; i++) name = name " " $i
	  sec[$1, name] = $(NF - 1); kb[$1, name] = $NF
	  if (!(name in seen)) { seen[name] = 1; order[++m] = name } }
	END {
		printf "| command |"; for (i = 1; i <= n; i++) printf " %s s | %s RSS MB |", S[i], S[i]
		if (n > 1) printf " %s/%s |", S[n], S[n - 1]
		printf "\n|---|"; for (i = 1; i <= n; i++) printf "---|---|"; if (n > 1) printf "---|"
		printf "\n"
		for (j = 1; j <= m; j++) {
			printf "| %s |", order[j]
			for (i = 1; i <= n; i++) printf " %.3f | %.1f |", sec[S[i], order[j]], kb[S[i], order[j]] / 1024
			if (n > 1) printf " %.2f |", (sec[S[n - 1], order[j]] > 0 ? sec[S[n], order[j]] / sec[S[n - 1], order[j]] : 0)
			printf "\n"
		}
		printf "| store (MB) |"; for (i = 1; i <= n; i++) printf " %s | |", db[S[i]]
		printf "\n| zips (MB) |"; for (i = 1; i <= n; i++) printf " %s | |", zips[S[i]]
		printf "\n"
	}' sizes times
