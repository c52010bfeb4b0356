#!/usr/bin/env bash
# The layer check: an #include never climbs. In lib/, a file of a layer
# includes headers of its own layer or of a layer below, named by folder
# ("cmp/cmp.h"); cmd/pkiroll includes the public header only. Prints every
# upward or unnamed include as FILE:LINE: and exits 1 if there is one.
# usage: tests/layers.sh [ROOT]
set -u
root=${1:-.}
# lowest first
layers=(base x509 cmp input store out enroll)
rank() {
	local i
	for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done
	echo -1
}
bad=0
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
for f in "$root"/cmd/pkiroll/*.[ch]; do
	[ -e "$f" ] || continue
	grep -n '^#include "' "$f" | grep -v '"pkiroll.h"\|"cli.h"' | while IFS= read -r l; do
		echo "${f#$root/}:${l%%:*}: cmd/pkiroll includes a library-internal header"
	done | grep . && bad=1
done
exit $bad
