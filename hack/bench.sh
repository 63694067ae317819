#!/usr/bin/env bash
# Runs the Go benchmarks in bench/ COUNT times (default 5) and prints, per
# benchmark, the median ns/op and allocs/op as a Markdown table.
#   hack/bench.sh            # all benchmarks
#   COUNT=10 hack/bench.sh 'Route/exact'
# A file of saved `go test -bench` output can be summarised instead:
#   hack/bench.sh --from results.txt
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--from" ]; then
	input=$(cat "$2")
else
	input=$(go test -run '^$' -bench "${1:-.}" -benchmem -count "${COUNT:-5}" -benchtime "${BENCHTIME:-0.5s}" ./bench/)
fi
printf '%s\n' "$input" | awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 2; i <= NF; i++) {
		if ($i == "ns/op") ns[name] = ns[name] " " $(i-1)
		if ($i == "allocs/op") al[name] = $(i-1)
	}
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
}
function median(list,   a, k, i, j, t) {
	k = split(list, a, " ")
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	print "| benchmark | median ns/op | allocs/op |"
	print "|---|---:|---:|"
	for (i = 1; i <= n; i++) printf "| %s | %.0f | %s |\n", order[i], median(ns[order[i]]), al[order[i]]
}'
