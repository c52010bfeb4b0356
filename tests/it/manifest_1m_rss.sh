# A 1,000,000-row manifest: pkiroll check stays under 64 MB peak RSS.
. "$T_SRC/tests/lib.sh"
if [ -n "${PKIROLL_SANITIZED:-}" ]; then
	echo "RSS is not meaningful under sanitizers"; exit 77
fi
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (make deps)"; exit 77; }

awk 'BEGIN {
	print "community,reference_number,authorization_code,partners,subject,key_type,dual,email,notes"
	for (i = 1; i <= 1000000; i++)
		printf "community-%07d,%d,AUTH-%07d,Partner %d;Partner %d,\"CN=Community %d,O=Example %d,C=US\",%s,yes,ops%d@example.com,row %d\n", i, 50000000 + i, i, i % 97, i % 89, i, i % 1000, (i % 3 ? "rsa2048" : "p256"), i, i
}' >"$T_DIR/big.csv"
/usr/bin/time -v "$PKIROLL" check "$T_DIR/big.csv" >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
[ "$rc" = 0 ] || { tail "$T_DIR/err"; fail "check exited $rc"; }
has "$T_DIR/out" "1000000 rows: 1000000 good, 0 bad"
rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$T_DIR/err")
echo "peak RSS ${rss} KiB for 1,000,000 rows"
[ -n "$rss" ] && [ "$rss" -lt 65536 ] || fail "peak RSS ${rss} KiB >= 64 MB"
exit 0
