# Our client (tests/tools/cmpc on libpkiroll) against `openssl cmp` acting
# as mock server: ir with PBM over HTTP and certConf, a wrong secret,
# polling, error replies, rejections with failInfo.
. "$T_SRC/tests/lib.sh"
trap stop_mock EXIT
CMPC=${CMPC:-$TOOLS/cmpc}
[ -x "$CMPC" ] || fail "cmpc not built"
cd "$T_DIR" || exit 3

# the mock answers with a fixed certificate: the client gets its key
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj "/CN=Mock CA" -days 2 \
	-out ca.pem 2>/dev/null || fail "CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ee.key \
	-subj "/CN=Mock EE" -out ee.csr 2>/dev/null || fail "EE key"
openssl x509 -req -in ee.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
	-out ee.pem 2>/dev/null || fail "EE cert"
printf 'sekrit-4711' >secret
printf 'not-the-code' >wrong
MOCK="-srv_ref 4711 -srv_secret pass:sekrit-4711 -rsp_cert ee.pem -rsp_capubs ca.pem"
client() { "$CMPC" --url "http://127.0.0.1:$MOCK_PORT/pkix/" --ref 4711 --key ee.key \
	--subject "CN=Requested Name,O=Example" "$@"; }

# ir + certConf with PBM, the default and the Entrust-era SHA-1 parameters
start_mock $MOCK
expect_rc 0 client --secret-file secret
has "$T_DIR/out" "result: ok"
has "$T_DIR/out" "step: confirmed"
has "$T_DIR/out" "caPubs: 1"
has "$T_DIR/out" "subject-changed: yes"
expect_rc 0 client --secret-file secret --owf sha1 --mac hmac-sha1 --iter 1000
# a wrong secret: the reply's MAC does not verify, and we say so
expect_rc 1 client --secret-file wrong
has "$T_DIR/out" "FAULT bad MAC"
has "$T_DIR/out" "MAC did not verify"
stop_mock

# polling: waiting twice, checkAfter 1 s
start_mock $MOCK -poll_count 2 -check_after 1
expect_rc 0 client --secret-file secret
has "$T_DIR/out" "polls: 2"
has "$T_DIR/out" "result: ok"
stop_mock

# implicitConfirm offered and granted
start_mock $MOCK -grant_implicitconf
expect_rc 0 client --secret-file secret --implicit
has "$T_DIR/out" "implicit-confirm: granted"
stop_mock

# an error body
start_mock $MOCK -send_error
expect_rc 1 client --secret-file secret
has "$T_DIR/out" "FAULT rejected: CA error: rejection"
stop_mock

# rejection with failInfo notAuthorized (bit 23) and a status string
start_mock $MOCK -pkistatus 2 -failure 23 -statusstring "reference number already used"
expect_rc 1 client --secret-file secret
has "$T_DIR/out" "rejection (notAuthorized): reference number already used"
stop_mock

# grantedWithMods is a success
start_mock $MOCK -pkistatus 1
expect_rc 0 client --secret-file secret
has "$T_DIR/out" "status: 1"
stop_mock
exit 0
