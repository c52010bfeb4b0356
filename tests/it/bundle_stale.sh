# bundle --stale rebuilds exactly the partners whose last bundle holds a
# certificate revoked, replaced or of a community retired since, each
# reason on its own partner; with none of these, nothing.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
for i in 1 2 3 4; do printf 'code-%s' "$i" >"c$i"; done
cat >m.csv <<CSV
community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type,dual
c1,6401,file:$T_DIR/c1,PA,CN=C1,p256,p256,no
c2,6402,file:$T_DIR/c2,PB,CN=C2,p256,p256,no
c3,6403,file:$T_DIR/c3,PC,CN=C3,p256,p256,no
c4,6404,file:$T_DIR/c4,PA;PB;PC;PD,CN=C4,p256,p256,no
CSV
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
URL="http://$CA_HTTP/pkix/"
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }
expect_rc 0 ks enroll m.csv --ca-url "$URL"
expect_rc 0 "$PKIROLL" --db s.db bundle --out b
# rebuilt PARTNER...: bundle --stale rewrites exactly these partners' zips
rebuilt() {
	local want="$*" got
	"$PKIROLL" --db s.db bundle --out b --stale -v >out.log 2>&1
	got=$(grep -o 'partner P[A-D]: b/' out.log | cut -c9-10 | sort -u | paste -sd' ')
	[ "$got" = "$want" ] || { cat out.log; fail "bundle --stale rebuilt '$got', want '$want'"; }
}
rebuilt ""
expect_rc 0 ks revoke c1 --reason keyCompromise --yes --ca-url "$URL"
rebuilt PA
rebuilt ""
expect_rc 0 ks retire c2
rebuilt PB
expect_rc 0 ks renew --ca-url "$URL" --community c3
rebuilt PC
rebuilt ""
exit 0
