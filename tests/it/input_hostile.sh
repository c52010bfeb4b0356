# Input a hostile or careless operator gives (issue 9): a FIFO never hangs
# check, import, enroll or pkiroll-ca users import; file: codes that are a
# directory, a FIFO or readable by others are refused with the reason; a
# control character in a DN is refused; a missing manifest exits 2 and
# creates no store; a community name the pipeline cannot carry is refused
# at check, and the longest one it can is enrolled end to end.
. "$T_SRC/tests/lib.sh"
trap 'stop_ca; exec 7>&- 2>/dev/null' EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
hdr="community,reference_number,authorization_code,subject,key_type,encryption_key_type"

# a FIFO as the manifest: refused at once (timeout guards the old hang)
mkfifo fifo.csv
for cmd in check import enroll; do
	expect_rc 2 timeout 20 env PKIROLL_KEYSTORE_PASS=x "$PKIROLL" --db f.db $cmd fifo.csv \
		$([ $cmd = enroll ] && echo --ca-url http://127.0.0.1:9/pkix/)
	has "$T_DIR/err" "fifo.csv: is not a regular file"
done
[ ! -e f.db ] || fail "a store was created for an unreadable manifest"
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
timeout 20 "$PKIROLL_CA" users import --state ca fifo.csv 2>ca.err && fail "users import of a FIFO succeeded"
[ $? != 124 ] || fail "pkiroll-ca users import hung on a FIFO"
has ca.err "is not a regular file"

# a missing manifest: exit 2 for check, import and enroll, nothing created
for cmd in check import enroll; do
	expect_rc 2 env PKIROLL_KEYSTORE_PASS=x "$PKIROLL" --db m.db $cmd missing.csv \
		$([ $cmd = enroll ] && echo --ca-url http://127.0.0.1:9/pkix/)
	has "$T_DIR/err" "missing.csv: No such file or directory"
done
ls m.db* >/dev/null 2>&1 && fail "a store or lock was created for a missing manifest: $(ls m.db*)"

# file: codes: a directory, a FIFO, a group-readable file
mkfifo code.fifo
printf 'open-code' >open.code
chmod 644 open.code
printf 'ok-code' >ok.code
{
	echo "$hdr"
	echo "dir,1001,file:/etc,CN=dir,p256,p256"
	echo "fifo,1002,file:$T_DIR/code.fifo,CN=fifo,p256,p256"
	echo "open,1003,file:$T_DIR/open.code,CN=open,p256,p256"
	echo "ok,1004,file:$T_DIR/ok.code,CN=ok,p256,p256"
} >codes.csv
expect_rc 1 timeout 20 "$PKIROLL" check codes.csv
has "$T_DIR/err" "codes.csv:2: authorization_code: /etc: is a directory"
has "$T_DIR/err" "codes.csv:3: authorization_code: $T_DIR/code.fifo: is not a regular file"
has "$T_DIR/err" "codes.csv:4: authorization_code: $T_DIR/open.code: readable or writable by group or others (mode 644)"
has "$T_DIR/out" "4 rows: 1 good, 3 bad"
expect_rc 1 timeout 20 "$PKIROLL" check codes.csv --insecure-code-files
has "$T_DIR/out" "4 rows: 2 good, 2 bad"
# enroll refuses the open code file and enrolls the rest; with the flag,
# the open one too
"$PKIROLL_CA" users import --state ca codes.csv >/dev/null 2>&1
start_ca ca
url="http://$CA_HTTP/pkix/"
expect_rc 1 timeout 60 "$PKIROLL" --db c.db enroll codes.csv --ca-url "$url" --keystore-dir ks \
	--keystore-pass-file pass
has "$T_DIR/out" "4 rows (3 bad), 1 due: 1 enrolled"
has "$T_DIR/err" "open.code: readable or writable by group or others"
expect_rc 1 timeout 60 "$PKIROLL" --db c.db enroll codes.csv --ca-url "$url" --keystore-dir ks \
	--keystore-pass-file pass --insecure-code-files
has "$T_DIR/out" "4 rows (2 bad), 1 due: 1 enrolled"

# NUL and other control characters in a DN value
{
	echo "$hdr"
	echo 'nul,2001,x,CN=\00nul,p256,p256'
	echo 'esc,2002,x,CN=a\1bb,p256,p256'
	echo 'fine,2003,x,CN=caf\C3\A9,p256,p256'
} >dn.csv
expect_rc 1 "$PKIROLL" check dn.csv
has "$T_DIR/err" "dn.csv:2: subject: unparsable DN: CN: control character 0x00 in value"
has "$T_DIR/err" "dn.csv:3: subject: unparsable DN: CN: control character 0x1b in value"
has "$T_DIR/out" "3 rows: 1 good, 2 bad"

# community names: 256 bytes refused at check, 255 enrolled end to end
n255=$(printf 'n%.0s' $(seq 255))
n256=${n255}x
printf 'long-code' >long.code
{
	echo "$hdr"
	echo "$n256,3001,file:$T_DIR/long.code,CN=long,p256,p256"
	echo "$n255,3002,file:$T_DIR/long.code,CN=long,p256,p256"
} >long.csv
expect_rc 1 "$PKIROLL" check long.csv
has "$T_DIR/err" "long.csv:2: community: longer than 255 bytes"
has "$T_DIR/out" "2 rows: 1 good, 1 bad"
"$PKIROLL_CA" users add --state ca --ref 3002 --code-file long.code --subject CN=long >/dev/null || fail "add"
expect_rc 1 timeout 60 "$PKIROLL" --db l.db enroll long.csv --ca-url "$url" --keystore-dir ksl \
	--keystore-pass-file pass
has "$T_DIR/out" "2 rows (1 bad), 1 due: 1 enrolled"
expect_rc 0 "$PKIROLL" --db l.db status --json
[ "$(jq -r --arg c "$n255" '.communities[] | select(.community == $c) | .state' "$T_DIR/out")" = enrolled ] \
	|| fail "the 255-byte community is not enrolled"
exit 0
