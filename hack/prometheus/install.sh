#!/usr/bin/env bash
# Installs the Prometheus server the real-Prometheus analysis test starts
# itself (internal/embedded/realprom_test.go), from the Debian package, only
# when the `prometheus` binary is missing. Idempotent; needs root (apt-get).
# The package's service is not started: the test runs its own server on
# loopback with a temporary config and TSDB.
set -euo pipefail

have() {
	local name
	for name in "$@"; do
		command -v "$name" >/dev/null 2>&1 && return 0
		for dir in /usr/bin /usr/sbin /usr/local/bin; do
			[ -x "$dir/$name" ] && return 0
		done
	done
	return 1
}

if have prometheus; then
	echo "hack/prometheus/install.sh: Prometheus server present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "hack/prometheus/install.sh: need root to install: prometheus (the real-Prometheus analysis test will be skipped)" >&2
	[ "${CI:-}" = "true" ] && exit 1
	exit 0
fi
echo "hack/prometheus/install.sh: installing prometheus"
# apt-get update once per `make deps` (GRAYLANE_APT_STAMP) or CI run (APT_UPDATED).
if [ -z "${APT_UPDATED:-}" ] && { [ -z "${GRAYLANE_APT_STAMP:-}" ] || [ ! -e "$GRAYLANE_APT_STAMP" ]; }; then
	apt-get update
	if [ -n "${GRAYLANE_APT_STAMP:-}" ]; then touch "$GRAYLANE_APT_STAMP"; fi
fi
# policy-rc.d keeps the package from starting its service.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
