package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/nacosclient"
	nacoscmd "github.com/graylane/graylane/internal/nacosscan/command"
)

// addNacosScanFlags adds the inputs `nacos scan` and `nacos fix` share.
func addNacosScanFlags(c *cobra.Command, o *nacoscmd.Options) {
	f := c.Flags()
	f.StringVar(&o.Nacos.Server, "server", "", "Nacos server URL (default: env "+nacosclient.EnvServer+", with --local the runtime's Nacos, else "+nacosclient.DefaultServer+")")
	f.StringVar(&o.Nacos.Namespace, "namespace", "", "Nacos namespace id (default: env "+nacosclient.EnvNamespace+", else public)")
	f.StringSliceVar(&o.Groups, "group", nil, "Nacos groups whose services to read, repeatable or comma-separated (default: env "+nacosclient.EnvGroup+", else DEFAULT_GROUP)")
	f.StringVar(&o.Nacos.Username, "username", "", "Nacos user to log in as (default: env "+nacosclient.EnvUsername+", else no login)")
	f.StringVar(&o.Nacos.Password, "password", "", "the user's password (default: env "+nacosclient.EnvPassword+")")
	f.StringVar(&o.Nacos.Protocol, "protocol", "", "how to talk to Nacos: auto (gRPC when the port + 1000 answers, else HTTP), grpc (Nacos 2.x/3.x) or http (the v1 Open API) (default: env "+nacosclient.EnvProtocol+", else auto); an https:// --server means TLS on both")
	addNacosTLSFlags(f, "", &o.Nacos.TLS)
	f.StringArrayVarP(&o.Files, "filename", "f", nil, "the Kubernetes side from manifests: file or folder (repeatable)")
	f.BoolVar(&o.Local, "local", false, "the Kubernetes side from a running graylane up")
	f.StringVar(&o.Admin, "admin", "", "admin address of graylane up with --local (default $GRAYLANE_ADMIN, else 127.0.0.1:15000)")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "the Kubernetes side from a cluster: kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.Context, "context", "", "kubeconfig context (default: its current context)")
	f.StringVar(&o.Prometheus, "prometheus", "", "Prometheus URL whose Istio metrics name the callers (PassthroughCluster requests; with --local default the runtime's)")
	f.DurationVar(&o.Window, "window", nacoscmd.DefaultWindow, "with --prometheus: the callers of the requests of this last while")
	f.StringVar(&o.DataID, "data-id", nacoscmd.DefaultDataID, "data id of the shared Spring configuration (.yaml, .yml or .properties)")
	f.StringVar(&o.ConfigGroup, "config-group", nacosclient.DefaultGroup, "group of the shared Spring configuration")
	addOutputFlag(c, &o.Output)
}

// nacosEnv fills what the flags left empty from the GRAYLANE_NACOS_*
// environment; a value there that does not parse is bad input.
func nacosEnv(f *pflag.FlagSet, o *nacoscmd.Options) error {
	env, err := nacosclient.OptionsFromEnv(os.LookupEnv)
	if err != nil {
		return &cli.InputError{Err: err}
	}
	nacosFlagsOverEnv(f, "", &o.Nacos, env)
	if len(o.Groups) == 0 && env.Group != "" {
		o.Groups = []string{env.Group}
	}
	return nil
}

const nacosScanInputs = `The Kubernetes side comes from one of: -f FILE|DIR (manifests; findings
carry their file:line), --local (a running graylane up), or a cluster
(--kubeconfig/--context, else the kubeconfig as kubectl finds it).
Nacos is read at --server (namespace --namespace, groups --group,
credentials --username/--password, or the GRAYLANE_NACOS_* environment).
An https:// --server means TLS on the HTTP API and the gRPC port alike,
trusted with the system's CAs and --ca-file; --cert-file/--key-file answer
a server that requires client certificates (mutual TLS).
--prometheus (with --local: the runtime's own) adds the callers Istio's
metrics show calling pod addresses in the last --window
(istio_requests_total with destination_service_name="PassthroughCluster").`

func newNacosScanCmd(stdout, stderr io.Writer) *cobra.Command {
	var o nacoscmd.Options
	c := &cobra.Command{
		Use:   "scan [-f PATH | --local | --kubeconfig FILE] [--prometheus URL]",
		Short: "Find the Nacos calls that bypass the mesh, and the services Nacos and Kubernetes disagree on",
		Long: `Compares the services and instances registered in Nacos with the Kubernetes
Services and pods, and reports (docs/nacos.md):

  bypass              callers reach a Nacos service at the pod addresses behind
                      a Kubernetes Service: VirtualService routing, canary
                      weights and lanes do not apply to them
  nacos-only          a Nacos service with no Kubernetes Service in front of its
                      instances (outside the cluster: it needs a ServiceEntry)
  missing-from-nacos  a Service of Nacos clients that no Nacos service lists

A bypass that the shared configuration (--data-id) already points at the
Service is not reported, unless the metrics show a caller still going
around it.

` + nacosScanInputs + `

Exit codes: 0 no findings, 1 findings (or Nacos, the cluster, the runtime or
Prometheus cannot be reached; a TLS certificate not accepted), 2 bad input
(flags, manifests, a TLS file that cannot be read, credentials Nacos
refuses).`,
		Example: `  graylane nacos scan -f k8s/ --server http://nacos:8848
  graylane nacos scan -f k8s/ --server https://nacos:8848 --ca-file ca.pem --cert-file client.pem --key-file client-key.pem
  graylane nacos scan --local -o json
  graylane nacos scan --context prod --namespace shop-ns --group DEFAULT_GROUP,ORDER --prometheus http://127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := nacosEnv(cmd.Flags(), &o); err != nil {
				return err
			}
			return nacoscmd.Scan(cmd.Context(), o, stdout, stderr)
		},
	}
	addNacosScanFlags(c, &o)
	return c
}

func newNacosFixCmd(stdout, stderr io.Writer) *cobra.Command {
	var o nacoscmd.FixOptions
	c := &cobra.Command{
		Use:   "fix [--dry-run] [-f PATH | --local | --kubeconfig FILE] [--service-entries FILE] [--apply-service-entries]",
		Short: "Point every bypassing Nacos client at the Kubernetes Service, in one shared Spring configuration",
		Long: `Scans as graylane nacos scan does, then writes the one shared Spring
configuration (--data-id, default graylane-mesh.yaml, group --config-group)
that points the clients of every bypassed Nacos service at the Service's DNS
name: spring.cloud.openfeign.client.config.<service>.url for Feign clients,
spring.cloud.discovery.client.simple.instances.<service>[0].uri (with the
simple discovery client ordered first) for RestTemplate/WebClient through
Spring Cloud LoadBalancer. It is merged into what the configuration holds
(other properties kept) and published with compare-and-swap: when someone
changes it in between, fix reads it again and merges again. Running fix
again changes nothing ("unchanged").

Apps read it once they import it:
  spring.config.import: optional:nacos:graylane-mesh.yaml?refreshEnabled=true

Nacos services outside the cluster get ServiceEntries: printed, or written
to --service-entries FILE. --apply-service-entries applies them where the
Kubernetes side was read: to the cluster with server-side apply (field
manager graylane), or with --local to the running graylane up (its admin
apply); one line per ServiceEntry says created, updated or unchanged. Not
with -f (manifests are no place to apply to). fix computes the
ServiceEntries it made before again from Nacos, so they follow its
instances. One it made before and no longer makes (its Nacos service is
gone or now in the cluster, or an earlier --service-entry-namespace) is
stale: listed, one line each, with how to delete it (kubectl delete
serviceentry ...); --apply-service-entries deletes it, only as fix read
it (kept otherwise): on a cluster with delete preconditions on its UID and
resourceVersion, locally with DELETE
/v1/serviceentries/NS/NAME?resourceVersion=N (the runtime refuses one
created or changed since its list gave version N). Only the entries of the
Nacos namespace and groups read are considered: with --local, list the
others with curl http://ADMIN/v1/serviceentries and delete one with
curl -X DELETE http://ADMIN/v1/serviceentries/NS/NAME. --dry-run prints the changes and the
ServiceEntries and changes nothing (on a cluster the API server checks the
apply and the deletes and stores nothing; locally nothing is sent).

` + nacosScanInputs + `

Exit codes: 0 done (published, or unchanged), 1 failure (Nacos, the
cluster, the runtime or Prometheus cannot be reached; the configuration kept
changing; a Nacos service name maps to two Services), 2 bad input.`,
		Example: `  graylane nacos fix --dry-run -f k8s/ --server http://nacos:8848
  graylane nacos fix --local
  graylane nacos fix --context prod --service-entries nacos-entries.yaml --service-entry-namespace shop
  graylane nacos fix --context prod --apply-service-entries --service-entry-namespace shop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := nacosEnv(cmd.Flags(), &o.Options); err != nil {
				return err
			}
			return nacoscmd.Fix(cmd.Context(), o, stdout, stderr)
		},
	}
	addNacosScanFlags(c, &o.Options)
	f := c.Flags()
	f.BoolVar(&o.DryRun, "dry-run", false, "print what would change; change nothing")
	f.StringVar(&o.ServiceEntries, "service-entries", "", "write the ServiceEntries to this file (default: print them)")
	f.StringVar(&o.ServiceEntryNamespace, "service-entry-namespace", nacoscmd.DefaultServiceEntryNamespace, "namespace of the ServiceEntries")
	f.BoolVar(&o.ApplyServiceEntries, "apply-service-entries", false, "apply the ServiceEntries and delete the stale ones: on the cluster (server-side apply, field manager graylane) or, with --local, on the running graylane up; not with -f")
	return c
}
