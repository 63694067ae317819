#!/usr/bin/env bash
# Installs the database servers the gate store tests start themselves
# (internal/gate/store, internal/gate): MariaDB and PostgreSQL, from Debian
# packages, only when missing. Idempotent; needs root (apt-get). The
# packages' services are not started: the tests run their own servers on
# loopback in temporary directories.
set -euo pipefail

have() {
	local name
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
if [ "${#missing[@]}" -eq 0 ]; then
	echo "hack/testdb/install.sh: MariaDB and PostgreSQL servers present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "hack/testdb/install.sh: need root to install: ${missing[*]} (the store tests against them will be skipped)" >&2
	[ "${CI:-}" = "true" ] && exit 1
	exit 0
fi
echo "hack/testdb/install.sh: installing ${missing[*]}"
# apt-get update once per `make deps` (GRAYLANE_APT_STAMP) or CI run (APT_UPDATED).
if [ -z "${APT_UPDATED:-}" ] && { [ -z "${GRAYLANE_APT_STAMP:-}" ] || [ ! -e "$GRAYLANE_APT_STAMP" ]; }; then
	apt-get update
	if [ -n "${GRAYLANE_APT_STAMP:-}" ]; then touch "$GRAYLANE_APT_STAMP"; fi
fi
# policy-rc.d keeps the packages from starting their services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
