// Package command is the shell of `graylane route`: it parses the request
// given on the command line (RequestOptions, also read by `graylane
// simulate`), loads and expands the manifests, evaluates the request with
// the functional core (internal/expand, internal/route, internal/lane) and
// writes the report as text, JSON or YAML (internal/cli).
package command
