# A crash while a keystore is written leaves atomic_write()'s temporary
# (.keystore.p12.XXXXXX, .keystore.p12.staged.XXXXXX: a complete encrypted
# PKCS#12). The next enrollment or renewal of that community removes the
# ones it can prove are its own leftovers (exactly that pattern, a regular
# file of ours, last modified before the run started) and nothing else: not
# a newer one, a symlink, a directory, another user's file, another name.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest m.csv 2 k 62000
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca
URL="http://$CA_HTTP/pkix/"
ks() { "$PKIROLL" --db s.db "$@" --keystore-dir ks --keystore-pass-file pass; }

# leftovers DIR: what a crashed run left, and what only looks like it
leftovers() {
	local d=$1
	mkdir -p "$d"
	printf 'p12' >"$d/.keystore.p12.AbC123"
	printf 'p12' >"$d/.keystore.p12.staged.XyZ789"
	printf 'keep' >"$d/.keystore.p12.AbC1234"        # 7 characters: not mkstemp's
	printf 'keep' >"$d/.keystore.p12.Ab-123"         # not mkstemp's alphabet
	printf 'keep' >"$d/keystore.p12.AbC123"          # no leading dot
	printf 'keep' >"$d/.signing.pem.AbC123"          # another file's temporary
	printf 'keep' >"$d/.keystore.p12.staged.Future"  # newer than the run
	printf 'keep' >"$T_DIR/outside"
	ln -sf "$T_DIR/outside" "$d/.keystore.p12.Link12" # a link, even to a regular file
	mkdir -p "$d/.keystore.p12.Dir123"
	printf 'keep' >"$d/.keystore.p12.Other1"
	chown nobody "$d/.keystore.p12.Other1" 2>/dev/null || rm -f "$d/.keystore.p12.Other1"
	touch -h -d '2 hours ago' "$d"/.keystore.p12.* "$d"/keystore.p12.AbC123 "$d"/.signing.pem.AbC123
	touch -d '+2 hours' "$d/.keystore.p12.staged.Future"
}
# swept DIR: the leftovers went, everything else stayed
swept() {
	local d=$1 f
	for f in .keystore.p12.AbC123 .keystore.p12.staged.XyZ789; do
		[ -e "$d/$f" ] && fail "$d/$f was not removed"
	done
	for f in .keystore.p12.AbC1234 .keystore.p12.Ab-123 keystore.p12.AbC123 .signing.pem.AbC123 \
		.keystore.p12.staged.Future; do
		[ -f "$d/$f" ] || fail "$d/$f was removed"
	done
	[ -L "$d/.keystore.p12.Link12" ] || fail "$d: the symlink was removed"
	[ -f "$T_DIR/outside" ] || fail "the symlink's target was removed"
	[ -d "$d/.keystore.p12.Dir123" ] || fail "$d: the directory was removed"
	if [ "$(id -u)" = 0 ] && [ "$(stat -c %U "$d/.keystore.p12.Other1" 2>/dev/null)" != nobody ]; then
		id nobody >/dev/null 2>&1 && fail "$d: another user's file was removed"
	fi
	has "$T_DIR/err" "$d/.keystore.p12.AbC123: removed"
	return 0
}

# Phase: a first enrollment into a directory a crashed run left.
leftovers ks/k-2
expect_rc 0 ks -v enroll m.csv --ca-url "$URL"
swept ks/k-2
[ -e ks/k-1/.keystore.p12.AbC123 ] && fail "k-1 got leftovers it never had"

# Phase: a renewal.
leftovers ks/k-1
expect_rc 0 ks -v renew --ca-url "$URL" --community k-1
swept ks/k-1
has "$T_DIR/err" "ks/k-1/.keystore.p12.staged.XyZ789: removed"
openssl pkcs12 -in ks/k-1/keystore.p12 -passin file:pass -nokeys -out /dev/null 2>/dev/null \
	|| fail "the renewed keystore does not open"
exit 0
