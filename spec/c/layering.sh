#!/bin/bash
# A tree's files form layers (docs/architecture.md): a file calls only files below it, no
# header includes one that includes it back, and only module.c calls the binding's parts'
# open functions. Run by ctest for src/lua and src/core: layering.sh NM SRCDIR OBJECT...
# Calls are read from the objects: the global symbols each defines and those it leaves
# undefined; tsort(1) reports a loop if the graph has one.
set -u
nm=$1 src=$2
tree=src/$(basename "$src") # what the messages name
shift 2
tmp=$(mktemp -d)
trap 'rm -r "$tmp"' EXIT
status=0

for o in "$@"; do
  f=$(basename "$o" .o)
  f=${f%.c}
  "$nm" "$o" | awk -v f="$f" 'NF == 3 && $2 ~ /^[TDBRVWG]$/ {print $3, f}' >>"$tmp/defined"
  "$nm" -u "$o" | awk -v f="$f" '{print $NF, f}' >>"$tmp/used"
done
sort -k1,1 "$tmp/defined" >"$tmp/d"
sort -k1,1 "$tmp/used" >"$tmp/u"
# caller callee symbol
join "$tmp/u" "$tmp/d" | awk '$2 != $3 {print $2, $3, $1}' >"$tmp/calls"
if [ ! -s "$tmp/calls" ]; then
  echo "layering: no calls between the objects of $tree given (nm failed?)"
  exit 1
fi

if ! awk '{print $1, $2}' "$tmp/calls" | sort -u | tsort >/dev/null 2>"$tmp/loop"; then
  echo "layering: files of $tree call each other in a loop:"
  sed -n 's/^tsort: //p' "$tmp/loop" | grep -v 'loop:' | sort -u >"$tmp/members"
  # the calls that close the loops: between two of their files
  awk 'NR == FNR {in_loop[$1] = 1; next}
       in_loop[$1] && in_loop[$2] {pair = $1 " -> " $2; calls[pair] = calls[pair] " " $3}
       END {for (pair in calls) print "  " pair ":" calls[pair]}' "$tmp/members" "$tmp/calls" |
    sort
  status=1
fi

awk '$3 ~ /^shmlua_open_/ && $1 != "module" {print "  " $1 " calls " $3}' "$tmp/calls" \
  >"$tmp/opens"
if [ -s "$tmp/opens" ]; then
  echo "layering: a part's open function is called elsewhere than module.c in $tree:"
  cat "$tmp/opens"
  status=1
fi

for f in "$src"/*.h "$src"/*.c; do
  sed -n 's/^#include "\([^"/]*\.h\)".*/\1/p' "$f" | while read -r h; do
    [ -f "$src/$h" ] && echo "$(basename "$f") $h"
  done
done >"$tmp/includes"
if ! tsort "$tmp/includes" >/dev/null 2>"$tmp/loop"; then
  echo "layering: headers of $tree include each other in a loop:"
  sed -n 's/^tsort: /  /p' "$tmp/loop"
  status=1
fi
[ $status = 0 ] && echo "layering: $tree: $(awk '{print $1, $2}' "$tmp/calls" | sort -u | wc -l) file-to-file calls, $(wc -l <"$tmp/includes") includes, no loop"
exit $status
