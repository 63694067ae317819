#!/usr/bin/env bash
# bench/faults.sh: the fault drills of issue #15 (items 8-11), each figure printed.
#
#   8a  kill -9 of one of two replicas of a Service at RATE req/s through the
#       gateway: requests sent, requests failed (vegeta), time until the
#       replica is back, retries the proxy sent (envoy_cluster_upstream_rq_retry);
#   8b  the same with the Service's only replica: the failed requests, and
#       the gateway's istio_requests_total for them by code and response flag
#       (URX: retries ran out; UF: no connection);
#   9   ABANDON requests abandoned by the client after 0.3 s while the
#       upstream of the upstream takes 3 s: how many were cancelled on each
#       hop (code 0, flag DC at gateway -> front and at front -> slow) and how
#       many the slow upstream still answered;
#   10a resident size of `graylane up` with CONNS idle connections and after
#       they close (go run ./bench/edgemem);
#   10b kill -9 of `graylane up`: how many of its processes (replicas,
#       sidecars) are left, and after how long the last one is gone;
#   11  `graylane up --state-dir` killed with -9 during a timed pause of a
#       canary release and started again: the step and phase after the
#       restart, the pause's length (from its start to the next step), and
#       whether the release completes with the canary as stable.
#
# Usage: bench/faults.sh   (from any folder; about 2 minutes)
# Knobs (environment): RATE=500 DURATION=20 (seconds of load per kill)
#   SAMPLE_FLAG=--sample-processes=per-replica (empty for an older graylane)
#   KILL_AT=5 (seconds into the load) ABANDON=20 CONNS=5000 PAUSE=20
#   KEEP_TMP=1 (keep the temp folder: logs, vegeta results).
# Needs curl and jq; builds graylane (this checkout) and vegeta v12.12.0
# (or copies <repo>/.cache/bin/vegeta) into the temp folder. All traffic
# stays on 127.0.0.1.
set -euo pipefail

RATE=${RATE:-500}
DURATION=${DURATION:-20}
KILL_AT=${KILL_AT:-5}
ABANDON=${ABANDON:-20}
CONNS=${CONNS:-5000}
PAUSE=${PAUSE:-20}
VEGETA_VERSION=v12.12.0
# A process per replica, so that kill -9 of one is item 8's fault (the
# default runs the built-in sample's replicas in one host process). Empty
# for a graylane without the flag (GRAYLANE= before it).
SAMPLE_FLAG=${SAMPLE_FLAG---sample-processes=per-replica}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TMP=""
UP_PID="" VEG_PID=""
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
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
TMP=$(mktemp -d "${TMPDIR:-/tmp}/graylane-faults.XXXXXX")
build_tools_in "$TMP/bin"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# pod WORKLOAD FILTER: a jq filter on the first replica of the Deployment.
pod() { curl -s -m 2 "http://$ADMIN/v1/workloads" | jq -r "[.[] | select(.workload | endswith(\"/$1\"))][0] | $2"; }

# metric_sum TEXT...: the sum of the /metrics samples whose line holds
# every TEXT.
metric_sum() {
	curl -s -m 5 "http://$ADMIN/metrics" | PATS="$*" awk '
		BEGIN { n = split(ENVIRON["PATS"], p, " ") }
		/^#/ { next }
		{ for (i = 1; i <= n; i++) if (!index($0, p[i])) next; s += $NF }
		END { printf "%d\n", s }'
}

# gateway_failures APP: the gateway's (reporter="source", from the
# ingress gateway) non-200 answers for APP, as "code/flags count" lines.
gateway_failures() {
	curl -s -m 5 "http://$ADMIN/metrics" | awk -v app="$1" '
		/^istio_requests_total\{/ && /source_app="istio-ingressgateway"/ && /reporter="source"/ && $0 ~ "destination_app=\"" app "\"" && !/response_code="200"/ {
			match($0, /response_code="[^"]*"/); c = substr($0, RSTART + 15, RLENGTH - 16)
			match($0, /response_flags="[^"]*"/); f = substr($0, RSTART + 16, RLENGTH - 17)
			out = out sprintf("%s%s/%s %d", (out == "" ? "" : ", "), c, f, $NF)
		}
		END { print (out == "" ? "none" : out) }'
}

manifest_services() {
	cat <<'YAML'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: faults}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.faults.local"]
YAML
	# name replicas env
	local svc
	for svc in "two 2 []" "one 1 []" "slow 1 [{name: latency_ms, value: \"3000\"}]" \
		"front 1 [{name: upstream_url, value: \"http://slow:8080/\"}]"; do
		set -- $svc
		local name=$1 replicas=$2
		shift 2
		cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: faults}
spec: {selector: {app: $name}, ports: [{name: http, port: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name, namespace: faults}
spec:
  replicas: $replicas
  selector: {matchLabels: {app: $name}}
  template:
    metadata: {labels: {app: $name, version: v1}}
    spec: {containers: [{name: $name, image: graylane/sample, env: $*}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: $name, namespace: faults}
spec:
  hosts: [$name.faults.local]
  gateways: [faults/gw]
  http: [{route: [{destination: {host: $name}}]}]
YAML
	done
}

# kill_under_load APP: item 8 on APP's first replica; prints the figures.
kill_under_load() {
	local app=$1 pid name t0 back=""
	echo "GET http://$GW/" >"$TMP/target"
	vegeta attack -targets "$TMP/target" -header "Host: $app.faults.local" -rate "$RATE" -duration "${DURATION}s" \
		-max-connections 64 -output "$TMP/kill-$app.bin" &
	VEG_PID=$!
	sleep "$KILL_AT"
	name=$(pod "$app" .name) pid=$(pod "$app" .pid)
	retries0=$(metric_sum 'envoy_cluster_upstream_rq_retry{' "|$app.faults.")
	t0=$(now_ms)
	kill -KILL "$pid"
	local end=$((SECONDS + 15))
	while ((SECONDS < end)); do
		if [[ $(pod "$app" "select(.name == \"$name\") | .ready and .pid != $pid") == true ]]; then
			back=$(($(now_ms) - t0))
			break
		fi
		sleep 0.05
	done
	wait "$VEG_PID" || true
	VEG_PID=""
	vegeta report -type json "$TMP/kill-$app.bin" >"$TMP/kill-$app.json"
	read -r total ok codes < <(jq -r '"\(.requests) \(.status_codes["200"] // 0) \(.status_codes | to_entries | map("\(.key):\(.value)") | join(","))"' "$TMP/kill-$app.json")
	retries=$(($(metric_sum 'envoy_cluster_upstream_rq_retry{' "|$app.faults.") - retries0))
	echo "$total $((total - ok)) ${back:-never} $retries $codes"
}

# ---------------------------------------------------------------- items 8, 9, 10b
manifest_services >"$TMP/services.yaml"
log "starting graylane up (two, one, front -> slow)"
up_start "$TMP/up" -f "$TMP/services.yaml" $SAMPLE_FLAG
log "graylane up pid $UP_PID: gateway $GW, admin $ADMIN"

log "8a: kill -9 of one of two replicas at ${RATE} req/s"
read -r a_total a_failed a_back a_retries a_codes < <(kill_under_load two)
log "8b: kill -9 of the only replica at ${RATE} req/s"
read -r b_total b_failed b_back b_retries b_codes < <(kill_under_load one)
b_flags=$(gateway_failures one)

log "9: $ABANDON requests abandoned after 0.3 s (front -> slow, 3 s)"
slow200=$(metric_sum 'istio_requests_total{' 'destination_app="slow"' 'reporter="destination"' 'response_code="200"')
for ((i = 0; i < ABANDON; i++)); do
	curl -s -o /dev/null -m 0.3 -H 'Host: front.faults.local' "http://$GW/" || true
done
dc_slow=0 end=$((SECONDS + 5))
while ((SECONDS < end)); do # until every cancel is counted
	dc_slow=$(metric_sum 'istio_requests_total{' 'destination_app="slow"' 'reporter="destination"' 'response_flags="DC"')
	((dc_slow >= ABANDON)) && break
	sleep 0.05
done
sleep 3.5 # a request to slow that was not cancelled would have been answered by now
dc_front=$(metric_sum 'istio_requests_total{' 'destination_app="front"' 'reporter="destination"' 'response_flags="DC"')
dc_slow=$(metric_sum 'istio_requests_total{' 'destination_app="slow"' 'reporter="destination"' 'response_flags="DC"')
slow200=$(($(metric_sum 'istio_requests_total{' 'destination_app="slow"' 'reporter="destination"' 'response_code="200"') - slow200))

log "10b: kill -9 of graylane up"
read -r -a kids <<<"$(descendants "$UP_PID")"
kill -KILL "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
t0=$(now_ms)
UP_PID=""
gone="" end=$((SECONDS + 10))
while ((SECONDS < end)); do
	left=()
	for p in "${kids[@]}"; do alive "$p" && left+=("$p"); done
	if ((${#left[@]} == 0)); then
		gone=$(($(now_ms) - t0))
		break
	fi
	sleep 0.05
done

# ---------------------------------------------------------------- item 10a
log "10a: resident size with $CONNS idle connections (bench/edgemem)"
edgemem=$(cd "$ROOT" && go run ./bench/edgemem -graylane "$TMP/bin/graylane" -n "$CONNS" 2>&1 | tr '\n' ';')

# ---------------------------------------------------------------- item 11
cat >"$TMP/release.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: order, namespace: res}
spec: {selector: {app: order}, ports: [{port: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order, namespace: res}
spec:
  hosts: [order]
  http:
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order, namespace: res}
spec:
  host: order
  subsets: [{name: stable, labels: {app: order}}, {name: canary, labels: {app: order}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: res}
spec:
  replicas: 1
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: graylane/sample:1.0}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 50
      - pause: {duration: ${PAUSE}s}
      - setWeight: 80
YAML
rollout() { curl -s -m 2 "http://$ADMIN/v1/rollouts" | jq -r ".[] | select(.name == \"order\") | $1"; }
wait_for() {
	local what=$1 filter=$2 end=$((SECONDS + 60))
	while ((SECONDS < end)); do
		[[ $(rollout "$filter") == true ]] && return 0
		alive "$UP_PID" || die "graylane up exited: $(tail -20 "$TMP/rel.log")"
		sleep 0.05
	done
	die "the Rollout was never $what within 60 s: $(rollout .)"
}
log "11: a release, graylane up killed during its timed pause"
up_start "$TMP/rel" -f "$TMP/release.yaml" --state-dir "$TMP/state"
wait_for Healthy '.phase == "Healthy" and .stable.ready == 1'
curl -s -m 10 -X POST "http://$ADMIN/v1/rollouts/res/order/set-image?container=order&image=graylane/sample:2.0" >/dev/null
wait_for "paused at step 1" '.currentStepIndex == 1 and .phase == "Paused" and .canaryWeight == 20'
canary=$(rollout .canaryHash)
curl -s -m 10 -X POST "http://$ADMIN/v1/rollouts/res/order/promote" >/dev/null
wait_for "in its timed pause" '.currentStepIndex == 3 and .phase == "Paused"'
t_pause=$(now_ms)
before="step $(rollout .currentStepIndex) $(rollout .phase) weight $(rollout .canaryWeight)"
sleep 2
kill -KILL "$UP_PID"
wait "$UP_PID" 2>/dev/null || true
UP_PID=""
t_kill=$(now_ms)
up_start "$TMP/rel2" -f "$TMP/release.yaml" --state-dir "$TMP/state"
t_back=$(now_ms)
after="step $(rollout .currentStepIndex) $(rollout .phase) weight $(rollout .canaryWeight)"
wait_for "past its pause" '.currentStepIndex > 3'
pause_ms=$(($(now_ms) - t_pause))
wait_for "complete" '.phase == "Healthy"'
stable=$(rollout .stableHash)
completed=no
[[ $stable == "$canary" ]] && completed=yes

# ---------------------------------------------------------------- report
echo
echo "fault drills (issue #15 items 8-11), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "8a kill -9 of 1 of 2 replicas at ${RATE} req/s: $a_failed of $a_total requests failed; replica back after ${a_back} ms; $a_retries retries sent; codes $a_codes"
echo "8b kill -9 of the only replica at ${RATE} req/s: $b_failed of $b_total requests failed; replica back after ${b_back} ms; $b_retries retries sent; codes $b_codes; gateway metrics (code/flags): $b_flags"
echo "9  $ABANDON requests abandoned after 0.3 s: cancelled (code 0, DC) $dc_front at gateway->front, $dc_slow at front->slow; slow answered $slow200 of them"
echo "10a resident size of graylane up (bench/edgemem, $CONNS connections): $edgemem"
echo "10b kill -9 of graylane up: ${#kids[@]} processes under it; all gone after ${gone:-never (still running: ${left[*]})} ms"
echo "11 graylane up --state-dir killed 2 s into a ${PAUSE} s pause: before the kill $before; after the restart ($((t_back - t_kill)) ms) $after; pause lasted ${pause_ms} ms; release completed with the canary as stable: $completed"
