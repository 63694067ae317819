#!/usr/bin/env bash
# bench/rollback.sh: the rollback drill (issue 4, B6).
#
# An error spike on a canary at 20% under 1000 req/s: how long until the
# background analysis has aborted the Rollout (the canary's weight is 0), and
# how many requests the canary served after the spike.
#
# `graylane up` runs a generated manifest: a Service, a Rollout of the
# built-in sample app with Istio traffic routing (VirtualService +
# DestinationRule; steps setWeight 20, then a long pause), a Gateway, and a
# background AnalysisTemplate on the embedded Prometheus (success rate over
# WINDOW, every INTERVAL, failureLimit 0). Per run:
#   1. a standalone `graylane sample` ("dep") is started; a new canary
#      template whose app calls it (upstream_url) is applied (POST /apply);
#   2. wait until the Rollout is paused at 20% with the canary ready;
#   3. vegeta sends RATE req/s through the gateway; after PRE seconds,
#      T0 = `kill -9` of dep: from then on the canary answers every request
#      with 502 (its upstream refuses connections), the stable is untouched;
#   4. the admin's GET /v1/rollouts is polled every POLL_MS ms until the
#      canary weight is 0 (at most MAX_WAIT s) -> time to rollback;
#   5. canary requests after T0: from the admin /metrics
#      (istio_requests_total{reporter="destination",destination_version="v2"},
#      just before T0 and 1 s after the rollback) and, per request, from
#      vegeta's results (answers from order(v2) sent at or after T0).
# RUNS runs (one `graylane up`; every run is a fresh canary of the same
# stable), then min / median / max. Raw numbers go to
# bench/results/rollback-<date>.json.
#
# Usage: bench/rollback.sh   (from any folder; about 1 minute)
# Between runs the script waits WINDOW + 2 s: the analysis query is over the
# whole Service, so the previous spike must leave the window first.
# Knobs (environment): RATE=1000 RUNS=3 INTERVAL=2s WINDOW=4s PRE=3
#   MAX_WAIT=30 POLL_MS=50 MAXCONN=64 KEEP_TMP=1 (keep the temp folder).
# Needs curl, jq (installed from Debian when missing, as root) and go (builds
# graylane and vegeta v12.12.0 into <repo>/.cache/bin). All traffic stays on
# 127.0.0.1.
set -euo pipefail

RATE=${RATE:-1000}
RUNS=${RUNS:-3}
INTERVAL=${INTERVAL:-2s}
WINDOW=${WINDOW:-4s}
PRE=${PRE:-3}
MAX_WAIT=${MAX_WAIT:-30}
POLL_MS=${POLL_MS:-50}
MAXCONN=${MAXCONN:-64}
VEGETA_VERSION=v12.12.0
[[ $WINDOW =~ ^[0-9]+s$ ]] || { echo "WINDOW must be whole seconds, like 4s" >&2; exit 2; }
[[ $INTERVAL =~ ^[0-9]+s$ ]] || { echo "INTERVAL must be whole seconds, like 2s" >&2; exit 2; }
SETTLE=$((${WINDOW%s} + 2)) # seconds between runs: the spike leaves the window

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TMP=""
UP_PID="" DEP_PID="" VEG_PID=""

cleanup() {
	local rc=$? left="" pid
	set +e
	trap - EXIT INT TERM
	stop "$VEG_PID" INT
	stop "$DEP_PID" TERM
	stop "$UP_PID" TERM # stops its replicas itself
	for pid in $VEG_PID $DEP_PID $UP_PID; do
		alive "$pid" && left+=" $pid"
	done
	if [[ -n $left ]]; then
		log "cleanup: still running:$left; SIGKILL"
		kill -KILL $left 2>/dev/null
		rc=1
	elif [[ -n $UP_PID ]]; then
		log "cleanup: graylane up (and its replicas), vegeta and the dependency are stopped"
	fi
	if [[ -n $TMP ]]; then
		if [[ -n ${KEEP_TMP:-} ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
	[[ $EUID -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
	log "installing from Debian: ${missing[*]}"
	[[ -n ${APT_UPDATED:-} ]] || apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
build_tools

TMP=$(mktemp -d "${TMPDIR:-/tmp}/graylane-rollback.XXXXXX")

# ---------------------------------------------------------------- helpers
now_ns() { date +%s%N; }
POLL_S=$(awk -v m="$POLL_MS" 'BEGIN { printf "%.3f", m / 1000 }')
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# rollout FILTER: a jq filter on the Rollout's status (admin /v1/rollouts).
rollout() { curl -s -m 2 "http://$ADMIN/v1/rollouts" | jq -r ".[] | select(.name == \"order\") | $1"; }

# canary_served: requests the canary replicas answered so far (any code).
canary_served() {
	curl -s -m 2 "http://$ADMIN/metrics" | awk '
		/^istio_requests_total\{/ && /reporter="destination"/ && /destination_version="v2"/ { n += $NF }
		END { printf "%d\n", n }'
}

# manifest CANARY_UPSTREAM: the whole manifest; without an upstream the pod
# template is the stable one (v1), with one it is a canary (v2) calling it.
manifest() {
	local env='[{name: app, value: order}, {name: version, value: v1}]' version=v1
	if [[ -n $1 ]]; then
		version=v2
		env="[{name: app, value: order}, {name: version, value: v2}, {name: upstream_url, value: \"$1\"}]"
	fi
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: order, namespace: bench}
spec:
  selector: {app: order}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: bench}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [order.bench.local]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order, namespace: bench}
spec:
  hosts: [order.bench.local]
  gateways: [bench/gw]
  http:
  - name: primary
    route:
    - {destination: {host: order, subset: stable}, weight: 100}
    - {destination: {host: order, subset: canary}, weight: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order, namespace: bench}
spec:
  host: order
  subsets: [{name: stable, labels: {app: order}}, {name: canary, labels: {app: order}}]
---
# Success rate of the order Service over the last $WINDOW, every $INTERVAL,
# from the embedded Prometheus (no address); the first failing measurement
# aborts. No traffic in the window (0/0) is not a failure.
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate, namespace: bench}
spec:
  args: [{name: service}]
  metrics:
  - name: success-rate
    interval: $INTERVAL
    failureLimit: 0
    successCondition: len(result) == 0 || isNaN(result[0]) || result[0] >= 0.95
    provider:
      prometheus:
        query: |
          sum(rate(istio_requests_total{reporter="destination",destination_service="{{args.service}}",response_code!~"5.*"}[$WINDOW]))
          /
          sum(rate(istio_requests_total{reporter="destination",destination_service="{{args.service}}"}[$WINDOW]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order, namespace: bench}
spec:
  replicas: 2
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order, version: $version}}
    spec:
      containers:
      - name: order
        image: graylane/sample
        env: $env
  strategy:
    canary:
      abortScaleDownDelaySeconds: 0
      trafficRouting:
        istio:
          virtualService: {name: order, routes: [primary]}
          destinationRule: {name: order, canarySubsetName: canary, stableSubsetName: stable}
      analysis:
        templates: [{templateName: success-rate}]
        args: [{name: service, value: order.bench.svc.cluster.local}]
      steps:
      - setWeight: 20
      - pause: {duration: 1h}
EOF
}

# wait_for WHAT SECONDS FILTER: until the jq FILTER on the Rollout is "true".
wait_for() {
	local what=$1 secs=$2 filter=$3 i
	for ((i = 0; i < secs * 10; i++)); do
		[[ $(rollout "$filter") == true ]] && return 0
		alive "$UP_PID" || die "graylane up exited: $(tail -20 "$TMP/up.log")"
		sleep 0.1
	done
	die "the Rollout was never $what within ${secs}s: $(rollout .)"
}

# ---------------------------------------------------------------- graylane up
manifest "" >"$TMP/manifest.yaml"
log "starting graylane up (stable v1)"
graylane up -f "$TMP/manifest.yaml" --gateway-port 0 --admin 127.0.0.1:0 --client-proxy "" \
	--state-dir "$TMP/up-state" -o json >"$TMP/up.json" 2>"$TMP/up.log" &
UP_PID=$!
for ((i = 0; i < 300; i++)); do
	grep -q '}' "$TMP/up.json" 2>/dev/null && [[ $(jq -r '.gateway // empty' "$TMP/up.json" 2>/dev/null) == http* ]] && break
	alive "$UP_PID" || die "graylane up exited: $(tail -20 "$TMP/up.log")"
	sleep 0.1
done
GW=$(jq -r '.gateway // empty' "$TMP/up.json" 2>/dev/null || true)
ADMIN=$(jq -r '.admin // empty' "$TMP/up.json" 2>/dev/null || true)
[[ $GW == http* && $ADMIN == http* ]] || die "graylane up not ready after 30 s: $(tail -20 "$TMP/up.log")"
GW=${GW#http://} ADMIN=${ADMIN#http://}
wait_for "Healthy" 30 '.phase == "Healthy" and .stable.ready == 2'
code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 -H 'Host: order.bench.local' "http://$GW/" || true)
[[ $code == 200 ]] || die "the gateway $GW answers $code for order.bench.local"
log "graylane up pid $UP_PID: gateway $GW, admin $ADMIN"

# ---------------------------------------------------------------- runs
declare -a T_ROLLBACK N_METRICS N_VEGETA N_VEGETA_ERR MESSAGES
json_runs=""
for ((run = 1; run <= RUNS; run++)); do
	# The canary's dependency, killed at T0.
	graylane sample --app dep --version-name v1 --port 0 2>"$TMP/dep-$run.log" &
	DEP_PID=$!
	DEP=""
	for ((i = 0; i < 100; i++)); do
		DEP=$(sed -n 's/.*msg="sample listening" addr=\([0-9.:]*\).*/\1/p' "$TMP/dep-$run.log" | head -1)
		[[ -n $DEP ]] && break
		alive "$DEP_PID" || die "graylane sample exited: $(cat "$TMP/dep-$run.log")"
		sleep 0.1
	done
	[[ -n $DEP ]] || die "graylane sample did not start"

	# A fresh canary (a new dependency address: a new pod template hash).
	manifest "http://$DEP/" >"$TMP/canary-$run.yaml"
	out=$(curl -s -m 10 --data-binary @"$TMP/canary-$run.yaml" "http://$ADMIN/apply?name=canary-$run.yaml")
	[[ $(jq -r '.error // empty' <<<"$out") == "" ]] || die "apply: $out"
	wait_for "paused at 20% with the canary ready" 60 \
		'.phase == "Paused" and .canaryWeight == 20 and .canary.ready >= 1 and .stable.ready == 2'
	log "run $run: paused at 20%, canary $(rollout .canaryHash) calls $DEP; load ${RATE} req/s for ${PRE}s"

	# The load: RATE req/s through the gateway, stopped once measured.
	echo "GET http://$GW/" >"$TMP/target"
	vegeta attack -targets "$TMP/target" -header 'Host: order.bench.local' -rate "$RATE" \
		-duration "$((PRE + MAX_WAIT + 5))s" -max-connections "$MAXCONN" -output "$TMP/results-$run.bin" &
	VEG_PID=$!
	# PRE s plus a random part of one interval, so that T0 falls at a
	# random point between two measurements (else every run would hit the
	# same phase of the analysis and the scrape).
	jitter_ms=$((RANDOM % (${INTERVAL%s} * 1000)))
	sleep "$(awk -v p="$PRE" -v j="$jitter_ms" 'BEGIN { printf "%.3f", p + j / 1000 }')"

	# T0: the spike. From now on the canary answers 502.
	before=$(canary_served)
	t0=$(now_ns)
	kill -KILL "$DEP_PID"
	wait "$DEP_PID" 2>/dev/null || true
	DEP_PID=""

	elapsed="" weight=""
	while :; do
		weight=$(rollout .canaryWeight)
		if [[ $weight == 0 ]]; then
			t1=$(now_ns)
			elapsed=$(((t1 - t0) / 1000000))
			break
		fi
		(($(ms_since "$t0") > MAX_WAIT * 1000)) && break
		sleep "$POLL_S"
	done
	[[ -n $elapsed ]] || die "run $run: the canary weight is still $weight ${MAX_WAIT}s after the spike: $(rollout .message)"
	sleep 1 # requests in flight at the rollback finish
	after=$(canary_served)
	stop "$VEG_PID" INT
	VEG_PID=""
	msg=$(rollout .message)

	# Per request (vegeta): answers from the canary to requests sent at or
	# after T0, and how many of them were errors.
	read -r n_veg n_veg_err n_total n_err_total n_late < <(vegeta encode --to json "$TMP/results-$run.bin" | jq -rs --argjson t0 "$t0" --argjson t1 "$t1" '
		def ns: capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$") as $m
			| (($m.s + "Z") | fromdateiso8601) * 1e9 + ((($m.f // "0") + "000000000")[0:9] | tonumber);
		[.[] | select((.timestamp | ns) >= $t0)] as $after
		| [$after[] | select((.body // "" | @base64d) | startswith("order(v2)"))] as $canary
		| "\($canary | length) \([$canary[] | select(.code >= 500)] | length) \($after | length) \([$after[] | select(.code != 200)] | length) \([$canary[] | select((.timestamp | ns) >= $t1)] | length)"')
	n_metrics=$((after - before))
	T_ROLLBACK+=("$elapsed") N_METRICS+=("$n_metrics") N_VEGETA+=("$n_veg") N_VEGETA_ERR+=("$n_veg_err") MESSAGES+=("$msg")
	log "run $run: canary weight 0 after ${elapsed} ms; canary served $n_metrics requests after T0 (metrics), $n_veg of the requests sent after T0 ($n_veg_err of them 5xx; $n_err_total non-200 of $n_total overall; $n_late canary requests sent after the weight was seen at 0); T0 was ${jitter_ms} ms into the jitter"
	log "run $run: $msg"
	json_runs+="${json_runs:+,}$(jq -nc --argjson ms "$elapsed" --argjson m "$n_metrics" --argjson v "$n_veg" \
		--argjson ve "$n_veg_err" --argjson n "$n_total" --argjson e "$n_err_total" --argjson late "$n_late" --arg msg "$msg" \
		'{rollback_ms: $ms, canary_after_t0_metrics: $m, canary_after_t0_vegeta: $v, canary_5xx_after_t0: $ve, requests_after_t0: $n, non200_after_t0: $e, canary_after_weight0: $late, message: $msg}')"
	# Wait for the aborted canary to be scaled down, and for the spike to
	# leave the analysis window: the next canary's first measurement would
	# see it (a Service-level query) and abort at once.
	wait_for "scaled down" 30 '.canary.ready == 0'
	((run < RUNS)) && sleep "$SETTLE"
done

# ---------------------------------------------------------------- report
# stats V...: min median max.
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%s %s %s", v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[NR] }'; }
read -r tmin tmed tmax <<<"$(stats "${T_ROLLBACK[@]}")"
read -r mmin mmed mmax <<<"$(stats "${N_METRICS[@]}")"
read -r vmin vmed vmax <<<"$(stats "${N_VEGETA[@]}")"
echo
echo "rollback drill: ${RATE} req/s, canary at 20%, analysis interval ${INTERVAL}, window ${WINDOW}, failureLimit 0, ${RUNS} runs"
printf '%-44s %8s %8s %8s   %s\n' "" min median max "runs"
printf '%-44s %8s %8s %8s   %s\n' "time from the spike to canary weight 0 (ms)" "$tmin" "$tmed" "$tmax" "${T_ROLLBACK[*]}"
printf '%-44s %8s %8s %8s   %s\n' "canary requests after the spike (metrics)" "$mmin" "$mmed" "$mmax" "${N_METRICS[*]}"
printf '%-44s %8s %8s %8s   %s\n' "canary requests after the spike (vegeta)" "$vmin" "$vmed" "$vmax" "${N_VEGETA[*]}"
echo "message (run 1): ${MESSAGES[0]}"

mkdir -p "$ROOT/bench/results"
outfile=$ROOT/bench/results/rollback-$(date -u +%Y%m%dT%H%M%SZ).json
jq -n --argjson runs "[$json_runs]" --arg rate "$RATE" --arg interval "$INTERVAL" --arg window "$WINDOW" \
	--arg date "$(date -u +%FT%TZ)" --arg go "$(go env GOVERSION)" --argjson cpus "$(nproc)" \
	'{date: $date, go: $go, cpus: $cpus, rate: ($rate | tonumber), interval: $interval, window: $window, failureLimit: 0, runs: $runs}' >"$outfile"
log "wrote $outfile"
