#!/usr/bin/env bash
# Builds the Kubernetes test control plane from the Go module proxy into the
# git-ignored .cache/kube/bin/ (or $KUBE_TOOLS_DIR): etcd, kube-apiserver,
# kube-controller-manager, the Argo Rollouts controller and kwok - the five
# binaries internal/kubetest starts, nothing else. Each binary is pinned by a
# nested tool module under hack/tools/<name>/ (go.mod + go.sum). A stamp file
# next to each binary records the hash of its module files and the Go version,
# so a pin change rebuilds that binary and nothing else. Quick when everything
# is present. The binaries of one tool module are built by one `go build`
# (kube-apiserver and kube-controller-manager share most of their packages),
# and the modules' builds run at the same time (KUBE_TOOLS_JOBS at once,
# default all four). On 2 cores that gains nothing measurable on an idle
# machine (docs/kube-harness.md: 570 s against 543 s one at a time, about
# 700 s of CPU either way); KUBE_TOOLS_JOBS=1 builds one module at a time.
# Each build's time is printed as it ends, then the total.
#
# Usage: hack/build-kube-tools.sh [--check] [name...]
#   --check   print what is missing or stale and exit 1 if anything is, build nothing
#   name...   only these binaries (default: all)
# Environment: KUBE_TOOLS_DIR (default <repo>/.cache/kube/bin), KUBE_TOOLS_JOBS
#   (module builds at once, default 4: all), GO (default go), GOCACHE as usual
#   (GOCACHE=/tmp/empty-cache measures a cold build).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${KUBE_TOOLS_DIR:-"$root/.cache/kube/bin"}
jobs=${KUBE_TOOLS_JOBS:-4}
case "$jobs" in
'' | *[!0-9]* | 0)
	echo "hack/build-kube-tools.sh: KUBE_TOOLS_JOBS=$jobs: want a number >= 1" >&2
	exit 2
	;;
esac
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
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
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

# Group the stale binaries by tool module and link flags: one `go build` each.
groups=()  # "dir|ldflags"
for entry in "${stale[@]}"; do
	IFS='|' read -r name dir pkg ldflags <<<"$entry"
	key="$dir|$ldflags"
	case " ${groups[*]+"${groups[*]}"} " in
	*" $key "*) ;;
	*) groups+=("$key") ;;
	esac
done

# build_group DIR LDFLAGS: builds the group's binaries into a temporary
# folder of $bin, then moves each into place with its stamp.
build_group() {
	local dir=$1 ldflags=$2 names=() pkgs=() entry name d pkg l out
	for entry in "${stale[@]}"; do
		IFS='|' read -r name d pkg l <<<"$entry"
		[ "$d|$l" = "$dir|$ldflags" ] || continue
		names+=("$name")
		pkgs+=("$pkg")
	done
	out=$(mktemp -d "$bin/.build-$dir.XXXXXX")
	local target=$out/${names[0]}
	# With several packages, -o DIR/ names each binary after its package's
	# last path element, which is the tool's name for these.
	[ "${#pkgs[@]}" -gt 1 ] && target=$out/
	echo "hack/build-kube-tools.sh: building ${names[*]} (hack/tools/$dir) ..."
	(
		cd "$root/hack/tools/$dir"
		# -mod=mod would rewrite the pins; readonly fails loudly if they are incomplete.
		GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
			"$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$target" "${pkgs[@]}"
	) || {
		rm -rf "$out"
		return 1
	}
	local i
	for i in "${!names[@]}"; do
		mv "$out/${names[$i]}" "$bin/${names[$i]}"
		stamp "$dir" "${pkgs[$i]}" "$ldflags" >"$bin/.${names[$i]}.stamp"
	done
	rmdir "$out"
}

total_start=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
running=0
failed=0
# wait_one waits for the first of the running builds to end and prints its
# log (prefixed with its tool module) and time.
wait_one() {
	local pid i
	wait -n -p pid || true
	for i in "${!pids[@]}"; do
		[ "${pids[$i]%%:*}" = "$pid" ] || continue
		local g=${pids[$i]#*:}
		sed "s|^|[$g] |" "$logs/$g.log"
		if [ "$(cat "$logs/$g.rc" 2>/dev/null)" != 0 ]; then
			echo "hack/build-kube-tools.sh: FAILED hack/tools/$g after $(cat "$logs/$g.time" 2>/dev/null || echo '?')s"
			failed=1
		else
			echo "hack/build-kube-tools.sh: built hack/tools/$g in $(cat "$logs/$g.time")s (at $((SECONDS - total_start))s)"
		fi
		unset "pids[$i]"
	done
	running=$((running - 1))
}
echo "hack/build-kube-tools.sh: ${#groups[@]} tool module(s) to build, $jobs at once"
for key in "${groups[@]}"; do
	if [ "$running" -ge "$jobs" ]; then wait_one; fi
	dir=${key%%|*}
	(
		start=$SECONDS
		rc=0
		build_group "$dir" "${key#*|}" >"$logs/$dir.log" 2>&1 || rc=$?
		echo $((SECONDS - start)) >"$logs/$dir.time"
		echo "$rc" >"$logs/$dir.rc"
	) &
	pids+=("$!:$dir")
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do wait_one; done
if [ "$failed" -ne 0 ]; then
	echo "hack/build-kube-tools.sh: failed after $((SECONDS - total_start))s" >&2
	exit 1
fi
echo "hack/build-kube-tools.sh: done in $((SECONDS - total_start))s"
