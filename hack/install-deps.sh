#!/usr/bin/env bash
# Installs the servers the tests start themselves, from Debian packages, only
# when missing: MariaDB and PostgreSQL (the gate's store tests) and Prometheus
# (the real-Prometheus analysis test), node and npm (the npm nacos client
# test). One `apt-get update` at most (none when
# APT_UPDATED is set, as .ci/run does after its own). The packages' services are
# not started: the tests run their own servers on loopback in temporary folders.
# Without root: says what is missing and exits 0 (those tests skip), or 1 in CI.
set -euo pipefail

have() {
	local name dir
	for name in "$@"; do
		command -v "$name" >/dev/null 2>&1 && return 0
		for dir in /usr/sbin /usr/bin /usr/local/bin /usr/lib/postgresql/*/bin; do
			[ -x "$dir/$name" ] && return 0
		done
	done
	return 1
}

missing=()
if ! have mariadbd mysqld || ! have mariadb-install-db mysql_install_db; then
	missing+=(mariadb-server)
fi
if ! have initdb || ! have postgres; then
	missing+=(postgresql)
fi
have prometheus || missing+=(prometheus)
# node and npm run the npm nacos client (hack/install-npm-tools.sh).
have node || missing+=(nodejs)
have npm || missing+=(npm)
if [ "${#missing[@]}" -eq 0 ]; then
	echo "hack/install-deps.sh: MariaDB, PostgreSQL, Prometheus and node present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "hack/install-deps.sh: need root to install: ${missing[*]} (the tests that start them will be skipped)" >&2
	[ "${CI:-}" = "true" ] && exit 1
	exit 0
fi
echo "hack/install-deps.sh: installing ${missing[*]}"
[ -n "${APT_UPDATED:-}" ] || apt-get update
# policy-rc.d keeps the packages from starting their services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
