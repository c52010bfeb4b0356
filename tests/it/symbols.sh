# Every global symbol of libpkiroll.a carries its module's prefix (the
# public pkiroll_, a layer's or a file's name, OpenSSL's ASN.1 template
# names PKR_/d2i_/i2d_): a bare on_step or next_job in a library reads as
# a dependency to whoever greps for it, and may clash with a caller's.
. "$T_SRC/tests/lib.sh"
lib=$(dirname "$PKIROLL")/../lib/libpkiroll.a
[ -f "$lib" ] || fail "no $lib"
modules="pkiroll PKR d2i i2d base ctx text file cmp transport http tcp store keystore manifest
	csv seen config certinfo dn keys bundle sheet cem export job wire wbuf pool worker schedule
	outcome enroll renew revoke hook deploy"
nm -g --defined-only "$lib" >"$T_DIR/nm" 2>/dev/null || fail "nm $lib"
bad=$(awk -v mods="$modules" '
	BEGIN { n = split(mods, m, /[ \t\n]+/); for (i = 1; i <= n; i++) ok[m[i]] = 1 }
	/\.o:$/ { obj = $1; next }
	# the sanitizers add their own (__odr_asan.NAME, __asan_...): not ours
	NF == 3 && $2 ~ /^[TDBRVWC]$/ && $3 !~ /^__/ {
		p = $3; sub(/_.*/, "", p)
		if (!(p in ok) || $3 !~ /_/) print obj " " $3
	}' "$T_DIR/nm")
[ -z "$bad" ] || { echo "$bad"; fail "global symbols without their module's prefix (make them static, or prefix them)"; }
# the check sees the symbols at all
grep -q " T pkiroll_enroll$" "$T_DIR/nm" || fail "nm shows no pkiroll_enroll: the check would pass on anything"
exit 0
