#!/usr/bin/env bash
# The layer check.
#
# Includes (read from the sources): an #include never climbs. In lib/, a
# file of a layer includes headers of its own layer or of a layer below,
# named by folder ("cmp/cmp.h"). A header at the top of lib/ (lib/*.h) is
# a contract with a sibling program: it may include any layer, and no file
# of lib/ includes it. cmd/pkiroll includes the public header only;
# cmd/pkiroll-ca includes its contract, lib/ca_internal.h, and its own
# headers only (system and OpenSSL headers, <...>, are not checked).
#
# Calls (read from the objects, when BUILD_DIR is given): the linker's
# view, by nm. File A calls file B when A.o needs a global symbol that B.o
# defines; static functions are no edge (they cannot cross files), and
# macros and inline functions are none either (they leave no symbol). This
# is more robust than reading C for calls: it sees what is compiled, after
# the preprocessor, and names no false edge for a local of the same name.
#  - A circle between files of one folder (A calls B and B calls A, or a
#    longer loop, found by tsort) fails, unless it is a known circle below
#    (listed on every run, and named when it is gone).
#  - pkiroll-ca's objects call no library function that is neither
#    declared in lib/ca_internal.h nor public (include/pkiroll.h), and each
#    function declared in lib/ca_internal.h is called.
#
# Prints every finding as FILE:LINE: or FOLDER: and exits 1 if there is one.
# usage: tests/layers.sh [ROOT [BUILD_DIR]]
set -u
root=${1:-.}
build=${2:-}
# lowest first
layers=(base x509 cmp input store write enroll)
contract=lib/ca_internal.h
# Circles known and not yet broken: "FOLDER: A <-> B", object names
# without .o, either order; B may be a pattern. None today.
known=()
rank() {
	local i
	for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
	echo -1
}
bad=0

# ---- includes ----
for f in "$root"/lib/*/*.[ch]; do
	[ -e "$f" ] || continue
	layer=$(basename "$(dirname "$f")")
	me=$(rank "$layer")
	if [ "$me" -lt 0 ]; then
		echo "${f#$root/}: lib/$layer is not a layer (${layers[*]})"
		bad=1
		continue
	fi
	while IFS=: read -r line inc; do
		inc=${inc#\#include \"}
		inc=${inc%%\"*}
		case $inc in
		pkiroll.h) continue ;;
		*/*) ;;
		*) echo "${f#$root/}:$line: \"$inc\" does not name its layer"; bad=1; continue ;;
		esac
		to=$(rank "${inc%%/*}")
		if [ "$to" -lt 0 ] || [ "$to" -gt "$me" ]; then
			echo "${f#$root/}:$line: $layer includes \"$inc\", a layer above it"
			bad=1
		fi
	done < <(grep -n '^#include "' "$f")
done
for f in "$root"/lib/*.h; do
	[ -e "$f" ] || continue
	while IFS=: read -r line inc; do
		inc=${inc#\#include \"}
		inc=${inc%%\"*}
		[ "$inc" = pkiroll.h ] && continue
		if [ "$(rank "${inc%%/*}")" -lt 0 ] || [ ! -e "$root/lib/$inc" ]; then
			echo "${f#$root/}:$line: a contract includes \"$inc\", not a layer's header"
			bad=1
		fi
	done < <(grep -n '^#include "' "$f")
done
for f in "$root"/cmd/pkiroll/*.[ch]; do
	[ -e "$f" ] || continue
	grep -n '^#include "' "$f" | grep -v '"pkiroll.h"\|"cli.h"' | while IFS= read -r l; do
		echo "${f#$root/}:${l%%:*}: cmd/pkiroll includes a library-internal header"
	done | grep . && bad=1
done
for f in "$root"/cmd/pkiroll-ca/*.[ch]; do
	[ -e "$f" ] || continue
	while IFS=: read -r line inc; do
		inc=${inc#\#include \"}
		inc=${inc%%\"*}
		[ "$inc" = "${contract#lib/}" ] && continue
		case $inc in */*) ;; *) [ -e "$root/cmd/pkiroll-ca/$inc" ] && continue ;; esac
		echo "${f#$root/}:$line: cmd/pkiroll-ca includes \"$inc\"; the library only through \"${contract#lib/}\""
		bad=1
	done < <(grep -n '^#include "' "$f")
done

[ -n "$build" ] || exit $bad

# ---- calls ----
# Global symbols an object defines, and those it needs: "SYMBOL FILE" lines.
defs() { local o; for o in "$@"; do nm -g --defined-only "$o" | awk -v f="$(basename "$o" .o)" 'NF == 3 { print $3, f }'; done; }
needs() { local o; for o in "$@"; do nm -u "$o" | awk -v f="$(basename "$o" .o)" '{ print $NF, f }'; done; }
is_known() { # FOLDER A B
	local k
	for k in "${known[@]}"; do
		# shellcheck disable=SC2053
		[[ "$1: $2 <-> $3" == $k || "$1: $3 <-> $2" == $k ]] && return 0
	done
	return 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
seen_known=
checked=
for dir in "$build"/obj/lib/* "$build"/obj/cmd/*; do
	objs=()
	# an object whose source is gone (a file renamed since that build) is
	# not part of the program
	for o in "$dir"/*.o; do
		src=${o#"$build"/obj/}
		[ -e "$root/${src%.o}.c" ] && objs+=("$o")
	done
	[ "${#objs[@]}" -gt 0 ] || continue
	folder=${dir#"$build"/obj/}
	checked="$checked|$folder|"
	defs "${objs[@]}" | sort >"$tmp/def"
	# edges "A B SYMBOL": A needs SYMBOL, which B defines
	needs "${objs[@]}" | sort | join "$tmp/def" - | awk '$2 != $3 { print $3, $2, $1 }' | sort -u >"$tmp/edges"
	new=0
	while read -r a b; do
		syms_ab=$(awk -v a="$a" -v b="$b" '$1 == a && $2 == b { print $3 }' "$tmp/edges" | head -3 | tr '\n' ' ')
		syms_ba=$(awk -v a="$a" -v b="$b" '$1 == b && $2 == a { print $3 }' "$tmp/edges" | head -3 | tr '\n' ' ')
		if is_known "$folder" "$a" "$b"; then
			echo "$folder: known circle: $a.c <-> $b.c ($a.c calls ${syms_ab% }; $b.c calls ${syms_ba% })"
			seen_known="$seen_known|$folder: $a <-> $b"
		else
			echo "$folder: circle: $a.c <-> $b.c ($a.c calls ${syms_ab% }; $b.c calls ${syms_ba% })"
			bad=1
			new=1
		fi
	done < <(awk '{ e[$1 " " $2] = 1 } END { for (k in e) { split(k, p, " "); if (p[1] < p[2] && (p[2] " " p[1]) in e) print k } }' "$tmp/edges")
	# a longer loop (A -> B -> C -> A), the known circles taken out
	if [ "$new" = 0 ]; then
		awk '{ print $1, $2 }' "$tmp/edges" | sort -u | while read -r a b; do
			is_known "$folder" "$a" "$b" && awk -v a="$a" -v b="$b" '$1 == b && $2 == a { f = 1 } END { exit !f }' "$tmp/edges" && continue
			echo "$a $b"
		done | tsort 2>"$tmp/loop" >/dev/null
		if grep -q 'contains a loop' "$tmp/loop"; then
			loop=$(grep -v 'contains a loop' "$tmp/loop" | sed 's/^tsort: //' | tr '\n' ' ')
			echo "$folder: a loop of calls: ${loop% }"
			bad=1
		fi
	fi
done
for k in "${known[@]}"; do
	case $k in *'*'*) continue ;; esac
	case $checked in *"|${k%%: *}|"*) ;; *) continue ;; esac
	case $seen_known in *"|$k"*) continue ;; esac
	b=${k##* <-> }
	a=${k%% <-> *}
	case $seen_known in *"|${a%%: *}: $b <-> ${a#*: }"*) continue ;; esac
	echo "tests/layers.sh: \"$k\" is no circle any more: take it off the known list"
done

# ---- pkiroll-ca's contract ----
lib=$build/lib/libpkiroll.a
cas=("$build"/obj/cmd/pkiroll-ca/*.o)
if [ -e "$lib" ] && [ -e "${cas[0]}" ] && [ -e "$root/$contract" ]; then
	# function names declared at the start of a line: "TYPE *name(" or "TYPE name("
	declared() { sed -n 's/^[A-Za-z][^(;]*[ *]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$@" | sort -u; }
	declared "$root/$contract" >"$tmp/contract"
	declared "$root"/include/*.h >"$tmp/public"
	nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/libdef"
	needs "${cas[@]}" | awk '{ print $1 }' | sort -u | comm -12 "$tmp/libdef" - >"$tmp/used"
	for s in $(comm -23 "$tmp/used" "$tmp/contract" | comm -23 - "$tmp/public"); do
		echo "cmd/pkiroll-ca: calls $s, which is neither in $contract nor public"
		bad=1
	done
	for s in $(comm -23 "$tmp/contract" "$tmp/used"); do
		echo "$contract: $s is not called by pkiroll-ca: take it out"
		bad=1
	done
fi
exit $bad
