#!/bin/sh
# Fails when a comment in the sources, tests, tools, benchmarks or fuzz targets (or an
# entry of the attack suite's case files) cites a
# threat id (A14, B23, C41: a section letter and a number) that docs/threats.md does not
# define. docs/threats.md defines an id by a table row that starts with "| ID |".
#
# usage: scripts/check-threat-ids.sh [REPOSITORY_ROOT]   (default: this script's repository)
set -eu
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

doc=docs/threats.md
[ -f "$doc" ] || { echo "check-threat-ids: $doc is missing" >&2; exit 1; }
defined=$(sed -n 's/^| \([ABC][0-9][0-9]*\) |.*/\1/p' "$doc" | sort -u)

# Every token that looks like an id, with where it was found. B58 is the name of the
# base58 alphabet in the Python tests, not an id.
cited=$(grep -rnowE --exclude-dir=node_modules --exclude-dir=vectors --exclude-dir=.git \
	--include='*.c' --include='*.h' --include='*.py' --include='*.sh' --include='*.mjs' \
	--include='*.cmake' --include=CMakeLists.txt '[ABC][0-9]{1,2}' \
	src tests tools bench fuzz scripts 2>/dev/null | grep -v ':B58$' || true)
# The attack suite's case files name their item in "id" (tests/attacks/cases/*.json).
cases=$(grep -rnoE '"id": "[ABC][0-9]{1,2}"' tests/attacks/cases 2>/dev/null |
	sed 's/"id": "\([ABC][0-9]*\)"$/\1/' || true)
cited=$(printf '%s\n%s\n' "$cited" "$cases" | grep . || true)

bad=$(printf '%s\n' "$cited" | while IFS= read -r hit; do
	[ -n "$hit" ] || continue
	id=${hit##*:}
	printf '%s\n' "$defined" | grep -qx "$id" || printf '%s\n' "$hit"
done)
if [ -n "$bad" ]; then
	echo "check-threat-ids: these ids are not defined in $doc:" >&2
	printf '%s\n' "$bad" >&2
	exit 1
fi
echo "check-threat-ids: $(printf '%s\n' "$cited" | grep -c . || true) citations, all defined in $doc"
