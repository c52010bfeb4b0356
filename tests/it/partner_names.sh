# Partner names are limited as community names are (255 bytes): a longer
# one is a row error at check and import, naming the line and the field,
# instead of being cut to 255 later in bundling (where two partners with
# the same first 255 bytes became one). A 255-byte name goes through whole.
. "$T_SRC/tests/lib.sh"
cd "$T_DIR" || exit 3
long=$(printf 'P%.0s' $(seq 255))
cat >m.csv <<CSV
community,reference_number,authorization_code,partners
ok,7001,code-1,$long;Short
over,7002,code-2,${long}X;Short
over2,7003,code-3,Short;${long}Y
CSV
expect_rc 1 "$PKIROLL" check m.csv
has "$T_DIR/out" "3 rows: 1 good, 2 bad"
has "$T_DIR/err" "m.csv:3: partners: partner \"PPPP"
has "$T_DIR/err" "is 256 bytes, longer than 255"
has "$T_DIR/err" "m.csv:4: partners: partner"
expect_rc 1 "$PKIROLL" --db s.db import m.csv
has "$T_DIR/err" "m.csv:3: partners:"
n=$(sqlite3 s.db "SELECT count(*) FROM partners WHERE length(name) > 255")
[ "$n" = 0 ] || fail "$n partner names over 255 bytes in the store"
[ "$(sqlite3 s.db "SELECT length(name) FROM partners WHERE name LIKE 'PPP%'")" = 255 ] \
	|| fail "the 255-byte partner is not stored whole"
[ "$(sqlite3 s.db "SELECT group_concat(name) FROM communities")" = ok ] || fail "the bad rows were imported"
exit 0
