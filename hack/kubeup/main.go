// Command kubeup runs the test control plane of internal/kubetest (etcd and
// kube-apiserver with the Istio and Argo Rollouts CRDs) until SIGTERM or
// SIGINT. hack/kube-up starts it in the background and hack/kube-down stops
// it; use those.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/graylane/graylane/internal/kubetest"
)

func main() {
	bin := flag.String("bin", "", "folder with etcd and kube-apiserver")
	dir := flag.String("dir", "", "state folder: kubeconfig and ready are written there")
	flag.Parse()
	if *bin == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "kubeup: -bin and -dir are required")
		os.Exit(2)
	}
	if err := run(*bin, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "kubeup:", err)
		os.Exit(1)
	}
}

func run(bin, dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := filepath.Join(dir, "ready")
	_ = os.Remove(ready)
	env, err := kubetest.Launch(kubetest.Config{BinDir: bin, KubeconfigPath: filepath.Join(dir, "kubeconfig")})
	if err != nil {
		return err
	}
	if err := os.WriteFile(ready, []byte(env.Config.Host+"\n"), 0o644); err != nil {
		_ = env.Stop()
		return fmt.Errorf("write %s: %w", ready, err)
	}
	fmt.Printf("kube-apiserver serving at %s; kubeconfig %s\n", env.Config.Host, env.Kubeconfig)
	<-ctx.Done()
	_ = os.Remove(ready)
	fmt.Println("stopping")
	return env.Stop()
}
