// Package route implements Istio VirtualService and DestinationRule routing
// semantics on the typed upstream objects (istio.io/client-go), with no I/O.
//
// Compile turns a set of VirtualServices, DestinationRules, Gateways and
// Services into a Table: per source (the mesh, or one gateway) an index of
// virtual hosts, each holding its precompiled routes. Table.Evaluate answers
// "where does this request go?" the way an Envoy configured by istiod would:
// host selection (exact, then longest wildcard), gateways vs mesh, ordered
// routes with first match wins, match blocks OR'ed, fields inside a block
// AND'ed, delegate merging, and DestinationRule subset resolution.
//
// Table.Hop turns a Result into what the proxy does with the request
// (answer 404, redirect, direct response, 503 with its flags, fault,
// mirrors, upstream target and Host, header operations, timeout and
// retries): the one decision that `graylane simulate`, `graylane route`
// and the embedded proxy share. Its draws come from the caller (Rand).
//
// Evaluate does not allocate for requests that match a route; the matchers
// (including RE2 full-match regexes, which are reduced to literal checks
// where their shape allows) are built once by Compile.
package route
