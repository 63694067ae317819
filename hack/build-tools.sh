#!/usr/bin/env bash
# Builds the code generators of `make generate` from the Go module proxy into
# the git-ignored .cache/tools/bin/: controller-gen (DeepCopy methods and the
# CRDs of api/v1alpha1). Each binary is pinned by a nested tool module under
# hack/tools/<name>/ (go.mod + go.sum). A stamp file next to each binary
# records the hash of its module files and the Go version, so a pin change
# rebuilds it. Quick when everything is present; a cold build of
# controller-gen takes a few minutes (about 9 on a 2-core machine under load).
#
# Usage: hack/build-tools.sh [--check] [--print-bin]
#   --check      print what is missing or stale and exit 1 if anything is, build nothing
#   --print-bin  print the folder that holds the binaries and exit
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/.cache/tools/bin"
export GOTOOLCHAIN=local
GO=${GO:-go}

# name|tool module folder|package
tools=(
	"controller-gen|controller-gen|sigs.k8s.io/controller-tools/cmd/controller-gen"
)

check=0
for arg in "$@"; do
	case "$arg" in
	--check) check=1 ;;
	--print-bin)
		echo "$bin"
		exit 0
		;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "hack/build-tools.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

# stamp prints what a binary's build depends on: the pin files, the package
# and the Go version.
stamp() {
	local dir=$1 pkg=$2
	{
		cat "$root/hack/tools/$dir/go.mod" "$root/hack/tools/$dir/go.sum"
		echo "$pkg"
		"$GO" env GOVERSION GOOS GOARCH
	} | sha256sum | cut -d' ' -f1
}

mkdir -p "$bin"
stale=()
for entry in "${tools[@]}"; do
	IFS='|' read -r name dir pkg <<<"$entry"
	sum=$(stamp "$dir" "$pkg")
	if [ -x "$bin/$name" ] && [ "$(cat "$bin/.$name.stamp" 2>/dev/null)" = "$sum" ]; then
		continue
	fi
	stale+=("$entry")
done

if [ "${#stale[@]}" -eq 0 ]; then
	echo "hack/build-tools.sh: tools up to date in ${bin#"$root"/}"
	exit 0
fi
if [ "$check" -eq 1 ]; then
	for entry in "${stale[@]}"; do echo "missing or stale: ${entry%%|*}"; done
	exit 1
fi

for entry in "${stale[@]}"; do
	IFS='|' read -r name dir pkg <<<"$entry"
	start=$SECONDS
	echo "hack/build-tools.sh: building $name ($pkg) ..."
	sum=$(stamp "$dir" "$pkg")
	(
		cd "$root/hack/tools/$dir"
		# -mod=mod would rewrite the pins; readonly fails loudly if they are incomplete.
		GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
			"$GO" build -trimpath -ldflags "-s -w" -o "$bin/$name.tmp" "$pkg"
	)
	mv "$bin/$name.tmp" "$bin/$name"
	echo "$sum" >"$bin/.$name.stamp"
	echo "hack/build-tools.sh: built $name in $((SECONDS - start))s"
done
