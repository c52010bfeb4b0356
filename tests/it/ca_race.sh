# Two clients race with the same reference numbers (issue 9, R8): the CA
# confirms at most one pair per reference, never answers pkiConf
# (confirmed) for certificates it rolled back, and the loser hears a
# failInfo. Two stores enroll the same 100 references at once.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
make_manifest m.csv 100 r 6000
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
url="http://$CA_HTTP/pkix/"
for s in a b; do
	"$PKIROLL" --db $s.db enroll m.csv -j 4 --ca-url "$url" --keystore-dir ks$s \
		--keystore-pass-file pass >$s.out 2>$s.err &
	pids="${pids:-} $!"
done
wait $pids
stop_ca

# the CA: one confirmed transaction per reference, and what it confirmed
# is issued, not rolled back
dup=$(sqlite3 ca/ca.db "SELECT ref FROM transactions WHERE state = 'confirmed' GROUP BY ref HAVING count(*) > 1")
[ -z "$dup" ] || fail "references confirmed twice: $dup"
bad=$(sqlite3 ca/ca.db "SELECT count(*) FROM issued i JOIN transactions t ON t.tid = i.tid
	WHERE t.state = 'confirmed' AND i.state != 'confirmed'")
[ "$bad" = 0 ] || fail "$bad certificates of confirmed transactions are not confirmed"
pairs=$(sqlite3 ca/ca.db "SELECT count(DISTINCT ref) FROM issued WHERE state = 'confirmed'")
[ "$pairs" = 100 ] || fail "$pairs references confirmed, want 100"

# the clients: each reference enrolled in exactly one store, with the
# certificate the CA confirmed
for s in a b; do
	sqlite3 $s.db "SELECT c.reference_number, x.serial FROM communities c JOIN certificates x
		ON x.community_id = c.id WHERE c.state = 'enrolled' AND x.usage = 'signing'" >$s.enrolled
done
n=$(cat a.enrolled b.enrolled | cut -d'|' -f1 | sort | uniq -d | wc -l)
[ "$n" = 0 ] || fail "$n references enrolled in both stores"
[ "$(cat a.enrolled b.enrolled | wc -l)" = 100 ] || fail "enrolled: $(wc -l <a.enrolled) + $(wc -l <b.enrolled), want 100"
sqlite3 ca/ca.db "SELECT ref, serial FROM issued WHERE state = 'confirmed' AND usage = 'signing'" \
	| tr 'a-f' 'A-F' | sort >ca.confirmed
cat a.enrolled b.enrolled | tr 'a-f' 'A-F' | sort >clients.enrolled
diff ca.confirmed clients.enrolled >/dev/null || { diff ca.confirmed clients.enrolled | head; fail "the stores hold certificates the CA did not confirm"; }
# the losers heard why
cat a.err b.err | grep -q "already used" || fail "no loser was told the codes were used"
exit 0
