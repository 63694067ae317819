// Package expand turns a loaded manifest set into what the functional
// core evaluates: Releases rendered into their Rollouts, Services and
// routing, Lanes compiled into their routing and edge entry (Manifests),
// the routing compiler's input (RouteInput) and the simulator's inventory
// (Inventory). It reads no file, writes no output and reads no clock: the
// CLI (internal/cli, the route, simulate, render and apply commands), lint
// and the tests give it a set loaded by internal/manifest.
package expand
