# bench/lib.sh: what the bench scripts share. Source it after setting
# VEGETA_VERSION; it defines ROOT, BIN (<repo>/.cache/bin, on PATH), log, die,
# alive, stop and build_tools, and clears proxy settings from the environment.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.cache/bin
export PATH=$BIN:$PATH:/usr/sbin:/sbin
# Nothing here may go through a proxy from the caller's environment.
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy

log() { printf '[%s %s] %s\n' "$(basename "$0")" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# alive PID: the process exists and is not a zombie.
alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z ]]
}

# stop PID SIGNAL: signal, wait up to 10 s, then SIGKILL.
stop() {
	local pid=$1 sig=$2 i
	[[ -n $pid ]] && alive "$pid" || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		log "pid $pid did not stop on SIG$sig; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# build_tools: vegeta $VEGETA_VERSION (from its Go module) and graylane into BIN.
build_tools() {
	command -v go >/dev/null || die "go (1.26) is needed to build vegeta and graylane"
	mkdir -p "$BIN"
	if ! go version -m "$BIN/vegeta" 2>/dev/null | grep -q "mod[[:space:]]*github.com/tsenart/vegeta/v12[[:space:]]*$VEGETA_VERSION"; then
		log "building vegeta $VEGETA_VERSION into $BIN"
		GOBIN=$BIN GOFLAGS=-mod=mod go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
	fi
	log "building graylane into $BIN"
	(cd "$ROOT" && go build -o "$BIN/graylane" ./cmd/graylane)
}
