# The layers of lib/ (base < x509 < cmp < input < store < out < enroll):
# no #include climbs, cmd/pkiroll sees the public header only, cmd/pkiroll-ca
# the library only through lib/ca_internal.h; no two files of one folder
# call each other (read from the objects with nm), and pkiroll-ca calls
# exactly the library functions its contract declares. The checker also
# fails on a copy of the tree with an upward include, a circle, a loop and
# a broken contract put in.
. "$T_SRC/tests/lib.sh"
B=$(dirname "$(dirname "$PKIROLL")")
tests/layers.sh . "$B" >"$T_DIR/out" 2>&1 || { cat "$T_DIR/out"; fail "an include climbs, a circle, or pkiroll-ca's contract"; }
# the worker's loop calls the jobs, the jobs call its kit: no circle, known or not
grep -q "^lib/enroll:" "$T_DIR/out" && { cat "$T_DIR/out"; fail "lib/enroll: a circle between the worker's files"; }

# includes
mkdir -p "$T_DIR/tree"
cp -r lib cmd include "$T_DIR/tree/"
sed -i '0,/^#include "cmp\/cmp.h"/s//#include "cmp\/cmp.h"\n#include "enroll\/pool.h"/' "$T_DIR/tree/lib/cmp/cmp_msg.c"
echo '#include "store/store.h"' >>"$T_DIR/tree/cmd/pkiroll/main.c"
echo '#include "keys.h"' >>"$T_DIR/tree/lib/write/sheet.c"
echo '#include "cmp/cmp.h"' >>"$T_DIR/tree/cmd/pkiroll-ca/reply.c"
echo '#include "ca_internal.h"' >>"$T_DIR/tree/lib/cmp/cmp_server.c"
expect_rc 1 tests/layers.sh "$T_DIR/tree"
has "$T_DIR/out" "lib/cmp/cmp_msg.c:"
has "$T_DIR/out" "cmp includes \"enroll/pool.h\", a layer above it"
has "$T_DIR/out" "cmd/pkiroll/main.c:"
has "$T_DIR/out" "\"keys.h\" does not name its layer"
has "$T_DIR/out" "cmd/pkiroll-ca includes \"cmp/cmp.h\"; the library only through \"ca_internal.h\""
has "$T_DIR/out" "\"ca_internal.h\" does not name its layer"

# calls: a circle of two files, a loop of three, a contract that lies
fb=$T_DIR/build
mkdir -p "$fb/obj/cmd/pkiroll-ca" "$fb/obj/lib/x509" "$fb/lib"
cp "$B"/obj/cmd/pkiroll-ca/*.o "$fb/obj/cmd/pkiroll-ca/"
cp "$B/lib/libpkiroll.a" "$fb/lib/"
obj() { # DIR FILE CALLS: FILE.o defines FILE_f() and calls CALLS_f()
	printf 'void %s_f(void);\nvoid %s_f(void);\nvoid %s_f(void) { %s_f(); }\n' "$3" "$2" "$2" "$3" >"$T_DIR/$2.c"
	cc -c -o "$fb/obj/$1/$2.o" "$T_DIR/$2.c" || fail "cc $2.c"
}
obj cmd/pkiroll-ca circa circb
obj cmd/pkiroll-ca circb circa
obj lib/x509 loopa loopb
obj lib/x509 loopb loopc
obj lib/x509 loopc loopa
rm -rf "$T_DIR/tree" && mkdir -p "$T_DIR/tree" && cp -r lib cmd include "$T_DIR/tree/"
# the objects' sources (an object without one is a leftover of a renamed
# file: stale, not checked)
for f in cmd/pkiroll-ca/circa cmd/pkiroll-ca/circb lib/x509/loopa lib/x509/loopb lib/x509/loopc; do
	: >"$T_DIR/tree/$f.c"
done
obj lib/x509 stalea staleb
obj lib/x509 staleb stalea
sed -i '/^int cmp_random(/d' "$T_DIR/tree/lib/ca_internal.h"
sed -i 's/^#endif/void cmp_not_called(void);\n#endif/' "$T_DIR/tree/lib/ca_internal.h"
expect_rc 1 tests/layers.sh "$T_DIR/tree" "$fb"
has "$T_DIR/out" "cmd/pkiroll-ca: circle: circa.c <-> circb.c (circa.c calls circb_f; circb.c calls circa_f)"
has "$T_DIR/out" "lib/x509: a loop of calls: loop"
grep -q stale "$T_DIR/out" && { cat "$T_DIR/out"; fail "objects without a source were checked"; }
has "$T_DIR/out" "cmd/pkiroll-ca: calls cmp_random, which is neither in lib/ca_internal.h nor public"
has "$T_DIR/out" "lib/ca_internal.h: cmp_not_called is not called by pkiroll-ca"
exit 0
