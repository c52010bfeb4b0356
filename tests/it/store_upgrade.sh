# A store of schema 14 (certificates with MD5 and SHA-1 columns, an event
# per CEM request, requests by whole path) opened by this version: migrated
# (the two columns gone, requests recorded before keep their path and
# bundle --cem finds them), the fingerprints status and the bundle sheet
# show are computed from the DER and match openssl's, and each CEM request
# shows in history once, whether an event recorded it (written before) or
# only its row.
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
	UPDATE cem_requests SET path = (SELECT d.path FROM cem_dirs d
	 WHERE d.id = cem_requests.dir_id) || '/' || path WHERE dir_id IS NOT NULL;
	ALTER TABLE cem_requests DROP COLUMN dir_id;
	DROP TABLE cem_dirs;
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
# the requests recorded by whole path before schema 17 are still found
[ "$(sqlite3 s.db "SELECT count(*) FROM cem_requests WHERE dir_id IS NULL AND path LIKE '/%'")" = 2 ] \
	|| fail "the migration changed the requests recorded before it"
expect_rc 0 "$PKIROLL" --db s.db bundle --out b2 --cem
for p in Globex Initech; do
	unzip -l "b2/$p.zip" | grep -q 'cem/acme-pkiroll-[0-9a-f]*\.mime' \
		|| fail "bundle --cem lost $p's request recorded before schema 17"
done
# and a new one is recorded by its directory
expect_rc 0 "$PKIROLL" --db s.db cem --out req --reissue --response-url https://gw.example/cem
[ "$(sqlite3 s.db "SELECT count(*) FROM cem_requests WHERE dir_id IS NOT NULL AND path NOT LIKE '%/%'")" = 2 ] \
	|| fail "a request after the migration not recorded by directory and name"
exit 0
