#!/bin/sh
# Fails when the build, the tests, the tools, the scripts or the sources refer to a
# folder beside the checkout (the workplace's shared folder, or its copy of the MLS vectors). A clone
# must test with nothing beside it: the MLS vectors are in tests/vectors/mls and the
# threat list is docs/threats.md.
#
# usage: scripts/check-no-shared.sh [REPOSITORY_ROOT]   (default: this script's repository)
set -eu
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# What is scanned: everything that builds, tests or runs. Documentation outside these
# folders may talk about the project's history; these files may not read from it.
paths="Makefile CMakeLists.txt src tests tools scripts fuzz bench .ci"
existing=""
for p in $paths; do
	[ -e "$p" ] && existing="$existing $p"
done

# The parent's shared folder in any spelling (dot-dot slash shared, a path joined from
# ".." and "shared", backslashes), and the names of the files that live there.
pattern='\.\./shared|"\.\.", *"shared"|\.\.[/\\]+shared|/shared/(mls-test-vectors|ATTACKS\.md|DESIGN\.md|STYLE\.md|PEERS\.md)|mls-test-vectors'

# shellcheck disable=SC2086
hits=$(grep -rInE --exclude-dir=node_modules --exclude-dir=.git \
	--exclude=check-no-shared.sh "$pattern" $existing || true)
if [ -n "$hits" ]; then
	echo "check-no-shared: these lines refer to a folder outside the repository" >&2
	echo "(use tests/vectors/mls for the MLS vectors, docs/threats.md for the threat list):" >&2
	echo "$hits" >&2
	exit 1
fi
echo "check-no-shared: no reference to a folder outside the repository"
