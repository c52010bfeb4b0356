# pkiroll rekey-keystores: every keystore file (keystore.p12, a kept
# keystore-SERIAL.p12, unverified-*.p12) moves to the new passphrase with
# the same keys and certificates; a dry run writes nothing; the wrong
# current passphrase and the same one twice are refused. Crash safety: a
# SIGKILL (the PKIROLL_TEST_REKEY_KILL_AFTER hook) before, at and after
# the store's record, and in the rerun itself; each time a rerun finishes
# the job. Then renew works under the new passphrase, and the old one is
# refused with exit 2 and nothing sent.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 4 r 81000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
printf 'code-wm' >cwm
"$PKIROLL_CA" users add --state ca --ref 81099 --code-file cwm --subject "CN=wm" \
	--fault wrongmac >/dev/null || fail "add wm"
printf 'community,reference_number,authorization_code,subject,key_type,encryption_key_type\nwm,81099,file:%s/cwm,CN=wm,p256,p256\n' \
	"$T_DIR" >wm.csv
printf 'old-passphrase' >old
printf 'new-passphrase' >new
printf 'not-the-one' >wrong
start_ca ca
URL="http://$CA_HTTP/pkix/"
run() {
	local p=$1
	shift
	"$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file "$p"
}
expect_rc 0 run old enroll m.csv --ca-url "$URL"
expect_rc 1 run old enroll wm.csv --ca-url "$URL"
expect_rc 0 run old renew --ca-url "$URL" --community r-1 --now
# a staged keystore whose kur was never reported is moved aside as
# unconfirmed-TIME.p12 (renew_job.c); its key may be certified: it moves too
cp ks/r-2/keystore.p12 ks/r-2/unconfirmed-1700000000.p12
find ks -name '*.p12' | sort >files
grep -q '/r-1/keystore-.*\.p12$' files || fail "no kept keystore-SERIAL.p12"
grep -q '/wm/unverified-.*\.p12$' files || fail "no unverified-*.p12"
grep -q '/r-2/unconfirmed-.*\.p12$' files || fail "no unconfirmed-*.p12"
n=$(wc -l <files)
[ "$n" -ge 6 ] || fail "only $n keystore files"
# what each holds, as openssl reads it: the same after the rekey
dump() { openssl pkcs12 -in "$1" -passin "file:$2" -nodes 2>/dev/null; }
i=0
while read -r f; do
	i=$((i + 1))
	dump "$f" old >"dump.$i" && [ -s "dump.$i" ] || fail "$f does not open with the old passphrase"
done <files

# Phase: refusals and the dry run change nothing.
state() { find ks -type f | sort | xargs sha256sum; sqlite3 s.db "SELECT role, hex(salt) FROM keystore_passphrase"; }
state >before
expect_rc 2 run wrong rekey-keystores --new-pass-file new
has "$T_DIR/err" "does not match the one this store's keystores use"
expect_rc 2 run old rekey-keystores --new-pass-file old
has "$T_DIR/err" "is the current one"
expect_rc 2 run old rekey-keystores
has "$T_DIR/err" "--new-pass-file"
# a wrong keystore directory: nothing to re-wrap there, so nothing may switch
expect_rc 2 "$PKIROLL" --db s.db rekey-keystores --keystore-dir elsewhere \
	--keystore-pass-file old --new-pass-file new
has "$T_DIR/err" "none is under elsewhere"
expect_rc 0 run old rekey-keystores --new-pass-file new --dry-run
has "$T_DIR/out" "$n keystore files, $n would be re-wrapped"
state >after
cmp -s before after || { diff before after; fail "a refused or dry rekey changed something"; }

# Phase: crashes. Step k is the k-th file written (1..n), then renamed
# (n+1..2n); the store's record comes after step n.
cp -a ks ks.orig
cp s.db s.db.orig
restore() { rm -rf ks s.db s.db-wal s.db-shm && cp -a ks.orig ks && cp s.db.orig s.db; }
check_done() {
	local f
	while read -r f; do
		dump "$f" new >/dev/null || fail "$1: $f does not open with the new passphrase"
		dump "$f" old >/dev/null && fail "$1: $f still opens with the old passphrase"
	done <files
	[ -z "$(find ks -name '*.rekey')" ] || fail "$1: .rekey files left"
	[ "$(sqlite3 s.db "SELECT group_concat(role) FROM keystore_passphrase")" = current ] \
		|| fail "$1: the verifier did not switch"
}
for k in 1 $((n - 1)) $n $((n + 1)) $((n + 3)) $((2 * n)); do
	restore
	PKIROLL_TEST_REKEY_KILL_AFTER=$k expect_rc 137 run old rekey-keystores --new-pass-file new
	if [ "$k" -le "$n" ]; then
		# nothing recorded yet: the old passphrase still runs everything
		[ "$(sqlite3 s.db "SELECT count(*) FROM keystore_passphrase WHERE role = 'rekey'")" = 0 ] \
			|| fail "k=$k: the rekey was recorded before every file was written"
		expect_rc 0 run old export r-2 --format p12 --out "x$k.p12" --out-pass-file new
	else
		# recorded: every command refuses until the rekey is finished
		expect_rc 2 run old export r-2 --format p12 --out "x$k.p12" --out-pass-file new
		has "$T_DIR/err" "a keystore rekey was interrupted"
		expect_rc 2 run new renew --ca-url "$URL" --community r-2 --now
		has "$T_DIR/err" "a keystore rekey was interrupted"
		# and a rerun to another new passphrase is refused
		expect_rc 2 run old rekey-keystores --new-pass-file wrong
		has "$T_DIR/err" "an interrupted rekey to another new passphrase"
	fi
	expect_rc 0 run old rekey-keystores --new-pass-file new
	check_done "k=$k"
done
# a crash in the rerun that finishes a crashed rekey
restore
PKIROLL_TEST_REKEY_KILL_AFTER=$((n + 2)) expect_rc 137 run old rekey-keystores --new-pass-file new
PKIROLL_TEST_REKEY_KILL_AFTER=1 expect_rc 137 run old rekey-keystores --new-pass-file new
expect_rc 0 run old rekey-keystores --new-pass-file new
has "$T_DIR/out" "an interrupted rekey finished"
check_done "double crash"
i=0
while read -r f; do
	i=$((i + 1))
	dump "$f" new | cmp -s - "dump.$i" || fail "$f: not the same keys and certificates after the rekey"
done <files

# Phase: renew under the new passphrase; the old one is refused, nothing sent.
expect_rc 0 run new renew --ca-url "$URL" --community r-2 --now
has "$T_DIR/out" "1 renewed"
dump ks/r-2/keystore.p12 new >/dev/null || fail "the renewed keystore is not under the new passphrase"
lines=$(wc -l <"$CA_LOG")
expect_rc 2 run old renew --ca-url "$URL" --community r-3 --now
has "$T_DIR/err" "the keystore passphrase does not match the one this store's keystores use; see pkiroll rekey-keystores"
[ "$(wc -l <"$CA_LOG")" = "$lines" ] || fail "a renew under the old passphrase reached the CA"
# the passphrase itself is nowhere in the store
for p in old-passphrase new-passphrase; do
	grep -qa "$p" s.db && fail "$p is in the store"
done
exit 0
