# Crashes and signals: kill -9 of a worker, kill -9 of the parent and a
# rerun, SIGINT and a rerun. Nothing is lost, no code is used twice, and no
# secret reaches the store, the logs, file names or any process's argv.
. "$T_SRC/tests/lib.sh"
trap 'stop_ca; [ -n "${RUN:-}" ] && kill -9 $RUN 2>/dev/null' EXIT
cd "$T_DIR" || exit 3
passfile
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
make_manifest a.csv 40 a 100000
make_manifest b.csv 40 b 200000
make_manifest c.csv 40 c 300000
make_manifest d.csv 40 d 400000
for m in a b c d; do "$PKIROLL_CA" users import --state ca $m.csv >/dev/null || fail "users $m"; done
start_ca ca --fault delay=300
URL="http://$CA_HTTP/pkix/"
enroll() { "$PKIROLL" --db s.db enroll "$1" -j 4 --ca-url "$URL" --keystore-dir ks \
	--keystore-pass-file pass; }
# in the background, $! must be pkiroll itself, not a subshell
bg_enroll() { "$PKIROLL" --db s.db enroll "$1" -j 4 --ca-url "$URL" --keystore-dir ks \
	--keystore-pass-file pass >"$2.out" 2>"$2.err" & RUN=$!; }
workers() { pgrep -P "$1" | head -${2:-1}; }

# Phase: kill -9 of a worker mid-run; the run replaces it and finishes.
bg_enroll a.csv a
sleep 1.2
w=$(workers $RUN)
[ -n "$w" ] || fail "no worker to kill"
ps -o args= -p "$(pgrep -d, -P $RUN),$RUN" >argv.txt 2>/dev/null
kill -9 "$w"
wait $RUN
rc=$?
RUN=
[ "$rc" = 0 ] || { cat a.out a.err; fail "run with a killed worker exited $rc"; }
grep -q "40 due: 40 enrolled" a.out || { cat a.out; fail "not all enrolled after a worker died"; }
grep -q "killed by signal 9" a.err || fail "the lost worker is not reported"

# Phase: kill -9 of the parent mid-run, then a rerun finishes the rest.
bg_enroll b.csv b1
sleep 1.5
kill -9 $RUN
wait $RUN 2>/dev/null
RUN=
for _ in $(seq 50); do pgrep -f "enroll b.csv" >/dev/null || break; sleep 0.1; done
expect_rc 0 enroll b.csv
has "$T_DIR/out" "enrolled, 0 failed, 0 need new codes"
expect_rc 0 "$PKIROLL" --db s.db status --json
jq -e '.states.enrolled == 80 and .states.enrolling == 0' "$T_DIR/out" >/dev/null \
	|| { jq .states "$T_DIR/out"; fail "after the parent's crash and a rerun"; }

# Phase: SIGINT stops taking work, records everything, exits 130; a rerun resumes.
bg_enroll c.csv c1
sleep 1.2
kill -INT $RUN
wait $RUN
rc=$?
RUN=
[ "$rc" = 130 ] || { cat c1.out; fail "SIGINT: exit $rc, want 130"; }
grep -q "interrupted" c1.out || fail "no summary after SIGINT"
expect_rc 0 enroll c.csv
expect_rc 0 "$PKIROLL" --db s.db status --json
jq -e '.states.enrolled == 120 and .total == 120' "$T_DIR/out" >/dev/null || fail "after SIGINT"

# Phase: SIGTERM: 143 (128 + 15, as a shell reports it), and what the summary says finished is in the store.
bg_enroll d.csv d1
sleep 1.2
kill -TERM $RUN
wait $RUN
rc=$?
RUN=
[ "$rc" = 143 ] || { cat d1.out d1.err; fail "SIGTERM: exit $rc, want 143"; }
done_d=$(sed -n 's/.* due: \([0-9]*\) enrolled.*interrupted.*/\1/p' d1.out)
[ -n "$done_d" ] && [ "$done_d" -lt 40 ] || { cat d1.out; fail "SIGTERM: no interrupted summary"; }
expect_rc 0 "$PKIROLL" --db s.db status --json
jq -e ".states.enrolled == $((120 + done_d)) and .states.enrolling == 0" "$T_DIR/out" >/dev/null ||
	{ jq .states "$T_DIR/out"; fail "after SIGTERM: the store does not hold the $done_d finished"; }
expect_rc 0 enroll d.csv

# No code was used twice: one confirmed signing certificate per reference.
expect_rc 0 "$PKIROLL_CA" issued --state ca
dup=$(awk -F'\t' '$2 == "signing" && $3 == "confirmed" { print $4 }' "$T_DIR/out" | sort | uniq -d)
[ -z "$dup" ] || fail "reference numbers confirmed twice: $dup"
"$TOOLS/p12check" pass ks/* >p12.out || { tail -3 p12.out; fail "keystores"; }

# Secrets: codes and the passphrase are nowhere they should not be.
"$PKIROLL" --db s.db status >/dev/null   # checkpoint the WAL into s.db
secrets=$(cat pass; echo; cat codes/* | tr -d '\n' | sed 's/AUTH-/\nAUTH-/g')
grep -a -F -f <(printf '%s\n' "$secrets" | grep .) s.db* *.out *.err argv.txt >leaks.txt 2>/dev/null \
	&& { head -3 leaks.txt; fail "a secret is in the store, a log or argv"; }
ls -R ks | grep -F -f <(printf '%s\n' "$secrets" | grep .) && fail "a secret in a file name"
grep -a -r -F "$(cat pass)" ks && fail "the passphrase in a keystore file"
grep -a -r -F "AUTH-a-00001" ks && fail "a code in a keystore file"
exit 0
