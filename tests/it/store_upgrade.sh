# A store of schema 14 (certificates with MD5 and SHA-1 columns, an event
# per CEM request) opened by this version: migrated to 15 (the two columns
# gone), the fingerprints status and the bundle sheet show are computed
# from the DER and match openssl's, and each CEM request shows in history
# once, whether an event recorded it (written before) or only its row.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
printf 'code-a' >ca1
cat >m.csv <<CSV
community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type
acme,6301,file:$T_DIR/ca1,Globex;Initech,CN=Acme,p256,p256
CSV
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
expect_rc 0 "$PKIROLL" --db s.db enroll m.csv --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
expect_rc 0 "$PKIROLL" --db s.db cem --out req --response-url https://gw.example/cem
[ "$(sqlite3 s.db "PRAGMA user_version")" -ge 15 ] || fail "a new store is not at schema 15 or later"
sqlite3 s.db "SELECT name FROM pragma_table_info('certificates')" | grep -qx 'md5\|sha1' \
	&& fail "certificates still has md5 or sha1"

# Phase: back to what schema 14 had: the columns (with wrong values, to
# show they are not read), an event for Globex's request; then any command
# migrates it.
sqlite3 s.db "ALTER TABLE certificates ADD COLUMN md5 TEXT NOT NULL DEFAULT 'M';
	ALTER TABLE certificates ADD COLUMN sha1 TEXT NOT NULL DEFAULT 'S';
	INSERT INTO events (at, community_id, reason) SELECT r.created_at, r.community_id,
	 'CEM request ' || r.request_id || ' to partner Globex written'
	 FROM cem_requests r JOIN partners p ON p.id = r.partner_id WHERE p.name = 'Globex';
	DROP INDEX certificates_dead;
	PRAGMA user_version = 14;" || fail "making a schema 14 store"
expect_rc 0 "$PKIROLL" --db s.db status acme
[ "$(sqlite3 s.db "PRAGMA user_version")" -ge 15 ] || fail "not migrated"
sqlite3 s.db "SELECT name FROM pragma_table_info('certificates')" | grep -qx 'md5\|sha1' \
	&& fail "the migration left md5 or sha1"
for p in Globex Initech; do
	[ "$(grep -c "CEM request pkiroll-[0-9a-f]* to partner $p written" "$T_DIR/out")" = 1 ] \
		|| { cat "$T_DIR/out"; fail "the request to $p is not in history once"; }
done
for u in signing encryption; do
	for h in md5 sha1 sha256; do
		want=$(openssl x509 -in "ks/acme/$u.pem" -noout -fingerprint -$h | cut -d= -f2)
		has "$T_DIR/out" "$want"
	done
done
expect_rc 0 "$PKIROLL" --db s.db bundle --out b
unzip -p b/Globex.zip '*fingerprints.csv' >fp.csv || fail "no fingerprints.csv"
for h in md5 sha1 sha256; do
	want=$(openssl x509 -in ks/acme/signing.pem -noout -fingerprint -$h | cut -d= -f2)
	grep -qF "$want" fp.csv || { cat fp.csv; fail "the sheet lacks the $h fingerprint $want"; }
done
exit 0
