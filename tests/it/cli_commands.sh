# Global options before or after the command, --help everywhere, exit codes.
. "$T_SRC/tests/lib.sh"

expect_rc 0 "$PKIROLL" help
has "$T_DIR/out" "exit codes:"
for c in enroll renew revoke retire cem cem-response bundle status check import export fingerprint ping rekey-keystores version help; do
	expect_rc 0 "$PKIROLL" "$c" --help
	has "$T_DIR/out" "usage: pkiroll $c"
	expect_rc 0 "$PKIROLL" help "$c"
done
expect_rc 0 "$PKIROLL" --version
has "$T_DIR/out" "pkiroll 0."
# the libraries underneath, as its help says: the OpenSSL and SQLite in use
# are the ones the command-line tools here report
has "$T_DIR/out" "  OpenSSL   OpenSSL $(openssl version | cut -d' ' -f2)"
has "$T_DIR/out" "  SQLite    $(sqlite3 --version | cut -d' ' -f1)"
for l in libzip jansson libxml2 libcurl libcsv inih; do
	grep -Eq "^  $l +[^ ]" "$T_DIR/out" || { cat "$T_DIR/out"; fail "version: no $l line"; }
done
expect_rc 2 "$PKIROLL"
expect_rc 2 "$PKIROLL" frobnicate
has "$T_DIR/err" 'unknown command "frobnicate"'
expect_rc 2 "$PKIROLL" --bogus status
expect_rc 2 "$PKIROLL" export
has "$T_DIR/err" "exactly one COMMUNITY expected"
expect_rc 2 "$PKIROLL" revoke
has "$T_DIR/err" "which COMMUNITY?"
expect_rc 2 "$PKIROLL" revoke x --reason bogus
has "$T_DIR/err" "--reason is keyCompromise"
# renew without a CA is a configuration error that says what to give
expect_rc 2 "$PKIROLL" --db "$T_DIR/none.db" renew
has "$T_DIR/err" "no CA: give --ca-url URL"
expect_rc 2 "$PKIROLL" renew --within 100%
has "$T_DIR/err" "--within takes"
expect_rc 2 "$PKIROLL" enroll m.csv --community x
has "$T_DIR/err" "--community is for pkiroll renew"
# bundle without a store is a store error, not an empty success
expect_rc 3 "$PKIROLL" --db "$T_DIR/none.db" bundle --out "$T_DIR/b"
has "$T_DIR/err" "no such file"

# --db before and after the command, and -q/-v anywhere
db=$T_DIR/x.db
expect_rc 0 "$PKIROLL" --db "$db" import manifests/example.csv
has "$T_DIR/out" "10 added"
expect_rc 0 "$PKIROLL" --db "$db" status
has "$T_DIR/out" "10 communities"
# nothing enrolled yet: no zip, and the exit code says so
expect_rc 1 "$PKIROLL" --db "$db" bundle --out "$T_DIR/b"
has "$T_DIR/out" "5 partners: 0 zips written"
has "$T_DIR/err" "partner Acme: no community has a current certificate"
[ -z "$(ls "$T_DIR/b")" ] || fail "bundle wrote files for a store without certificates"
expect_rc 0 "$PKIROLL" status --db "$db" -q
has "$T_DIR/out" "pending      10"
expect_rc 0 "$PKIROLL" -v status --db="$db"
expect_rc 0 "$PKIROLL" import --db "$db" manifests/example.csv
has "$T_DIR/out" "0 added, 0 updated, 10 unchanged"
# status of a store that does not exist is fatal, and says so
expect_rc 3 "$PKIROLL" --db "$T_DIR/none.db" status
has "$T_DIR/err" "no such file"
[ ! -e "$T_DIR/none.db" ] || fail "status created a store"
expect_rc 2 "$PKIROLL" status --days x --db "$db"
expect_rc 2 "$PKIROLL" --config "$T_DIR/missing.conf" status --db "$db"
has "$T_DIR/err" "missing.conf"
# status lists communities unless --brief
expect_rc 0 "$PKIROLL" --db "$db" status
has "$T_DIR/out" "communities:"
has "$T_DIR/out" "acme-edi"
expect_rc 0 "$PKIROLL" --db "$db" status --brief
grep -q "acme-edi" "$T_DIR/out" && fail "--brief listed communities"
# without --db, the configuration file's db is the store
printf '[pkiroll]\ndb = %s/conf.db\n' "$T_DIR" >"$T_DIR/c.conf"
expect_rc 0 "$PKIROLL" --config "$T_DIR/c.conf" import manifests/example.csv
[ -f "$T_DIR/conf.db" ] || fail "import ignored the config's db"
expect_rc 0 "$PKIROLL" status --config "$T_DIR/c.conf" --brief
has "$T_DIR/out" "10 communities"
# the store file is private
[ "$(stat -c %a "$db")" = 600 ] || fail "store mode $(stat -c %a "$db")"
exit 0
