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

# build_tools_in DIR: graylane (this checkout, or a copy of $GRAYLANE when
# set: a binary to compare) and vegeta $VEGETA_VERSION into DIR, a folder of
# the run's own (the shared BIN is left alone; its vegeta is
# copied when it is the right version).
build_tools_in() {
	command -v go >/dev/null || die "go (1.26) is needed to build vegeta and graylane"
	mkdir -p "$1"
	if go version -m "$BIN/vegeta" 2>/dev/null | grep -q "mod[[:space:]]*github.com/tsenart/vegeta/v12[[:space:]]*$VEGETA_VERSION"; then
		cp "$BIN/vegeta" "$1/vegeta"
	else
		log "building vegeta $VEGETA_VERSION into $1"
		GOBIN=$1 GOFLAGS=-mod=mod go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
	fi
	if [[ -n ${GRAYLANE:-} ]]; then
		log "using graylane $GRAYLANE"
		cp "$GRAYLANE" "$1/graylane"
	else
		log "building graylane into $1"
		(cd "$ROOT" && go build -o "$1/graylane" ./cmd/graylane)
	fi
	export PATH=$1:$PATH
}

# descendants PID: the processes under PID (children, theirs, ...).
descendants() {
	local todo=("$1") out=() p c
	while ((${#todo[@]})); do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			out+=("$c")
			todo+=("$c")
		done
	done
	echo "${out[@]}"
}

# up_start LOGPREFIX ARGS...: runs `graylane up ARGS... -o json` in the
# background and waits (up to 60 s) until it says every workload is ready;
# sets UP_PID, ADMIN and GW (host:port; GW empty without a Gateway).
up_start() {
	local pre=$1 end=$((SECONDS + 60))
	shift
	graylane up "$@" --gateway-port 0 --admin 127.0.0.1:0 --client-proxy "" -o json >"$pre.json" 2>"$pre.log" &
	UP_PID=$!
	ADMIN=""
	while ((SECONDS < end)); do
		ADMIN=$(jq -rs 'map(select(.ready)) | .[0].admin // empty' "$pre.json" 2>/dev/null || true)
		[[ $ADMIN == http* ]] && break
		alive "$UP_PID" || die "graylane up exited: $(tail -20 "$pre.log")"
		sleep 0.1
	done
	[[ $ADMIN == http* ]] || die "graylane up not ready after 60 s: $(tail -20 "$pre.log")"
	GW=$(jq -rs '.[0].gateway // empty' "$pre.json")
	GW=${GW#http://} ADMIN=${ADMIN#http://}
}
