# make install into a DESTDIR: every file with its mode, an edited
# /etc/pkiroll.conf kept by a second install, the installed program and man
# pages, a man page entry for every configuration key, the example
# configuration's keys and defaults, bash completion for every verb and
# option, the sysusers entry; the unit's own command line (its working
# directory, configuration and passphrase file) enrolls and renews against
# pkiroll-ca; systemd-analyze verify passes on the units.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
R=$T_DIR/root
B_DIR=$(dirname "$(dirname "$PKIROLL")")
# -o all: install what is built in B_DIR, never build (a test must not
# rebuild into the build directory)
inst() { make -s -C "$T_SRC" -o all "$@" B="$B_DIR" DESTDIR="$R" PREFIX=/usr; }

# Phase: the files, and nothing else.
expect_rc 0 inst install
(cd "$R" && find . -printf '%M %p\n' | sort -k2) >"$T_DIR/tree"
cat >"$T_DIR/want" <<'EOF'
drwxr-xr-x .
drwxr-xr-x ./etc
drwx------ ./etc/pkiroll
-rw-r--r-- ./etc/pkiroll.conf
drwxr-xr-x ./lib
drwxr-xr-x ./lib/systemd
drwxr-xr-x ./lib/systemd/system
-rw-r--r-- ./lib/systemd/system/pkiroll-renew.service
-rw-r--r-- ./lib/systemd/system/pkiroll-renew.timer
drwxr-xr-x ./usr
drwxr-xr-x ./usr/bin
-rwxr-xr-x ./usr/bin/pkiroll
drwxr-xr-x ./usr/lib
drwxr-xr-x ./usr/lib/sysusers.d
-rw-r--r-- ./usr/lib/sysusers.d/pkiroll.conf
drwxr-xr-x ./usr/share
drwxr-xr-x ./usr/share/bash-completion
drwxr-xr-x ./usr/share/bash-completion/completions
-rw-r--r-- ./usr/share/bash-completion/completions/pkiroll
drwxr-xr-x ./usr/share/man
drwxr-xr-x ./usr/share/man/man1
-rw-r--r-- ./usr/share/man/man1/pkiroll.1
drwxr-xr-x ./usr/share/man/man5
-rw-r--r-- ./usr/share/man/man5/pkiroll.conf.5
drwxr-xr-x ./var
drwxr-xr-x ./var/lib
drwx------ ./var/lib/pkiroll
EOF
# directories made on the way take the umask; the files' modes are fixed
diff <(grep -v '^d' "$T_DIR/want") <(grep -v '^d' "$T_DIR/tree") || fail "installed files differ"
diff <(awk '{ print $2 }' "$T_DIR/want") <(awk '{ print $2 }' "$T_DIR/tree") ||
	fail "installed directories differ"
for d in etc/pkiroll var/lib/pkiroll; do
	[ "$(stat -c %a "$R/$d")" = 700 ] || fail "$d is not 0700"
done
cmp -s "$PKIROLL" "$R/usr/bin/pkiroll" || fail "the installed program is not the built one"
expect_rc 0 "$R/usr/bin/pkiroll" version
has "$T_DIR/out" "pkiroll 0."
# the test CA only on request
expect_rc 0 inst install-ca
[ -x "$R/usr/bin/pkiroll-ca" ] && [ -f "$R/usr/share/man/man1/pkiroll-ca.1" ] || fail "install-ca"
cmp -s "$PKIROLL_CA" "$R/usr/bin/pkiroll-ca" || fail "the installed CA is not the built one"

# Phase: the unit and the timer say what the service needs.
unit=$R/lib/systemd/system/pkiroll-renew.service
for l in Type=oneshot User=pkiroll StateDirectory=pkiroll StateDirectoryMode=0700 \
	WorkingDirectory=/var/lib/pkiroll UMask=0077 ProtectSystem=strict ReadWritePaths=/var/lib/pkiroll \
	PrivateTmp=yes NoNewPrivileges=yes KillMode=mixed \
	"ExecStart=/usr/bin/pkiroll --config /etc/pkiroll.conf renew --bundle \\"; do
	grep -qxF -- "$l" "$unit" || fail "the unit lacks $l"
done
for l in OnCalendar=daily RandomizedDelaySec=2h Persistent=true WantedBy=timers.target; do
	grep -qxF -- "$l" "$R/lib/systemd/system/pkiroll-renew.timer" || fail "the timer lacks $l"
done
grep -q '@[A-Z]*@' "$unit" "$R/etc/pkiroll.conf" "$R/usr/lib/sysusers.d/pkiroll.conf" &&
	fail "a placeholder was left unsubstituted"

# Phase: the man pages render without a warning, and pkiroll.conf(5) has
# an entry for every key that lib/input/config.c reads.
for page in man1/pkiroll.1 man5/pkiroll.conf.5; do
	groff -man -ww -z "$R/usr/share/man/$page" 2>"$T_DIR/groff" || fail "groff $page"
	[ -s "$T_DIR/groff" ] && { cat "$T_DIR/groff"; fail "groff warns about $page"; }
	MANWIDTH=80 man -l -P cat "$R/usr/share/man/$page" >"$T_DIR/man" 2>"$T_DIR/man.err" ||
		fail "man -l $page"
	[ -s "$T_DIR/man.err" ] && { cat "$T_DIR/man.err"; fail "man -l $page warns"; }
	has "$T_DIR/man" "NAME"
done
MANWIDTH=80 man -l -P cat "$R/usr/share/man/man5/pkiroll.conf.5" >"$T_DIR/man5"
keys=$(grep -oE 'strcmp\(k, "[a-z_0-9]+"\)' "$T_SRC/lib/input/config.c" | cut -d'"' -f2 | sort -u)
[ "$(echo "$keys" | wc -l)" -ge 30 ] || fail "could not read the keys of config.c"
for k in $keys deploy_hook post_hook hook_timeout metrics_file; do
	grep -qE "^\.BI? $k( |$)" "$R/usr/share/man/man5/pkiroll.conf.5" ||
		fail "pkiroll.conf(5) has no entry for $k"
done
for v in PKIROLL_EVENT PKIROLL_COMMUNITY PKIROLL_AS2_ID PKIROLL_KEYSTORE PKIROLL_PREVIOUS_KEYSTORE \
	PKIROLL_SIGNING_CERT PKIROLL_ENCRYPTION_CERT PKIROLL_CHAIN PKIROLL_SERIALS PKIROLL_KEYSTORE_PASS_FILE; do
	has "$T_DIR/man5" "$v"
done

# Phase: the installed configuration parses as it is (no CA yet: ping
# says what to give), and with every line whose key this pkiroll knows
# uncommented its values are valid.
conf=$R/etc/pkiroll.conf
printf 'code' >"$T_DIR/code" && chmod 600 "$T_DIR/code"
expect_rc 2 "$R/usr/bin/pkiroll" --config "$conf" --db "$T_DIR/none.db" ping --reference 1 \
	--code-file "$T_DIR/code"
has "$T_DIR/err" "no CA: give --ca-url URL"
known="^#($(echo $keys | tr ' ' '|')) = |^#\[ca "
grep -qE "$known" "$conf" || fail "no commented key in the example"
sed -E "s/$known/X&/; s/^X#//" "$conf" | grep -vE '^#[a-z_]+ = ' >"$T_DIR/all.conf"
[ "$(grep -cE '^[a-z_]+ = ' "$T_DIR/all.conf")" -ge 30 ] || fail "too few keys uncommented"
expect_rc 0 "$R/usr/bin/pkiroll" --config "$T_DIR/all.conf" --db "$T_DIR/none.db" renew --dry-run

# Phase: a second install keeps an edited configuration.
echo "# edited by the operator" >>"$conf"
cp "$conf" "$T_DIR/conf.edited"
expect_rc 0 inst install
cmp -s "$conf" "$T_DIR/conf.edited" || fail "the second install replaced the edited configuration"
has "$T_DIR/out" "keeping $conf"
[ -f "$conf.dist" ] || fail "no pkiroll.conf.dist beside the kept configuration"

# Phase: uninstall removes what install put in place, and keeps a changed
# configuration and the state directory (keys the CA certified).
R2=$T_DIR/root2
expect_rc 0 make -s -C "$T_SRC" -o all install install-ca B="$B_DIR" DESTDIR="$R2" PREFIX=/usr
expect_rc 0 make -s -C "$T_SRC" uninstall B="$B_DIR" DESTDIR="$R2" PREFIX=/usr
[ "$(find "$R2" -type f | wc -l)" = 0 ] || fail "uninstall left files: $(find "$R2" -type f)"
expect_rc 0 make -s -C "$T_SRC" -o all install B="$B_DIR" DESTDIR="$R2" PREFIX=/usr
echo "# changed" >>"$R2/etc/pkiroll.conf"
touch "$R2/var/lib/pkiroll/pkiroll.db"
expect_rc 0 make -s -C "$T_SRC" uninstall B="$B_DIR" DESTDIR="$R2" PREFIX=/usr
[ "$(cd "$R2" && find . -type f | sort | tr '\n' ' ')" = "./etc/pkiroll.conf ./var/lib/pkiroll/pkiroll.db " ] ||
	fail "uninstall: $(cd "$R2" && find . -type f)"
has "$T_DIR/out" "keeping $R2/etc/pkiroll.conf (changed)"

# Phase: the sysusers entry makes a system user whose home is the state
# directory.
if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$T_DIR/sysroot/etc"
	expect_rc 0 systemd-sysusers --root="$T_DIR/sysroot" "$R/usr/lib/sysusers.d/pkiroll.conf"
	grep -qE '^pkiroll:x:[0-9]+:[0-9]+:[^:]*:/var/lib/pkiroll:/usr/sbin/nologin$' \
		"$T_DIR/sysroot/etc/passwd" || fail "no pkiroll system user"
fi

# Phase: bash completion offers every verb of `pkiroll help` and every
# option each verb's help lists, and the values an option lists.
comp=$R/usr/share/bash-completion/completions/pkiroll
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pkiroll
		printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" pkiroll "$@"
}
verbs=$("$R/usr/bin/pkiroll" help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit }
	on { print $1 }')
[ "$(echo "$verbs" | wc -l)" -ge 15 ] || fail "could not read the verbs"
complete_words "" >"$T_DIR/c.verbs"
for v in $verbs; do
	grep -qxF "$v" "$T_DIR/c.verbs" || fail "completion lacks the verb $v"
	complete_words "$v" -- >"$T_DIR/c.flags"
	"$R/usr/bin/pkiroll" help "$v" | grep -oE '^ +(-[a-z], )?--[a-z][a-z0-9-]*' |
		grep -oE -- '--[a-z0-9-]+$' | while read -r f; do
		grep -qxF -- "$f" "$T_DIR/c.flags" || fail "completion of $v lacks $f"
	done || exit 1
done
complete_words --db x.db export acme --format "" >"$T_DIR/c"
[ "$(sort "$T_DIR/c" | tr '\n' ' ')" = "der p12 p7b pem " ] || fail "export --format values"
complete_words renew --b >"$T_DIR/c"
has "$T_DIR/c" "--bundle-dir"
complete_words revoke x --reason key >"$T_DIR/c"
has "$T_DIR/c" "keyCompromise"
complete_words --config "$T_SRC/examples/pkiroll.conf" enroll m.csv --ca "" >"$T_DIR/c"
has "$T_DIR/c" "rehearsal"
# the generator takes what a verb's help says: a new verb and its options
# are in the completion without a change to it
cat >"$T_DIR/fake" <<EOF
#!/usr/bin/env bash
if [ "\$*" = help ]; then "$PKIROLL" help | sed 's/^  ping /  deploy       run the deploy hooks\n&/'
elif [ "\$*" = "help deploy" ]; then
	printf 'usage: pkiroll deploy [COMMUNITY]... [--deploy-hook CMD] [--hook-timeout S]\n\n  --yes  no question\n'
else "$PKIROLL" "\$@"; fi
EOF
chmod +x "$T_DIR/fake"
"$T_SRC/dist/bash-completion.sh" "$T_DIR/fake" >"$T_DIR/fake.bash" || fail "the generator failed"
comp=$T_DIR/fake.bash
complete_words de >"$T_DIR/c"
has "$T_DIR/c" "deploy"
complete_words deploy -- >"$T_DIR/c"
for f in --deploy-hook --hook-timeout --yes; do has "$T_DIR/c" "$f"; done

# Phase: the unit's command line, as systemd runs it: the operator has put
# a CA profile in /etc/pkiroll.conf and the passphrase in
# /etc/pkiroll/keystore.pass, and enrolled once; then the service runs in
# its working directory with umask 077. Paths are the DESTDIR's.
cd "$T_DIR" || exit 3
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "pkiroll-ca init"
echo "community,reference_number,authorization_code,partners,key_type,encryption_key_type" >m.csv
for i in 1 2; do
	printf 'code-%d' $i >code$i
	echo "unit$i,$((9300 + i)),file:$T_DIR/code$i,Partner A,p256,p256" >>m.csv
done
"$PKIROLL_CA" users import --state ca m.csv >/dev/null || fail "pkiroll-ca users import"
start_ca ca --validity 7200
sed -i "s|/var/lib/pkiroll|$R/var/lib/pkiroll|" "$conf"
printf '[ca test]\nurl = http://%s/pkix/\n' "$CA_HTTP" >>"$conf"
printf 'pass-%s' "$RANDOM$RANDOM" >"$R/etc/pkiroll/keystore.pass"
expect_rc 0 "$R/usr/bin/pkiroll" --config "$conf" enroll m.csv \
	--keystore-pass-file "$R/etc/pkiroll/keystore.pass"
[ -f "$R/var/lib/pkiroll/pkiroll.db" ] && [ -f "$R/var/lib/pkiroll/keystores/unit1/keystore.p12" ] ||
	fail "the first enrollment did not write into the state directory"
expect_rc 0 "$R/usr/bin/pkiroll" --config "$conf" bundle

# the renewed certificates live 60 days: the next run has nothing due
old_url=$CA_HTTP
stop_ca
start_ca ca --validity 5184000
sed -i "s|http://$old_url/|http://$CA_HTTP/|" "$conf"
exec_start=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed 's/^ExecStart=//; s/\\$//' | tr -d '\n\t')
exec_start=$(echo "$exec_start" | sed -E "s#(^| )/(usr|etc)/#\1$R/\2/#g")
read -r -a argv <<<"$exec_start"
[ "${argv[0]}" = "$R/usr/bin/pkiroll" ] || fail "ExecStart is not the installed pkiroll: $exec_start"
wd=$(sed -n 's/^WorkingDirectory=//p' "$unit")
(cd "$R$wd" && umask 0077 && "${argv[@]}") >unit.out 2>unit.err
rc=$?
[ "$rc" = 0 ] || { cat unit.out unit.err; fail "the unit's command exited $rc"; }
has unit.out "renew: 2 due: 2 renewed"
[ "$(grep -c 'http kur signer=' "$CA_LOG")" = 2 ] || fail "the CA did not see 2 kur"
has unit.out "1 zip written in $R/var/lib/pkiroll/bundles"
[ "$(find "$R/var/lib/pkiroll" -perm /077 | wc -l)" = 0 ] ||
	fail "the state directory holds files group or others can read"
# nothing due: silent, exit 0 (the journal gets a line only when there is news)
(cd "$R$wd" && "${argv[@]}") >unit.out 2>unit.err || fail "second run: exit $?"
[ -s unit.out ] || [ -s unit.err ] && { cat unit.out unit.err; fail "a run with nothing due said something"; }
stop_ca

# Phase: systemd-analyze verify on the installed units, the unit's ExecStart
# pointed at the DESTDIR's program and man pages taken from the DESTDIR.
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is not installed"; exit 77; }
mkdir units
sed -E "s#^ExecStart=/usr/#ExecStart=$R/usr/#" "$unit" >units/pkiroll-renew.service
cp "$R/lib/systemd/system/pkiroll-renew.timer" units/
MANPATH=$R/usr/share/man systemd-analyze verify units/pkiroll-renew.service \
	units/pkiroll-renew.timer >verify.out 2>&1 || { cat verify.out; fail "systemd-analyze verify"; }
[ -s verify.out ] && { cat verify.out; fail "systemd-analyze verify warns"; }
exit 0
