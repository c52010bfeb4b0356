# status --json over many communities: peak RSS does not grow with the
# fleet (the communities are written as they are read, not held as JSON).
. "$T_SRC/tests/lib.sh"
if [ -n "${PKIROLL_SANITIZED:-}" ]; then
	echo "RSS is not meaningful under sanitizers"; exit 77
fi
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (make deps)"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed (make deps)"; exit 77; }
cd "$T_DIR" || exit 3
# manifest N FILE: N communities, three partners each
manifest() {
	awk -v n="$1" 'BEGIN {
		print "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type"
		for (i = 1; i <= n; i++)
			printf "c%06d,%d,AUTH-%d,Partner %d;Partner %d;Partner %d,\"CN=c%06d,O=Example %d,C=US\",p256,p256\n",
				i, 60000000 + i, i, i % 50, (i + 17) % 50, (i + 31) % 50, i, i
	}' >"$2"
}
# rss DB: peak RSS in KiB of status --json on DB; its output in DB.json
rss() {
	/usr/bin/time -f "%M" -o "$1.rss" "$PKIROLL" --db "$1" status --json >"$1.json" 2>"$1.err" \
		|| { cat "$1.err"; fail "status --json on $1"; }
	cat "$1.rss"
}
manifest 1000 small.csv
manifest 40000 big.csv
expect_rc 0 "$PKIROLL" --db small.db import small.csv
expect_rc 0 "$PKIROLL" --db big.db import big.csv
small=$(rss small.db)
big=$(rss big.db)
jq -e '.total == 40000 and (.communities | length) == 40000
	and .communities[39999].community == "c040000"' big.db.json >/dev/null \
	|| fail "status --json of 40000 communities"
echo "peak RSS: ${small} KiB at 1000 communities, ${big} KiB at 40000"
# held whole, 39000 more communities took over 40 MB more
[ $((big - small)) -lt 8192 ] || fail "status --json grew by $((big - small)) KiB from 1000 to 40000 communities"
exit 0
