#!/usr/bin/env bash
# Installs the npm packages the tests drive into the git-ignored
# .cache/npm/<name>/ from the npm registry: the nacos client 2.6.3, pinned
# with its dependencies by hack/tools/npm-nacos/package.json and
# package-lock.json (internal/nacosserver's TestNPMClient runs it against the
# local registry). A stamp records the hash of the pin files and the node
# version, so a pin change reinstalls. Without node or npm it says so and
# exits 0 (that test skips), or 1 in CI.
#
# Usage: hack/install-npm-tools.sh [--check] [--print-dir]
#   --check      print what is missing or stale and exit 1 if anything is, install nothing
#   --print-dir  print the folder the nacos client is installed in and exit
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pin="$root/hack/tools/npm-nacos"
dir="$root/.cache/npm/nacos"

check=0
for arg in "$@"; do
	case "$arg" in
	--check) check=1 ;;
	--print-dir)
		echo "$dir"
		exit 0
		;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "hack/install-npm-tools.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "hack/install-npm-tools.sh: node and npm are needed for the npm nacos client (the test that drives it will be skipped)" >&2
	[ "${CI:-}" = "true" ] && exit 1
	exit 0
fi

sum=$({
	cat "$pin/package.json" "$pin/package-lock.json"
	node --version
} | sha256sum | cut -d' ' -f1)
if [ -f "$dir/node_modules/nacos/package.json" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$sum" ]; then
	echo "hack/install-npm-tools.sh: npm nacos client present"
	exit 0
fi
if [ "$check" = 1 ]; then
	echo "hack/install-npm-tools.sh: missing or stale: npm nacos client ($dir)"
	exit 1
fi
echo "hack/install-npm-tools.sh: installing the npm nacos client into $dir"
mkdir -p "$dir"
dir=$(cd -P "$dir" && pwd) # .cache may be a symlink; npm wants the real path
rm -rf "$dir/node_modules" "$dir/.stamp"
cp "$pin/package.json" "$pin/package-lock.json" "$dir/"
npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund
echo "$sum" >"$dir/.stamp"
