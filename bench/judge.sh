#!/usr/bin/env bash
# bench/judge.sh: the judge's quality (issue 5), at two levels.
#
#   bench/judge.sh           simulation in virtual time, then real traffic
#   bench/judge.sh sim       only the simulation (seconds)
#   bench/judge.sh real      only real traffic (minutes)
#
# Simulation: seeded per-request draws at 1000 rps, judged once per virtual
# second, 50 runs per case (bench/judge_bench_test.go).
# Real traffic: the embedded runtime runs the sample app as pay v1 (0.1%
# errors), v2 (5% errors) and v3 (identical to v1); a load loop sends 1000
# rps through the client sidecar; a fresh graylane.io/judge provider polls
# the embedded Prometheus every second, 50 times per case
# (BenchmarkJudgeRealTraffic in internal/embedded/judge_test.go).
# Knobs (real traffic): JUDGE_RUNS (50), JUDGE_IDENTICAL_SECONDS (10, the
# length of each identical-version run), JUDGE_SHARES (10,50: canary
# shares in percent).
# Output: the benchmark lines, also saved to bench/results/judge-<time>.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
what=${1:-all}
out=bench/results/judge-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p bench/results
{
	echo "# bench/judge.sh $what, $(date -u +%FT%TZ), JUDGE_RUNS=${JUDGE_RUNS:-50} JUDGE_IDENTICAL_SECONDS=${JUDGE_IDENTICAL_SECONDS:-10} JUDGE_SHARES=${JUDGE_SHARES:-10,50}"
	if [[ $what == all || $what == sim ]]; then
		go test ./bench -run '^$' -bench 'JudgeSim' -benchtime 1x
	fi
	if [[ $what == all || $what == real ]]; then
		go test ./internal/embedded -run '^$' -bench 'JudgeRealTraffic' -benchtime 1x -timeout 90m
	fi
} 2>&1 | tee "$out"
echo "saved $out" >&2
