# One protocolEncrKey per run: the parent makes it before the workers
# start, so every dual-key ir and kur of a run carries the same RSA key
# (the CA logs the low 32 bits of its modulus as kek=), whatever worker
# sends it; the next run makes a new one.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
make_manifest m.csv 8 k 910000
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "users"
start_ca ca

keks() { # the distinct kek= values of the CA's log lines for BODY
	grep " $1 " "$CA_LOG" | grep -o 'kek=[0-9a-f]*' | sort -u
}

# -j 3: every worker gets a job at once, so a key per worker would show
expect_rc 0 "$PKIROLL" --db s.db enroll m.csv -j 3 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "8 due: 8 enrolled, 0 failed"
[ "$(grep -c ' ir .*kek=' "$CA_LOG")" = 8 ] || { cat "$CA_LOG"; fail "8 irs with a protocolEncrKey expected"; }
[ "$(keks ir | wc -l)" = 1 ] || { keks ir; fail "the irs of one run carried more than one protocolEncrKey"; }

expect_rc 0 "$PKIROLL" --db s.db renew --within 1000d --now -j 3 --ca-url "http://$CA_HTTP/pkix/" \
	--keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "8 renewed"
[ "$(grep -c ' kur .*kek=' "$CA_LOG")" = 8 ] || { cat "$CA_LOG"; fail "8 kurs with a protocolEncrKey expected"; }
[ "$(keks kur | wc -l)" = 1 ] || { keks kur; fail "the kurs of one run carried more than one protocolEncrKey"; }
[ "$(keks kur)" != "$(keks ir)" ] || fail "the renewal run reused the enrollment run's protocolEncrKey"
exit 0
