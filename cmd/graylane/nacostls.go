package main

import (
	"github.com/spf13/pflag"

	"github.com/graylane/graylane/internal/nacosclient"
)

// addNacosTLSFlags adds the TLS flags of a Nacos client, each name after
// prefix ("" for nacos scan and fix, "nacos-" for up and apply), each
// defaulting to its GRAYLANE_NACOS_* variable (nacosFlagsOverEnv).
func addNacosTLSFlags(f *pflag.FlagSet, prefix string, o *nacosclient.TLSOptions) {
	f.StringVar(&o.CAFile, prefix+"ca-file", "", "with an https:// Nacos: PEM file of CA certificates trusted besides the system's (default: env "+nacosclient.EnvCAFile+")")
	f.StringVar(&o.CertFile, prefix+"cert-file", "", "with an https:// Nacos: client certificate PEM file, for a Nacos that requires one (mutual TLS; default: env "+nacosclient.EnvCertFile+")")
	f.StringVar(&o.KeyFile, prefix+"key-file", "", "with an https:// Nacos: the client certificate's key PEM file (default: env "+nacosclient.EnvKeyFile+")")
	f.StringVar(&o.ServerName, prefix+"server-name", "", "with an https:// Nacos: the name its certificate must carry, when not the URL's host (default: env "+nacosclient.EnvServerName+")")
	f.BoolVar(&o.InsecureSkipVerify, prefix+"insecure-skip-verify", false, "with an https:// Nacos: trust any certificate, for tests only (default: env "+nacosclient.EnvInsecureSkipVerify+")")
}

// nacosTLSFlags are the names addNacosTLSFlags adds after the prefix.
var nacosTLSFlags = []string{"ca-file", "cert-file", "key-file", "server-name", "insecure-skip-verify"}

// nacosFlagsOverEnv fills each Nacos client option of o that its flag
// left empty from env (the GRAYLANE_NACOS_* variables); prefix is that
// of the TLS flags (addNacosTLSFlags).
func nacosFlagsOverEnv(f *pflag.FlagSet, prefix string, o *nacosclient.Options, env nacosclient.Options) {
	for _, p := range []struct{ flag, env *string }{
		{&o.Server, &env.Server}, {&o.Namespace, &env.Namespace},
		{&o.Username, &env.Username}, {&o.Password, &env.Password}, {&o.Protocol, &env.Protocol},
		{&o.TLS.CAFile, &env.TLS.CAFile}, {&o.TLS.CertFile, &env.TLS.CertFile},
		{&o.TLS.KeyFile, &env.TLS.KeyFile}, {&o.TLS.ServerName, &env.TLS.ServerName},
	} {
		if *p.flag == "" {
			*p.flag = *p.env
		}
	}
	if !f.Changed(prefix + "insecure-skip-verify") {
		o.TLS.InsecureSkipVerify = env.TLS.InsecureSkipVerify
	}
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}
