// Package command is the shell of `graylane simulate`: it parses the
// options (the entry request as `graylane route` reads it, the call graph,
// the number of requests), loads and expands the manifests, replays the
// requests with the functional core (internal/expand, internal/route,
// internal/simulate) and writes the report as text, JSON or YAML
// (internal/cli).
package command
