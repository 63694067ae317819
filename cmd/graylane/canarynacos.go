package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/nacosclient"
)

// canaryNacosFlags are the flags of the Nacos that `graylane apply --wait`
// and `graylane up` publish canary configuration to (docs/nacos.md,
// "Canary configuration"); each defaults to its GRAYLANE_NACOS_*
// environment variable.
type canaryNacosFlags struct {
	opts  nacosclient.Options // the flags as given
	flags *pflag.FlagSet
}

// canaryNacosFlagNames are the names of the flags canaryNacosFlags.add
// adds.
var canaryNacosFlagNames = append([]string{"nacos-server", "nacos-namespace", "nacos-username", "nacos-password", "nacos-protocol"},
	prefixed("nacos-", nacosTLSFlags)...)

func (o *canaryNacosFlags) add(f *pflag.FlagSet, serverDefault string) {
	f.StringVar(&o.opts.Server, "nacos-server", "", "Nacos URL that fully promoted Rollouts' canaryConfig is published to (default: env "+nacosclient.EnvServer+", else "+serverDefault+")")
	f.StringVar(&o.opts.Namespace, "nacos-namespace", "", "Nacos namespace id for a canaryConfig that names none (default: env "+nacosclient.EnvNamespace+", else public)")
	f.StringVar(&o.opts.Username, "nacos-username", "", "Nacos user to log in as (default: env "+nacosclient.EnvUsername+", else no login)")
	f.StringVar(&o.opts.Password, "nacos-password", "", "the Nacos user's password (default: env "+nacosclient.EnvPassword+")")
	f.StringVar(&o.opts.Protocol, "nacos-protocol", "", "how to talk to that Nacos: auto (gRPC when the port + 1000 answers, else HTTP), grpc or http (default: env "+nacosclient.EnvProtocol+", else auto); an https:// --nacos-server means TLS on both")
	addNacosTLSFlags(f, "nacos-", &o.opts.TLS)
	o.flags = f
}

// options are the flags over the environment (a value there that does
// not parse is left out: check refuses it).
func (o *canaryNacosFlags) options() nacosclient.Options {
	n, _ := o.merged()
	return n
}

// merged is options, and the error of a value in the environment that
// does not parse.
func (o *canaryNacosFlags) merged() (nacosclient.Options, error) {
	env, err := nacosclient.OptionsFromEnv(os.LookupEnv)
	n := o.opts
	n.Group = env.Group
	nacosFlagsOverEnv(o.flags, "nacos-", &n, env)
	return n, err
}

// check refuses, before anything starts, a server URL or protocol (from
// the flags or the environment) the client would refuse later: over HTTP
// and without a username, nacosclient.New contacts no server.
func (o *canaryNacosFlags) check() error {
	n, err := o.merged()
	if err != nil {
		return &cli.InputError{Err: err}
	}
	if n.Server == "" && n.Protocol == "" && !n.TLS.IsSet() {
		return nil
	}
	if err := nacosclient.CheckProtocol(n.Protocol); err != nil {
		return cli.InputErrorf("--nacos-protocol: %v", err)
	}
	if err := n.TLS.Check(); err != nil {
		return &cli.InputError{Err: err} // it names the file
	}
	if n.Server == "" {
		if n.TLS.IsSet() {
			return &cli.InputError{Err: errors.New("--nacos-ca-file, --nacos-cert-file, --nacos-key-file, --nacos-server-name and --nacos-insecure-skip-verify (or their GRAYLANE_NACOS_* variables) need an https:// --nacos-server")}
		}
		return nil
	}
	if err := (nacosclient.Options{Server: n.Server, TLS: n.TLS}).Check(); err != nil {
		return &cli.InputError{Err: fmt.Errorf("--nacos-server: %w", err)}
	}
	return nil
}
