// Package inspect runs the offline commands that answer "where will this
// request go?": route (one request through the routing rules) and
// simulate (many requests along a call graph). It loads manifests, builds
// the request from command-line options, runs the functional core
// (internal/route, internal/simulate) and writes text, JSON or YAML.
package command
