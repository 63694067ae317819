#!/usr/bin/env bash
# bench/memory.sh: the memory of the default `graylane up` (issue 15, item 14)
# and the size of the graylane binary (item 15).
#
# Starts `graylane up` on the bundled shop (9 replicas of the built-in
# sample), waits until it is ready and SETTLE seconds more, and prints the
# resident memory of the runtime and of every process below it: the sum of
# RSS (what `ps` shows; pages shared between processes, such as the
# binary's code, count once per process) and of PSS (/proc/PID/smaps_rollup:
# shared pages divided among the processes that map them, so the sum is
# what the whole tree really occupies). Then vegeta sends RATE req/s through
# the gateway for DURATION, and the same figures are printed after the load.
# With STALL=S the sample host (or every sample replica) is paused for S
# seconds half-way through the load, as a busy machine pauses a process:
# the proxies open a connection per waiting request, and the figures show
# what that burst costs and, with IDLE=S, whether it is given back after S
# seconds without load. Finally the binary's size, of a normal build and of
# a -ldflags='-s -w' build.
#
# Usage: bench/memory.sh   (from any folder; about DURATION + 30 s)
# Knobs (environment): RATE=500 DURATION=3m (Ns or Nm) SETTLE=5 STALL=0 IDLE=0 (seconds)
#   UP_FLAGS="" (extra
#   flags of graylane up, e.g. UP_FLAGS=--sample-processes=per-replica);
#   GRAYLANE=/path/to/graylane measures that binary (e.g. one built from an
#   older commit) instead of one built from this checkout.
# Needs go (builds graylane into a temporary folder and vegeta v12.12.0
# into <repo>/.cache/bin when missing). All traffic stays on
# 127.0.0.1.
set -euo pipefail

RATE=${RATE:-500}
DURATION=${DURATION:-3m}
SETTLE=${SETTLE:-5}
STALL=${STALL:-0}
IDLE=${IDLE:-0}
UP_FLAGS=${UP_FLAGS:-}
GRAYLANE=${GRAYLANE:-}
VEGETA_VERSION=v12.12.0

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TMP=""
UP_PID=""
VEGETA_PID=""

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	[[ -n $VEGETA_PID ]] && kill "$VEGETA_PID" 2>/dev/null
	stop "$UP_PID" TERM # stops its replicas itself
	if [[ -n $UP_PID ]] && alive "$UP_PID"; then
		kill -KILL "$UP_PID" 2>/dev/null
		rc=1
	fi
	[[ -n $TMP ]] && rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/graylane-memory.XXXXXX")
if ! go version -m "$BIN/vegeta" 2>/dev/null | grep -q "mod[[:space:]]*github.com/tsenart/vegeta/v12[[:space:]]*$VEGETA_VERSION"; then
	log "installing vegeta $VEGETA_VERSION into $BIN"
	mkdir -p "$BIN"
	GOBIN=$BIN GOFLAGS=-mod=mod go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
fi
if [[ -z $GRAYLANE ]]; then
	log "building graylane into $TMP"
	(cd "$ROOT" && go build -o "$TMP/g" ./cmd/graylane)
	GRAYLANE=$TMP/g
fi

# tree PID: PID and all its descendants.
tree() {
	local -A kids=()
	local stat pid ppid rest
	for stat in /proc/[0-9]*/stat; do
		{ read -r stat <"$stat"; } 2>/dev/null || continue
		pid=${stat%% *}
		rest=${stat##*) }
		ppid=$(awk '{print $2}' <<<"$rest")
		kids[$ppid]+=" $pid"
	done
	local queue=("$1") out=()
	while ((${#queue[@]})); do
		pid=${queue[0]}
		queue=("${queue[@]:1}")
		out+=("$pid")
		# shellcheck disable=SC2206
		queue+=(${kids[$pid]:-})
	done
	echo "${out[@]}"
}

# measure LABEL: one line with the process count and the sums of RSS and
# PSS (MiB) over the runtime's tree, and the runtime's own share.
measure() {
	local label=$1 pids pid rss pss n=0 trss=0 tpss=0 srss=0 spss=0
	pids=$(tree "$UP_PID")
	for pid in $pids; do
		[[ -r /proc/$pid/smaps_rollup ]] || continue
		read -r rss pss < <(awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} END {print r + 0, p + 0}' "/proc/$pid/smaps_rollup")
		n=$((n + 1))
		trss=$((trss + rss))
		tpss=$((tpss + pss))
		if [[ $pid == "$UP_PID" ]]; then srss=$rss spss=$pss; fi
	done
	awk -v l="$label" -v n="$n" -v r="$trss" -v p="$tpss" -v sr="$srss" -v sp="$spss" 'BEGIN {
		printf "%-22s processes %2d   RSS %6.1f MiB   PSS %6.1f MiB   (runtime itself: RSS %5.1f, PSS %5.1f)\n",
			l, n, r / 1024, p / 1024, sr / 1024, sp / 1024 }'
	for pid in $pids; do
		[[ -r /proc/$pid/smaps_rollup ]] || continue
		awk -v pid="$pid" -v cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60)" \
			'/^Rss:/ {r = $2} /^Pss:/ {p = $2} END {printf "    pid %-8s RSS %6.1f  PSS %6.1f  %s\n", pid, r / 1024, p / 1024, cmd}' \
			"/proc/$pid/smaps_rollup" >>"$TMP/processes.txt"
	done
	echo "  ($label)" >>"$TMP/processes.txt"
}

log "starting graylane up (bundled shop) ${UP_FLAGS}"
# shellcheck disable=SC2086
(cd "$TMP" && exec "$GRAYLANE" up --gateway-port 0 --admin 127.0.0.1:0 --client-proxy "" -o json $UP_FLAGS) \
	>"$TMP/up.json" 2>"$TMP/up.log" &
UP_PID=$!
# up.json is a stream of indented JSON objects that grows while it is read
# (the last one may be half written): look for the lines themselves.
GATEWAY=""
for ((i = 0; i < 600; i++)); do
	alive "$UP_PID" || die "graylane up exited: $(tail -5 "$TMP/up.log")"
	if grep -q '"ready": true' "$TMP/up.json"; then
		GATEWAY=$(sed -nE 's/^ *"gateway": "([^"]+)".*/\1/p' "$TMP/up.json" | head -1)
		break
	fi
	sleep 0.1
done
[[ -n $GATEWAY ]] || die "graylane up not ready (or no gateway) after 60 s: $(tail -5 "$TMP/up.log")"
log "ready; gateway $GATEWAY; settling ${SETTLE}s"
sleep "$SETTLE"
measure "after start"

log "vegeta: $RATE req/s for $DURATION through the gateway"
echo "GET $GATEWAY/" >"$TMP/targets"
vegeta attack -rate "$RATE" -duration "$DURATION" -targets "$TMP/targets" >"$TMP/results.bin" &
VEGETA_PID=$!
if ((STALL > 0)); then
	half=$(awk -v d="$(sed -E 's/m$/*60/; s/s$//' <<<"$DURATION" | bc)" 'BEGIN { print d / 2 }')
	sleep "$half"
	replicas=$(for pid in $(tree "$UP_PID"); do [[ $pid != "$UP_PID" ]] && echo "$pid"; done)
	log "pausing the sample replicas' processes ($(echo $replicas)) for ${STALL}s"
	# shellcheck disable=SC2086
	kill -STOP $replicas
	sleep "$STALL"
	# shellcheck disable=SC2086
	kill -CONT $replicas
	measure "right after a ${STALL}s stall"
fi
wait "$VEGETA_PID"
vegeta report <"$TMP/results.bin" | sed -n '1,8p' | sed 's/^/    /' >"$TMP/report.txt"
measure "after $DURATION at $RATE/s"
if ((IDLE > 0)); then
	log "idle for ${IDLE}s"
	sleep "$IDLE"
	measure "then ${IDLE}s idle"
fi
echo "vegeta:"
cat "$TMP/report.txt"
echo "per process:"
cat "$TMP/processes.txt"

if [[ $GRAYLANE == "$TMP/g" ]]; then
	(cd "$ROOT" && go build -ldflags='-s -w' -o "$TMP/g-sw" ./cmd/graylane)
	awk -v a="$(stat -c %s "$TMP/g")" -v b="$(stat -c %s "$TMP/g-sw")" 'BEGIN {
		printf "binary: go build %.1f MB (%d bytes); -ldflags=-s -w %.1f MB\n", a / 1e6, a, b / 1e6 }'
else
	awk -v a="$(stat -c %s "$GRAYLANE")" 'BEGIN { printf "binary: %.1f MB (%d bytes)\n", a / 1e6, a }'
fi
