# What export (and every command with a passphrase file) must not do:
# --force replaces regular files only (not a FIFO, a device node, a
# symbolic link, even one to a regular file or to /proc/self/fd/1); a p12
# of a community whose keystore.p12 is another community's (or an old one)
# is refused; a passphrase file on a FIFO is refused at once instead of
# waited on (timeout only guards against the hang), and one that group or
# others may read is refused as a code file is, unless
# --insecure-code-files.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 2 g 61000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
URL="http://$CA_HTTP/pkix/"
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks; }
expect_rc 0 ks enroll m.csv --ca-url "$URL" --keystore-pass-file pass
(umask 077 && printf 'new-pass-%s' "$RANDOM" >newpass)

# Phase: --force replaces regular files only.
printf 'keep me\n' >target.pem
ln -s target.pem link.pem
ln -s /proc/self/fd/1 fd1
mkfifo fifo.out
for o in link.pem fd1 fifo.out; do
	kind=$(stat -c %F "$o")
	expect_rc 2 "$PKIROLL" --db s.db export g-1 -o "$o" --force
	has "$T_DIR/err" "is not a regular file"
	[ "$(stat -c %F "$o")" = "$kind" ] || fail "--force replaced $o ($kind) with a $(stat -c %F "$o")"
	expect_rc 2 "$PKIROLL" --db s.db export g-1 -o "$o"
	has "$T_DIR/err" "is not a regular file"
done
[ "$(cat target.pem)" = "keep me" ] || fail "the symlink's target changed"
if mknod dev.null c 1 3 2>/dev/null; then
	expect_rc 2 "$PKIROLL" --db s.db export g-1 -o dev.null --force
	[ -c dev.null ] || fail "--force replaced a device node"
fi
ls ./*.tmp-* >/dev/null 2>&1 && fail "a temporary file was left: $(ls ./*.tmp-*)"
# a regular file is still replaced with --force, and stdout still works
printf 'old\n' >plain.pem
expect_rc 0 "$PKIROLL" --db s.db export g-1 -o plain.pem --force
has plain.pem "BEGIN CERTIFICATE"
PKIROLL_EXPORT_PASS=x "$PKIROLL" --db s.db export g-1 --format p12 --keystore-dir ks \
	--keystore-pass-file pass -o - | cat >piped.p12 || fail "p12 to a pipe"
openssl pkcs12 -in piped.p12 -passin pass:x -nokeys -out /dev/null 2>/dev/null || fail "p12 through -o -"

# Phase: a p12 only of the community's own keystore.
cp ks/g-1/keystore.p12 g1.p12.orig
cp ks/g-2/keystore.p12 ks/g-1/keystore.p12
expect_rc 3 ks export g-1 --format p12 -o stolen.p12 --keystore-pass-file pass --out-pass-file newpass
has "$T_DIR/err" "g-1: its keystore.p12 is not its own"
has "$T_DIR/err" "signing certificate is serial"
[ -e stolen.p12 ] && fail "g-2's keys were exported as g-1's"
expect_rc 3 ks export g-1 --format p12 --usage encryption -o stolen.p12 --keystore-pass-file pass \
	--out-pass-file newpass
has "$T_DIR/err" "encryption certificate is serial"
cp g1.p12.orig ks/g-1/keystore.p12
expect_rc 0 ks export g-1 --format p12 -o own.p12 --keystore-pass-file pass --out-pass-file newpass

# Phase: passphrase files: a FIFO is refused, not waited on.
mkfifo pass.fifo
for args in "--keystore-pass-file pass.fifo --out-pass-file newpass" \
	"--keystore-pass-file pass --out-pass-file pass.fifo"; do
	# shellcheck disable=SC2086
	expect_rc 2 timeout 60 "$PKIROLL" --db s.db export g-1 --format p12 -o f.p12 --keystore-dir ks $args
	has "$T_DIR/err" "pass.fifo: is not a regular file"
done
expect_rc 2 timeout 60 "$PKIROLL" --db s.db renew --ca-url "$URL" --keystore-dir ks --keystore-pass-file pass.fifo
has "$T_DIR/err" "pass.fifo: is not a regular file"
expect_rc 2 timeout 60 "$PKIROLL" --db s.db cem --sign --keystore-dir ks --keystore-pass-file pass.fifo \
	--response-url https://gw.example/cem
has "$T_DIR/err" "pass.fifo: is not a regular file"
expect_rc 2 timeout 60 "$PKIROLL" ping --ca-url "$URL" --db s.db --community g-1 --keystore-dir ks \
	--keystore-pass-file pass.fifo
has "$T_DIR/err" "pass.fifo: is not a regular file"

# Phase: a passphrase file group or others may read is refused as a code file is.
cp pass open.pass
chmod 644 open.pass
expect_rc 2 "$PKIROLL" --db s.db export g-1 --format p12 -o o.p12 --keystore-dir ks \
	--keystore-pass-file open.pass --out-pass-file newpass
has "$T_DIR/err" "open.pass: readable or writable by group or others (mode 644): chmod 600 it, or give --insecure-code-files"
expect_rc 2 "$PKIROLL" --db s.db export g-1 --format p12 -o o.p12 --keystore-dir ks \
	--keystore-pass-file pass --out-pass-file open.pass
has "$T_DIR/err" "open.pass: readable or writable by group or others"
expect_rc 2 "$PKIROLL" --db s.db renew --ca-url "$URL" --keystore-dir ks --keystore-pass-file open.pass
has "$T_DIR/err" "open.pass: readable or writable by group or others"
[ -e o.p12 ] && fail "a p12 was written with a world-readable passphrase file"
expect_rc 0 "$PKIROLL" --db s.db export g-1 --format p12 -o o.p12 --keystore-dir ks \
	--keystore-pass-file open.pass --out-pass-file newpass --insecure-code-files
expect_rc 0 "$PKIROLL" --db s.db renew --ca-url "$URL" --keystore-dir ks --keystore-pass-file open.pass \
	--insecure-code-files --community g-2
exit 0
