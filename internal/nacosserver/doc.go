// Package nacosserver serves, from memory, a Nacos-compatible service
// registry and configuration center: the v1 HTTP Open API
// (https://nacos.io/docs/latest/guide/user/open-api/) for naming, config,
// long-polling listeners and login, and the Nacos 2.x gRPC protocol (on the
// HTTP port + 1000) as far as github.com/nacos-group/nacos-sdk-go/v2 v2.3.2
// uses it. Apps built on the official clients run against it unchanged.
//
// Behaviour follows the Nacos server source (github.com/alibaba/nacos); each
// handler names the file it follows. State lives in memory only: a restart
// forgets every instance and configuration, as a standalone Nacos with an
// empty embedded database would after a wipe.
//
// The package imports no other graylane package.
package nacosserver
