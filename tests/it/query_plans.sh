# Every statement pkiroll prepares, over a run of the commands that touch
# many communities (import, enroll, renew, status, bundle, cem, revoke,
# retire, deploy), is explained by SQLite: none may read a whole big table
# (SCAN) where it means to look one row up, and every index is read by
# some statement. The few that stream a whole table on purpose, once per
# command, are listed below with why. The
# statements come from the real binary (PKIROLL_SQL_LOG), not from a list
# kept by hand, so a new query is checked the day it is written.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
command -v sqlite3 >/dev/null || { echo "SKIP: no sqlite3"; exit 77; }
passfile
mkdir -p codes
echo "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,as2_id,cem_response_url" >m.csv
for i in 1 2 3 4 5 6; do
	printf 'QP-CODE-%s' "$i" >codes/$i && chmod 600 codes/$i
	echo "q$i,81000$i,file:$T_DIR/codes/$i,Globex;Initech,CN=q$i,p256,p256,AS2-q$i,https://gw.example/cem" >>m.csv
done
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
URL="http://$CA_HTTP/pkix/"
export PKIROLL_SQL_LOG=$T_DIR/sql.log
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }
expect_rc 0 "$PKIROLL" --db s.db import m.csv
expect_rc 0 ks enroll m.csv -j 2 --ca-url "$URL" --deploy-hook true
expect_rc 0 ks enroll m.csv -j 2 --ca-url "$URL"
expect_rc 0 ks renew --community q1 --community q2 --ca-url "$URL" --deploy-hook true
expect_rc 0 "$PKIROLL" --db s.db renew --dry-run --now --within 400d
for a in "" --json --brief q1 "q1 --json" --check; do
	# shellcheck disable=SC2086
	"$PKIROLL" --db s.db status $a >/dev/null 2>&1
done
expect_rc 0 "$PKIROLL" --db s.db bundle --out b
expect_rc 0 "$PKIROLL" --db s.db bundle --out b --stale
expect_rc 0 "$PKIROLL" --db s.db cem --out cem
"$PKIROLL" --db s.db export q3 --format pem -o q3.pem >/dev/null 2>&1 || fail "export"
expect_rc 0 ks revoke q4 --yes --reason superseded --ca-url "$URL"
expect_rc 0 "$PKIROLL" --db s.db retire q5
expect_rc 0 "$PKIROLL" --db s.db unretire q5
expect_rc 0 "$PKIROLL" --db s.db --metrics-file m.prom status
[ -s sql.log ] || fail "PKIROLL_SQL_LOG wrote nothing"

# Statements that read a whole table on purpose: one pass per command.
allowed() {
	case "$1" in
	# status, metrics and the renewal plan stream every community once
	*"FROM communities c WHERE"* | *"FROM communities c LEFT JOIN"* | *"FROM communities ORDER BY"*) return 0 ;;
	*"FROM communities WHERE state"* | *"FROM communities GROUP BY"* | *"FROM communities c GROUP BY"*) return 0 ;;
	# every current certificate, once (status expiring, metrics)
	*"FROM certificates x JOIN communities c"*) return 0 ;;
	# cem: every partner's communities, once per run
	*"FROM partner_communities pc JOIN partners p ON p.id = pc.partner_id JOIN communities c"*) return 0 ;;
	# the keystore directories of every community (sweep, rekey)
	*"SELECT name, keystore_dir FROM communities WHERE keystore_dir IS NOT NULL"*) return 0 ;;
	esac
	return 1
}
# tables that hold a few rows whatever the fleet (and their aliases)
small="CONSTANT ROW|partners|p|runs|ca_certificates|ca|last_runs|cmp_requests|keystore_passphrase"
# a partial index holds only the few rows it is for: scanning it is a lookup
partial="USING (COVERING )?INDEX (communities_deploy|certificates_superseded)( |$)"
sort -u sql.log >stmts
# check DB: prints each statement that scans a big table; sets n and bad
check() {
	n=0 bad=0
	while IFS= read -r sql; do
		n=$((n + 1))
		plan=$(sqlite3 "$1" "EXPLAIN QUERY PLAN $sql" 2>&1) || {
			echo "cannot explain: $sql: $plan"
			bad=$((bad + 1))
			continue
		}
		# a SCAN (whole table, or whole index: SEARCH is the lookup) of
		# anything but a small table; plans name a table by its alias
		scans=$(printf '%s\n' "$plan" | grep -E -- "SCAN " | grep -vE -- "SCAN ($small)( |$)|SCAN \(subquery|$partial" || true)
		[ -z "$scans" ] && continue
		allowed "$sql" && continue
		echo "--- scans a big table: $sql"
		printf '%s\n' "$plan"
		bad=$((bad + 1))
	done <stmts
}
check s.db
[ "$n" -ge 60 ] || fail "only $n statements logged"
[ "$bad" = 0 ] || fail "$bad of $n statements scan a big table"

# every index is read by some statement: one none reads costs space and
# every insert (a UNIQUE one is a constraint, and a foreign key's children
# are never looked for: no run, community or certificate is deleted)
while IFS= read -r sql; do
	sqlite3 s.db "EXPLAIN QUERY PLAN $sql" 2>/dev/null
done <stmts >plans
for ix in $(sqlite3 s.db "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'"); do
	grep -qE "INDEX $ix( |$)" plans || fail "no statement reads index $ix"
done

# the check sees a lookup without its index: a bundle's per-community
# lookup of a renewed certificate's successor, without certificates_superseded
cp s.db nox.db
sqlite3 nox.db "DROP INDEX certificates_superseded" || fail "drop index"
check nox.db >nox.out
grep -q "WHERE y.superseded_by = ?" nox.out || { cat nox.out; fail "the check missed a scan"; }
exit 0
