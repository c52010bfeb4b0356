# Names on disk and in zips (issue 9, R3 R4 R7): every community has its
# own keystore directory, recorded in the store, and a collision is refused
# before any request; partners never share a zip; a bundle's entries never
# collide with its own files, with Windows device names, or with each other
# on a case-insensitive system.
. "$T_SRC/tests/lib.sh"
trap stop_ca EXIT
cd "$T_DIR" || exit 3
passfile
umask 077
"$PKIROLL_CA" init --state ca --key-type p256 >/dev/null || fail "init"
names=("col/x" "col_x-a44d7c81" "fingerprints.txt" "SHA256SUMS" "ca" "CON" "aux.txt" "trail." "Acme" "acme")
{
	echo "community,reference_number,authorization_code,partners,subject,key_type,encryption_key_type"
	i=0
	for n in "${names[@]}"; do
		i=$((i + 1))
		printf "code-%d" $i >code$i
		echo "\"$n\",$((5000 + i)),file:$T_DIR/code$i,P;a b;a_b-c8687a08,CN=n$i,p256,p256"
	done
} >n.csv
"$PKIROLL_CA" users import --state ca n.csv >/dev/null || fail "users"
start_ca ca
url="http://$CA_HTTP/pkix/"
expect_rc 0 "$PKIROLL" check n.csv
expect_rc 0 "$PKIROLL" --db s.db enroll n.csv --ca-url "$url" --keystore-dir ks --keystore-pass-file pass
has "$T_DIR/out" "10 due: 10 enrolled"

# R3: ten directories, one per community, as the store records them, and
# each holds that community's certificate
[ "$(ls ks | wc -l)" = 10 ] || fail "keystore directories: $(ls ks)"
[ "$(sqlite3 s.db 'SELECT count(DISTINCT keystore_dir) FROM communities')" = 10 ] || fail "keystore_dir not recorded"
while IFS='|' read -r name dir; do
	[ -d "ks/$dir" ] || fail "$name: no directory ks/$dir"
	want=$(sqlite3 s.db "SELECT sha256 FROM certificates x JOIN communities c ON c.id = x.community_id
		WHERE c.name = '$name' AND x.usage = 'signing' AND x.superseded_by IS NULL")
	got=$(openssl x509 -in "ks/$dir/signing.cer" -inform DER -noout -fingerprint -sha256 | cut -d= -f2)
	[ "$got" = "$want" ] || fail "$name: ks/$dir holds another community's certificate"
done < <(sqlite3 s.db "SELECT name, keystore_dir FROM communities")
[ "$(sqlite3 s.db "SELECT keystore_dir FROM communities WHERE name = 'col_x-a44d7c81'")" != col_x-a44d7c81 ] \
	|| fail "a name that looks changed kept its form"

# R3: a name whose directory another community holds is refused at import,
# before any request
sqlite3 s.db "UPDATE communities SET keystore_dir = 'zz' WHERE name = 'ca'"
printf 'code-zz' >codezz
printf 'community,reference_number,authorization_code\nzz,5099,file:%s/codezz\n' "$T_DIR" >zz.csv
"$PKIROLL_CA" users add --state ca --ref 5099 --code-file codezz --subject CN=zz >/dev/null
expect_rc 1 "$PKIROLL" --db s.db enroll zz.csv --ca-url "$url" --keystore-dir ks --keystore-pass-file pass
has "$T_DIR/err" "zz.csv:2: community: its keystore directory \"zz\" is already that of community \"ca\" in the store"
has "$T_DIR/out" "0 due"
grep -q "ref=5099" ca.log && fail "a request was sent for the refused community"

# R4: partners "a b" and "a_b-c8687a08" get a zip each
expect_rc 0 "$PKIROLL" --db s.db bundle --out b
[ "$(ls b/*.zip | wc -l)" = 3 ] || fail "zips: $(ls b)"
[ "$(sqlite3 s.db 'SELECT count(DISTINCT path) FROM bundles')" = 3 ] || fail "bundle paths recorded: $(sqlite3 s.db 'SELECT path FROM bundles')"

# R7: the entries of one zip
z=b/P.zip
unzip -tq "$z" >/dev/null || fail "unzip -t $z"
unzip -Z1 "$z" >entries
[ "$(wc -l <entries)" = "$(tr 'A-Z' 'a-z' <entries | sort -u | wc -l)" ] || fail "entries differ only in case: $(cat entries)"
# every path component is safe on Windows
tr '/' '\n' <entries | grep -iE '^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\.|$)|[. ]$|[<>:"\\|?*]' \
	&& fail "an entry Windows cannot hold"
# the community folders do not shadow the bundle's own files
[ "$(grep -c '^fingerprints.txt$' entries)" = 1 ] && [ "$(grep -c '^SHA256SUMS$' entries)" = 1 ] \
	|| fail "bundle files shadowed: $(cat entries)"
[ "$(grep '^ca/' entries | sort)" = "$(printf 'ca/chain.p7b\nca/chain.pem')" ] || fail "a community inside ca/: $(grep '^ca/' entries)"
# extracted where case does not count (unzip -LL lowercases every name): all of it
mkdir lower && (cd lower && unzip -qq -n -LL "../$z") || fail "unzip -LL"
[ "$(find lower -type f | wc -l)" = "$(grep -vc '/$' entries)" ] || fail "files lost where case does not count"
mkdir plain && (cd plain && unzip -qq "../$z" && sha256sum -c --quiet SHA256SUMS) || fail "sha256sum -c"
exit 0
