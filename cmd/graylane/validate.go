package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/embedded"
	"github.com/graylane/graylane/internal/route"
)

// Flag values are checked here, before a command starts anything, so that
// a port out of range or an address that does not parse is bad input
// (exit code 2) and not a failure half-way through.

// validate checks the flags of `graylane up`.
func (o *upOptions) validate() error {
	if err := cli.CheckFormat(o.output); err != nil {
		return err
	}
	if err := checkPort("--gateway-port", o.gatewayPort); err != nil {
		return err
	}
	if err := checkListen("--admin", o.admin); err != nil {
		return err
	}
	if o.client != "" {
		if err := checkListen("--client-proxy", o.client); err != nil {
			return err
		}
	}
	if o.nacos != "" {
		if err := checkNacosAddr("--nacos", o.nacos); err != nil {
			return err
		}
	}
	if o.prometheus != "" {
		if err := checkHTTPURL("--prometheus", o.prometheus); err != nil {
			return err
		}
	}
	if err := o.canaryNacos.check(); err != nil {
		return err
	}
	policy, err := route.ParseOutboundPolicy(o.outbound)
	if err != nil {
		return &cli.InputError{Err: fmt.Errorf("--outbound-traffic-policy: %w", err)}
	}
	o.outboundPolicy = policy
	switch o.sampleProcesses {
	case embedded.SamplesShared, embedded.SamplesPerReplica:
	default:
		return &cli.InputError{Err: fmt.Errorf("--sample-processes %q: want %s or %s", o.sampleProcesses, embedded.SamplesShared, embedded.SamplesPerReplica)}
	}
	return o.edge.validate()
}

// validate checks the edge flags by their names: sizes are positive (the
// body size and connection count may be -1, no limit), heads at most 8 MiB.
func (f upEdgeFlags) validate() error {
	const mostKB = 8 << 10
	for _, c := range []struct {
		flag     string
		v, least int64
		most     int64
	}{
		{"--max-request-headers-kb", int64(f.maxHeadersKB), 1, mostKB},
		{"--max-headers-count", int64(f.maxHeadersCount), 1, 1 << 20},
		{"--max-request-line-kb", int64(f.maxLineKB), 1, mostKB},
		{"--max-header-field-kb", int64(f.maxFieldKB), 1, mostKB},
		{"--max-request-body-mb", f.maxBodyMB, -1, 1 << 40},
		{"--max-connections", int64(f.maxConns), -1, 1 << 30},
	} {
		if c.v < c.least || c.v > c.most || c.v == 0 {
			noLimit := ""
			if c.least < 0 {
				noLimit = ", or -1 for no limit"
			}
			return &cli.InputError{Err: fmt.Errorf("%s %d: want 1..%d%s", c.flag, c.v, c.most, noLimit)}
		}
	}
	return nil
}

// checkPort accepts 0 (any free port) to 65535.
func checkPort(flag string, port int) error {
	if port < 0 || port > 65535 {
		return &cli.InputError{Err: fmt.Errorf("%s %d: want a port 0..65535 (0: any free port)", flag, port)}
	}
	return nil
}

// checkListen is cli.CheckListen (graylane-gate shares it).
func checkListen(flag, addr string) error { return cli.CheckListen(flag, addr) }

// checkHTTPURL accepts an absolute http:// or https:// URL with a host.
func checkHTTPURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &cli.InputError{Err: fmt.Errorf("%s %q: want an http:// or https:// URL, e.g. http://127.0.0.1:8470", flag, raw)}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return &cli.InputError{Err: fmt.Errorf("%s %q: port %s is not 1..65535", flag, raw, p)}
		}
	}
	return nil
}

// checkAdmin checks the admin address of a running `graylane up` that a
// --local command talks to (--admin, else $GRAYLANE_ADMIN): HOST:PORT or an
// http:// URL.
func checkAdmin(flag string) error {
	addr := adminapi.Admin(flag)
	name := "--admin"
	if flag == "" {
		name = "$GRAYLANE_ADMIN"
	}
	if strings.Contains(addr, "://") {
		return checkHTTPURL(name, addr)
	}
	if err := checkListen(name, addr); err != nil {
		return err
	}
	if host, port, _ := net.SplitHostPort(addr); host == "" || port == "0" {
		return &cli.InputError{Err: fmt.Errorf("%s %q: want the HOST:PORT that graylane up printed as admin, e.g. 127.0.0.1:15000", name, addr)}
	}
	return nil
}
