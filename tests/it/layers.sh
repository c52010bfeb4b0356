# The layers of lib/ (base < x509 < cmp < input < store < out < enroll):
# no #include climbs, and cmd/pkiroll sees the public header only. The
# checker also fails on a copy of the tree with an upward include put in.
. "$T_SRC/tests/lib.sh"
tests/layers.sh . >"$T_DIR/out" 2>&1 || { cat "$T_DIR/out"; fail "an include climbs"; }
mkdir -p "$T_DIR/tree"
cp -r lib cmd "$T_DIR/tree/"
sed -i '0,/^#include "cmp\/cmp.h"/s//#include "cmp\/cmp.h"\n#include "enroll\/pool.h"/' "$T_DIR/tree/lib/cmp/cmp_msg.c"
echo '#include "store/store.h"' >>"$T_DIR/tree/cmd/pkiroll/main.c"
echo '#include "keys.h"' >>"$T_DIR/tree/lib/out/sheet.c"
expect_rc 1 tests/layers.sh "$T_DIR/tree"
has "$T_DIR/out" "lib/cmp/cmp_msg.c:"
has "$T_DIR/out" "cmp includes \"enroll/pool.h\", a layer above it"
has "$T_DIR/out" "cmd/pkiroll/main.c:"
has "$T_DIR/out" "\"keys.h\" does not name its layer"
exit 0
