#!/usr/bin/env bash
# What `make deps` installs and builds, with each step's time in the log (CI
# shows where a cold run spends its time): the test servers from Debian
# packages (hack/install-deps.sh), controller-gen (hack/build-tools.sh) and
# the npm nacos client (hack/install-npm-tools.sh), one after the other,
# while the Kubernetes test tools build (hack/build-kube-tools.sh, the
# longest step: it builds its tool modules at the same time itself). The
# two lines of work share nothing, so the packages and controller-gen come
# at no cost in time on a cold machine. Every step is quick when what it
# makes is already there. Exits non-zero if any step failed, after both
# lines have ended.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# step NAME: runs hack/NAME and prints how long it took.
step() {
	local start=$SECONDS rc=0
	bash "hack/$1" || rc=$?
	echo "make deps: hack/$1 took $((SECONDS - start))s (exit $rc)"
	return "$rc"
}

start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(step install-deps.sh && step build-tools.sh && step install-npm-tools.sh) >"$log" 2>&1 &
others=$!
kube=0
step build-kube-tools.sh || kube=$?
rest=0
wait "$others" || rest=$?
cat "$log"
echo "make deps: done in $((SECONDS - start))s"
if [ "$kube" -ne 0 ] || [ "$rest" -ne 0 ]; then
	exit 1
fi
