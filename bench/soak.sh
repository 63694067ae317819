#!/usr/bin/env bash
# bench/soak.sh: a soak of `graylane up` (issue #15 item 17).
#
# MINUTES minutes at RATE req/s through the gateway and three hops
# (gateway -> a -> b -> c, each a replica of the built-in sample app behind
# its sidecar), while
#   - a canary of b moves: a Rollout with Istio traffic routing (20%, 50%,
#     80%, each held STEP_PAUSE), given a new image each time it completes;
#   - a lane is active: c has a lane version (c-v2) that requests with
#     `x-canary: true` (every second request) enter.
# Per minute: requests, errors (non-200 or transport errors), p50 and p99
# (vegeta, one attack per minute), releases of b started so far, and the
# lane's share of the answers. At the start, every minute, and 5 s and 65 s
# after the load:
# resident size (VmRSS), goroutines (from the admin's /debug/pprof) and open
# descriptors of `graylane up`, and the count, total resident size and
# descriptors of its replicas (every process under it). Raw numbers go to
# the temp folder (KEEP_TMP=1 keeps it).
#
# Usage: bench/soak.sh   (from any folder; MINUTES + about 2 minutes)
# Knobs (environment): MINUTES=10 RATE=1000 STEP_PAUSE=20s MAXCONN=64
#   KEEP_TMP=1.
# Needs curl and jq; builds graylane (this checkout) and vegeta v12.12.0
# (or copies <repo>/.cache/bin/vegeta) into the temp folder. All traffic
# stays on 127.0.0.1.
set -euo pipefail

MINUTES=${MINUTES:-10}
RATE=${RATE:-1000}
STEP_PAUSE=${STEP_PAUSE:-20s}
MAXCONN=${MAXCONN:-64}
VEGETA_VERSION=v12.12.0

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TMP=""
UP_PID="" VEG_PID="" MOVER_PID=""
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	stop "$MOVER_PID" TERM
	stop "$VEG_PID" INT
	stop "$UP_PID" TERM
	if [[ -n $TMP ]]; then
		if [[ -n ${KEEP_TMP:-} ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v curl >/dev/null && command -v jq >/dev/null || die "curl and jq are needed (apt-get install curl jq)"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/graylane-soak.XXXXXX")
build_tools_in "$TMP/bin"

cat >"$TMP/soak.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: soak}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [a.soak.local]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a-edge, namespace: soak}
spec:
  hosts: [a.soak.local]
  gateways: [soak/gw]
  http: [{route: [{destination: {host: a}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: soak}
spec: {selector: {app: a}, ports: [{name: http, port: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: a-v1, namespace: soak}
spec:
  replicas: 1
  selector: {matchLabels: {app: a, version: v1}}
  template:
    metadata: {labels: {app: a, version: v1}}
    spec: {containers: [{name: a, image: graylane/sample:v1, env: [{name: app, value: a}, {name: upstream_url, value: "http://b:8080/"}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: soak}
spec: {selector: {app: b}, ports: [{name: http, port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b, namespace: soak}
spec:
  hosts: [b]
  http:
  - name: primary
    route:
    - {destination: {host: b, subset: stable}, weight: 100}
    - {destination: {host: b, subset: canary}, weight: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b, namespace: soak}
spec:
  host: b
  subsets: [{name: stable, labels: {app: b}}, {name: canary, labels: {app: b}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: b, namespace: soak}
spec:
  replicas: 1
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: b, image: graylane/sample:r0, env: [{name: app, value: b}, {name: upstream_url, value: "http://c:8080/"}]}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: b, routes: [primary]}
          destinationRule: {name: b, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 20
      - pause: {duration: $STEP_PAUSE}
      - setWeight: 50
      - pause: {duration: $STEP_PAUSE}
      - setWeight: 80
      - pause: {duration: $STEP_PAUSE}
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: soak}
spec: {selector: {app: c}, ports: [{name: http, port: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: c-v1, namespace: soak}
spec:
  replicas: 1
  selector: {matchLabels: {app: c, version: v1}}
  template:
    metadata: {labels: {app: c, version: v1}}
    spec: {containers: [{name: c, image: graylane/sample:v1, env: [{name: app, value: c}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: c-v2, namespace: soak}
spec:
  replicas: 1
  selector: {matchLabels: {app: c, version: v2}}
  template:
    metadata: {labels: {app: c, version: v2}}
    spec: {containers: [{name: c, image: graylane/sample:v2, env: [{name: app, value: c}]}]}
---
apiVersion: graylane.io/v1alpha1
kind: Lane
metadata: {name: gray, namespace: soak}
spec:
  members:
  - {service: c, workload: c-v2}
  entry:
    headers: [{name: x-canary, exact: "true"}]
YAML

up_start "$TMP/up" -f "$TMP/soak.yaml"
log "graylane up pid $UP_PID: gateway $GW, admin $ADMIN"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Host: a.soak.local' "http://$GW/" || true)
[[ $code == 200 ]] || die "the gateway answers $code for a.soak.local"

# The canary mover: a new image for b each time its release completes.
mover() {
	local n=0 phase
	while :; do
		phase=$(curl -s -m 2 "http://$ADMIN/v1/rollouts" | jq -r '.[] | select(.name == "b") | .phase' 2>/dev/null || true)
		if [[ $phase == Healthy ]]; then
			n=$((n + 1))
			curl -s -m 10 -X POST "http://$ADMIN/v1/rollouts/soak/b/set-image?container=b&image=graylane/sample:r$n" >/dev/null || true
			echo "$n" >"$TMP/releases"
		fi
		sleep 1
	done
}
mover &
MOVER_PID=$!

# procs: "up_rss_MB up_goroutines up_fds replicas replicas_rss_MB replicas_fds".
rss_mb() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
procs() {
	local g n=0 rss=0 fd=0 p
	g=$(curl -s -m 5 "http://$ADMIN/debug/pprof/goroutine?debug=1" | sed -n 's/^goroutine profile: total \([0-9]*\).*/\1/p')
	for p in $(descendants "$UP_PID"); do
		n=$((n + 1)) rss=$((rss + $(rss_mb "$p"))) fd=$((fd + $(fds "$p")))
	done
	echo "$(rss_mb "$UP_PID") ${g:-?} $(fds "$UP_PID") $n $rss $fd"
}

{
	echo "GET http://$GW/"
	echo "Host: a.soak.local"
	echo
	echo "GET http://$GW/"
	echo "Host: a.soak.local"
	echo "x-canary: true"
	echo
} >"$TMP/targets"

printf '%-6s %9s %7s %8s %8s %9s %6s | %7s %5s %5s | %5s %8s %7s\n' minute requests errors p50_ms p99_ms releases lane% \
	up_MB gor fds procs procs_MB fds >"$TMP/table"
printf '%-6s %9s %7s %8s %8s %9s %6s | %7s %5s %5s | %5s %8s %7s\n' start - - - - 0 - $(procs) >>"$TMP/table"
tail -1 "$TMP/table" >&2
total=0 errors=0
for ((m = 1; m <= MINUTES; m++)); do
	vegeta attack -targets "$TMP/targets" -rate "$RATE" -duration 60s -max-connections "$MAXCONN" -output "$TMP/m$m.bin" &
	VEG_PID=$!
	wait "$VEG_PID" || die "vegeta failed in minute $m"
	VEG_PID=""
	read -r req ok p50 p99 < <(vegeta report -type json "$TMP/m$m.bin" |
		jq -r '"\(.requests) \(.status_codes["200"] // 0) \(.latencies["50th"] / 1e6 | . * 10 | round / 10) \(.latencies["99th"] / 1e6 | . * 10 | round / 10)"')
	lane=$(vegeta encode --to json "$TMP/m$m.bin" | jq -rs '[.[] | select(.code == 200) | (.body | @base64d)] as $b
		| if ($b | length) == 0 then "-" else ([$b[] | select(test("c\\(v2\\)"))] | length) * 100 / ($b | length) | round | tostring end')
	total=$((total + req)) errors=$((errors + req - ok))
	printf '%-6s %9s %7s %8s %8s %9s %6s | %7s %5s %5s | %5s %8s %7s\n' "$m" "$req" "$((req - ok))" "$p50" "$p99" \
		"$(cat "$TMP/releases" 2>/dev/null || echo 0)" "$lane" $(procs) >>"$TMP/table"
	tail -1 "$TMP/table" >&2
done
stop "$MOVER_PID" TERM
MOVER_PID=""
# After the load: 5 s (the client's connections closed) and 65 s (idle
# connections to the replicas closed too: they are kept 30 to 60 s).
for after in 5 65; do
	sleep $((after == 5 ? 5 : 60))
	printf '%-6s %9s %7s %8s %8s %9s %6s | %7s %5s %5s | %5s %8s %7s\n' "end+${after}s" - - - - \
		"$(cat "$TMP/releases" 2>/dev/null || echo 0)" - $(procs) >>"$TMP/table"
done

echo
echo "soak: $MINUTES min at $RATE req/s, gateway -> a -> b (canary moving, pauses $STEP_PAUSE) -> c (lane gray for x-canary: true); $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "requests $total, errors $errors"
cat "$TMP/table"
echo "(up_MB/gor/fds: graylane up's resident MB, goroutines, descriptors; procs/procs_MB/fds: the processes under it, their resident MB and descriptors, summed;"
echo " releases: b's releases started so far; lane%: answers that went through c-v2)"
