# A keystore that cannot be written (issue 9, R6): the reason names the
# path and the errno, the CA is told to reject the certificates, nothing
# half-written stays, and a rerun after the fix enrolls with the same
# codes. A store left by the old behaviour (resume pointing at an
# incomplete keystore) enrolls again instead of failing for good.
. "$T_SRC/tests/lib.sh"
trap 'stop_ca; [ -n "${MNT:-}" ] && umount "$MNT" 2>/dev/null' EXIT
cd "$T_DIR" || exit 3
passfile
make_manifest m.csv 3 k 4000
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
url="http://$CA_HTTP/pkix/"
reason() { "$PKIROLL" --db "$1" status --json | jq -r --arg c "$2" '.communities[] | select(.community == $c) | .state + "|" + (.reason // "")'; }

# --keystore-dir is a file: ENOTDIR, named
: >notadir
expect_rc 1 "$PKIROLL" --db s.db enroll m.csv --limit 1 --ca-url "$url" --keystore-dir notadir \
	--keystore-pass-file pass
r=$(reason s.db k-1)
case $r in
"failed|keystore not written: keystore directory notadir/k-1: Not a directory; the CA was told to reject"*) ;;
*) fail "k-1: $r" ;;
esac
grep -q "certConf ref=4001 -> pkiConf (rejected by the client)" ca.log || fail "the CA did not hear the rejection: $(tail -5 ca.log)"
# fixed: the same code enrolls (no "incomplete keystore", no new codes)
rm notadir
expect_rc 0 "$PKIROLL" --db s.db enroll m.csv --limit 1 --ca-url "$url" --keystore-dir notadir \
	--keystore-pass-file pass
has "$T_DIR/out" "1 due: 1 enrolled"
[ "$(reason s.db k-1)" = "enrolled|" ] || fail "k-1 after the fix: $(reason s.db k-1)"
"$TOOLS/p12check" pass notadir/k-1 >/dev/null || fail "keystore of k-1"

# what the old code left: step confirm, a keystore path with no keystore
expect_rc 1 "$PKIROLL" --db s.db enroll m.csv --limit 1 --ca-url "$url" --keystore-dir "$T_DIR/ks/x" \
	--keystore-pass-file pass
mkdir -p ks/x
: >ks/x/.partial
sqlite3 s.db "UPDATE communities SET step = 'confirm', keystore = '$T_DIR/ks/x/k-2' WHERE name = 'k-2'"
expect_rc 0 "$PKIROLL" --db s.db enroll m.csv --limit 1 --ca-url "$url" --keystore-dir ks2 \
	--keystore-pass-file pass
has "$T_DIR/out" "1 due: 1 enrolled"
[ "$(reason s.db k-2)" = "enrolled|" ] || fail "k-2: $(reason s.db k-2)"

# a full disk: ENOSPC, named, and no keystore.p12 left with rejected keys
if [ "$(id -u)" = 0 ] && mkdir -p full && mount -t tmpfs -o size=4k tmpfs full 2>/dev/null; then
	MNT=$T_DIR/full
	expect_rc 1 "$PKIROLL" --db s.db enroll m.csv --ca-url "$url" --keystore-dir full \
		--keystore-pass-file pass
	r=$(reason s.db k-3)
	case $r in "failed|keystore not written: full/k-3/"*"No space left on device"*) ;; *) fail "k-3: $r" ;; esac
	[ -z "$(ls -A full/k-3 2>/dev/null)" ] || fail "left behind: $(ls -A full/k-3)"
	umount full && MNT=
	expect_rc 0 "$PKIROLL" --db s.db enroll m.csv --ca-url "$url" --keystore-dir full \
		--keystore-pass-file pass
	has "$T_DIR/out" "1 due: 1 enrolled"
else
	echo "(no tmpfs here: the ENOSPC case is not run)"
fi
exit 0
