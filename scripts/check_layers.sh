#!/bin/sh
# check_layers.sh: fails when a source file includes a header from a layer above
# its own (DESIGN.md: base < tensor < kernels < graph < formats < ops < llm < api;
# server and cli use only include/ingot.h).
set -eu
cd "$(dirname "$0")/.."
rank() {
    case "$1" in
        base) echo 0 ;; tensor) echo 1 ;; kernels) echo 2 ;; graph) echo 3 ;; formats) echo 4 ;;
        ops) echo 5 ;; llm) echo 6 ;; api) echo 7 ;; *) echo 99 ;;
    esac
}
bad=0
for f in $(find src -name '*.c' -o -name '*.h' -o -name '*.cu'); do
    layer=$(echo "$f" | cut -d/ -f2)
    lr=$(rank "$layer")
    for inc in $(grep -oE '^#include "[^"]+"' "$f" | sed 's/#include "//; s/"$//'); do
        case "$inc" in
            */*) il=$(echo "$inc" | cut -d/ -f1) ;;
            *) continue ;; # same-folder include
        esac
        ir=$(rank "$il")
        [ "$ir" = 99 ] && continue
        if [ "$ir" -gt "$lr" ]; then
            echo "layer violation: $f ($layer) includes $inc ($il)"
            bad=1
        fi
    done
done
for f in $(find server cli -name '*.c' -o -name '*.h' 2>/dev/null); do
    if grep -nE '^#include "(base|tensor|kernels|graph|formats|ops|llm|api)/' "$f"; then
        echo "layer violation: $f must use only include/ingot.h"
        bad=1
    fi
done
[ "$bad" = 0 ] && echo "layers: ok"
exit $bad
