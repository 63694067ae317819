#!/usr/bin/env bash
# Builds the Kubernetes test control plane from the Go module proxy into the
# git-ignored .cache/kube/bin/: etcd, kube-apiserver, kube-controller-manager,
# the Argo Rollouts controller and kwok. Each binary is pinned by a nested tool
# module under hack/tools/<name>/ (go.mod + go.sum). A stamp file next to each
# binary records the hash of its module files and the Go version, so a pin
# change rebuilds that binary and nothing else. Quick when everything is
# present. Builds run one at a time (the machine has 2 cores); a cold build of
# all five takes about 20 minutes.
#
# Usage: hack/build-kube-tools.sh [--check] [name...]
#   --check   print what is missing or stale and exit 1 if anything is, build nothing
#   name...   only these binaries (default: all)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/.cache/kube/bin"
export GOTOOLCHAIN=local
GO=${GO:-go}

# name|tool module folder|package|extra ldflags
k8sver='-X k8s.io/component-base/version.gitVersion=v1.31.4 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=31 -X k8s.io/client-go/pkg/version.gitVersion=v1.31.4'
tools=(
	"etcd|etcd|go.etcd.io/etcd/server/v3|"
	"kube-apiserver|kube|k8s.io/kubernetes/cmd/kube-apiserver|$k8sver"
	"kube-controller-manager|kube|k8s.io/kubernetes/cmd/kube-controller-manager|$k8sver"
	"rollouts-controller|rollouts|github.com/argoproj/argo-rollouts/cmd/rollouts-controller|-X github.com/argoproj/argo-rollouts/utils/version.version=1.8.3"
	"kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|"
)

check=0
want=()
for arg in "$@"; do
	case "$arg" in
	--check) check=1 ;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "hack/build-kube-tools.sh: unknown flag $arg" >&2
		exit 2
		;;
	*) want+=("$arg") ;;
	esac
done

for n in "${want[@]}"; do
	case " etcd kube-apiserver kube-controller-manager rollouts-controller kwok " in
	*" $n "*) ;;
	*)
		echo "hack/build-kube-tools.sh: unknown tool $n (etcd, kube-apiserver, kube-controller-manager, rollouts-controller, kwok)" >&2
		exit 2
		;;
	esac
done

wanted() {
	local n
	[ "${#want[@]}" -eq 0 ] && return 0
	for n in "${want[@]}"; do [ "$n" = "$1" ] && return 0; done
	return 1
}

# stamp prints what a binary's build depends on: the pin files, the package,
# the link flags and the Go version.
stamp() {
	local dir=$1 pkg=$2 ldflags=$3
	{
		cat "$root/hack/tools/$dir/go.mod" "$root/hack/tools/$dir/go.sum"
		echo "$pkg $ldflags"
		"$GO" env GOVERSION GOOS GOARCH
	} | sha256sum | cut -d' ' -f1
}

mkdir -p "$bin"
stale=()
for entry in "${tools[@]}"; do
	IFS='|' read -r name dir pkg ldflags <<<"$entry"
	wanted "$name" || continue
	sum=$(stamp "$dir" "$pkg" "$ldflags")
	if [ -x "$bin/$name" ] && [ "$(cat "$bin/.$name.stamp" 2>/dev/null)" = "$sum" ]; then
		continue
	fi
	stale+=("$entry")
done

if [ "${#stale[@]}" -eq 0 ]; then
	echo "hack/build-kube-tools.sh: kube test tools up to date in ${bin#"$root"/}"
	exit 0
fi
if [ "$check" -eq 1 ]; then
	for entry in "${stale[@]}"; do echo "missing or stale: ${entry%%|*}"; done
	exit 1
fi

total_start=$SECONDS
for entry in "${stale[@]}"; do
	IFS='|' read -r name dir pkg ldflags <<<"$entry"
	start=$SECONDS
	echo "hack/build-kube-tools.sh: building $name ($pkg) ..."
	sum=$(stamp "$dir" "$pkg" "$ldflags")
	(
		cd "$root/hack/tools/$dir"
		# -mod=mod would rewrite the pins; readonly fails loudly if they are incomplete.
		GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
			"$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg"
	)
	mv "$bin/$name.tmp" "$bin/$name"
	echo "$sum" >"$bin/.$name.stamp"
	echo "hack/build-kube-tools.sh: built $name in $((SECONDS - start))s"
done
echo "hack/build-kube-tools.sh: done in $((SECONDS - total_start))s"
