package sample

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/cli"
)

func envFunc(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	def := DefaultOptions()
	with := func(f func(o *Options)) Options { o := DefaultOptions(); f(&o); return o }
	tests := []struct {
		name  string
		env   map[string]string
		flags map[string]string
		want  Options
	}{
		{"defaults", nil, nil, def},
		{"seed env", map[string]string{"app": "appa", "version": "v2", "upstream_url": "http://appb:8000/"}, nil,
			with(func(o *Options) { o.App, o.Version, o.Upstreams = "appa", "v2", []string{"http://appb:8000/"} })},
		{"all env", map[string]string{
			"HOST": "0.0.0.0", "PORT": "9000", "error_rate": "0.25", "latency_ms": "30",
			"upstream_url": " http://b:1/ , http://c:2/x ,", "propagate_headers": "x-lane, x-b3-*",
		}, nil, with(func(o *Options) {
			o.Host, o.Port, o.ErrorRate, o.Latency = "0.0.0.0", 9000, 0.25, 30*time.Millisecond
			o.Upstreams = []string{"http://b:1/", "http://c:2/x"}
			o.PropagateHeaders = []string{"x-lane", "x-b3-*"}
		})},
		{"empty env is unset", map[string]string{"app": "", "PORT": ""}, nil, def},
		{"empty propagate_headers is none", map[string]string{"propagate_headers": ""}, nil,
			with(func(o *Options) { o.PropagateHeaders = nil })},
		{"flags win", map[string]string{"app": "appa", "error_rate": "1.5"}, map[string]string{"app": "x", "error-rate": "1", "version-name": "v9"},
			with(func(o *Options) { o.App, o.Version, o.ErrorRate = "x", "v9", 1 })},
		{"flag empty host", nil, map[string]string{"host": ""}, with(func(o *Options) { o.Host = "" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(envFunc(tc.env), tc.flags)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		flags map[string]string
		want  string
	}{
		{"error_rate too big", map[string]string{"error_rate": "1.5"}, nil, `invalid error_rate "1.5": must be a number between 0 and 1`},
		{"error_rate NaN", map[string]string{"error_rate": "NaN"}, nil, `invalid error_rate "NaN": must be a number between 0 and 1`},
		{"error_rate word", nil, map[string]string{"error-rate": "half"}, `invalid --error-rate "half": must be a number between 0 and 1`},
		{"latency negative", map[string]string{"latency_ms": "-1"}, nil, `invalid latency_ms "-1": must not be negative`},
		{"latency fraction", map[string]string{"latency_ms": "1.5"}, nil, `invalid latency_ms "1.5": must be a whole number of milliseconds`},
		{"port word", map[string]string{"PORT": "abc"}, nil, `invalid PORT "abc": must be a port number, 0..65535`},
		{"port range", nil, map[string]string{"port": "70000"}, `invalid --port "70000": must be a port number, 0..65535`},
		{"upstream scheme", map[string]string{"upstream_url": "http://ok/,ftp://b/"}, nil, `invalid upstream_url "http://ok/,ftp://b/": must be an http://, https:// or lb:// URL`},
		{"upstream no host", map[string]string{"upstream_url": "http:///x"}, nil, `invalid upstream_url "http:///x": must name a host`},
		{"upstream not URL", map[string]string{"upstream_url": "http://a b/"}, nil, `invalid upstream_url "http://a b/": not a URL: invalid character " " in host name`},
		{"propagate star inside", map[string]string{"propagate_headers": "x-*-id"}, nil, `invalid propagate_headers "x-*-id": '*' is not allowed in a header name ('*' only at the end)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(envFunc(tc.env), tc.flags)
			if err == nil {
				t.Fatal("Load: no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			var in *cli.InputError
			if !errors.As(err, &in) {
				t.Errorf("error %T is not an *cli.InputError", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(o *Options)
		want string // substring of each line; "" for no error
	}{
		{"defaults", func(*Options) {}, ""},
		{"port", func(o *Options) { o.Port = -1 }, "invalid PORT -1: must be a port number"},
		{"error rate", func(o *Options) { o.ErrorRate = math.NaN() }, "invalid error_rate NaN: must be a number between 0 and 1"},
		{"latency", func(o *Options) { o.Latency = -time.Second }, "invalid latency_ms -1000: must not be negative"},
		{"upstream", func(o *Options) { o.Upstreams = []string{"appb:8000"} }, `invalid upstream_url "appb:8000": must be an http://, https:// or lb:// URL`},
		{"header", func(o *Options) { o.PropagateHeaders = []string{""} }, `invalid propagate_headers "": empty header name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.edit(&o)
			err := o.Validate()
			got := ""
			if err != nil {
				got = err.Error()
				var in *cli.InputError
				if !errors.As(err, &in) {
					t.Errorf("error %T is not an *cli.InputError", err)
				}
			}
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Validate() = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

func TestHeaderMatcher(t *testing.T) {
	m := newHeaderMatcher(splitList(DefaultPropagateHeaders))
	tests := []struct {
		name string
		want bool
	}{
		{"X-Graylane", true},
		{"x-graylane", true},
		{"Baggage", true},
		{"X-Request-Id", true},
		{"Traceparent", true},
		{"X-B3-Traceid", true},
		{"X-B3-Sampled", true},
		{"X-B3", false},
		{"X-Graylane-Extra", false},
		{"X-Secret", false},
		{"Authorization", false},
	}
	for _, tc := range tests {
		if got := m.match(tc.name); got != tc.want {
			t.Errorf("match(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVersionFromImageTag(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GRAYLANE_IMAGE": "graylane/sample:2.0"}, "2.0"},
		{map[string]string{"GRAYLANE_IMAGE": "registry:5000/graylane/sample"}, "v1"},
		{map[string]string{"GRAYLANE_IMAGE": "graylane/sample:2.0", "version": "v9"}, "v9"},
		{map[string]string{}, "v1"},
	}
	for _, tc := range tests {
		o, err := Load(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, nil)
		if err != nil {
			t.Fatal(err)
		}
		if o.Version != tc.want {
			t.Errorf("%v: version %q, want %q", tc.env, o.Version, tc.want)
		}
	}
}
