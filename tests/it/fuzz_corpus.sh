# Every fuzz target replays its corpus without a crash (under `make asan`
# with the sanitizers).
. "$T_SRC/tests/lib.sh"

for t in tests/fuzz/fuzz_*.c; do
	n=$(basename "$t" .c)
	c=tests/fuzz/corpus/${n#fuzz_}
	[ -x "$FUZZ_DIR/$n" ] || fail "$FUZZ_DIR/$n not built"
	[ -d "$c" ] || fail "no corpus $c"
	"$FUZZ_DIR/$n" "$c" || fail "$n crashed on its corpus"
done
exit 0
