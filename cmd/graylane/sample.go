package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/sample"
)

func newSampleCmd(stdout, stderr io.Writer) *cobra.Command {
	settings := sample.Settings()
	values := make([]string, len(settings))
	var output string
	c := &cobra.Command{
		Use:   "sample [flags]",
		Short: "Run the built-in sample app (Graylane's go-http-sample)",
		Long: `Runs the sample HTTP app that stands in for the go-http-sample demo image: every
request (any method, any path but /healthz) is answered "<app>(<version>)",
followed by " -> " and the answer of each upstream_url, so the versions a request
met along a chain show in its response. Accept: application/json gives nested JSON.

Each flag has an environment variable of the same meaning (shown in its help);
flags win. Logs go to standard error.

Nacos discovery mode (environment only, Spring Boot's names; docs/sample.md):
SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR=host:port makes the app register itself
as SPRING_APPLICATION_NAME, resolve lb://SERVICE/path upstreams to a Nacos
instance's IP (called through HTTP_PROXY, as a sidecar intercepts everything),
and follow client urls from the Nacos configurations in SPRING_CONFIG_IMPORT.

Exit codes: 0 after a clean stop (Ctrl-C, SIGTERM), 1 failure (e.g. the port is
in use), 2 bad input (an invalid flag or environment value).`,
		Example: `  app=appa version=v2 upstream_url=http://appb:8000/ graylane sample
  SPRING_CLOUD_NACOS_DISCOVERY_SERVER_ADDR=127.0.0.1:8848 SPRING_APPLICATION_NAME=order-service \
    app=order upstream_url=lb://payment-service/ graylane sample --port 8082
  graylane sample --app appb --version-name v1 --port 8001 --error-rate 0.1 --latency-ms 20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := make(map[string]string)
			for i, s := range settings {
				if cmd.Flags().Changed(s.Flag) {
					flags[s.Flag] = values[i]
				}
			}
			if err := cli.CheckFormat(output); err != nil {
				return err
			}
			o, err := sample.Load(os.LookupEnv, flags)
			if err != nil {
				return err
			}
			o.Ready = func(addr string) { printListening(stdout, output, addr) }
			return sample.Run(cmd.Context(), o, slog.New(slog.NewTextHandler(stderr, nil)))
		},
	}
	c.SetOut(stdout)
	c.Flags().StringVarP(&output, "output", "o", "text", "how to print the listening address once serving: text, json or yaml")
	c.SetErr(stderr)
	for i, s := range settings {
		c.Flags().StringVar(&values[i], s.Flag, s.Default, s.Usage+" (env "+s.Env+")")
	}
	return c
}

// newSampleHostCmd is the hidden command of the sample host, the one
// process that serves `graylane up`'s built-in sample replicas (see
// sample.RunHost). Its log is the runtime's; each replica has its own.
func newSampleHostCmd(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    sample.HostCommand,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return sample.RunHostFD(cmd.Context(), slog.New(slog.NewTextHandler(stderr, nil)))
		},
	}
}
