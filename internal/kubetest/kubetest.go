// Package kubetest starts a real Kubernetes control plane for tests: etcd and
// kube-apiserver (through controller-runtime's envtest) with the upstream
// Istio and Argo Rollouts CRDs installed from the Go module cache.
//
// The binaries come from .cache/kube/bin at the root of the repository, built
// by hack/build-kube-tools.sh (`make deps`). Without them Start skips the test,
// except under CI=true where it fails.
package kubetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/graylane/graylane/internal/kubeapply"
)

// Versions of the modules whose CRDs are installed; they match go.mod (a
// test checks).
const (
	IstioAPIVersion = "v1.27.0"
	RolloutsVersion = "v1.8.3"
)

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as an admin.
	Config *rest.Config
	// Client is a controller-runtime client whose scheme knows the built-in
	// Kubernetes types, Istio networking v1/v1beta1/v1alpha3 and Argo
	// Rollouts v1alpha1.
	Client client.Client
	// Kubeconfig is the path of an admin kubeconfig (group system:masters)
	// for out-of-process components.
	Kubeconfig string

	env *envtest.Environment
}

// Option changes what Start installs.
type Option func(*Config)

// WithCRDPaths installs the CRDs of these files or folders as well.
func WithCRDPaths(paths ...string) Option {
	return func(c *Config) { c.CRDPaths = append(c.CRDPaths, paths...) }
}

// Config says how to launch a control plane.
type Config struct {
	// BinDir holds etcd and kube-apiserver.
	BinDir string
	// CRDPaths are installed in addition to the Istio and Argo Rollouts CRDs.
	CRDPaths []string
	// KubeconfigPath is where the admin kubeconfig is written.
	KubeconfigPath string
}

// Start starts etcd and kube-apiserver with the Istio and Argo Rollouts CRDs
// and stops them in t.Cleanup. When the binaries are missing it skips the
// test (fails it when CI=true).
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := Config{KubeconfigPath: filepath.Join(t.TempDir(), "kubeconfig")}
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := BinDir()
	if err == nil {
		err = haveBinaries(bin, "etcd", "kube-apiserver")
	}
	if err != nil {
		missing(t, err)
	}
	cfg.BinDir = bin
	env, err := Launch(cfg)
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	return env
}

// missing skips the test, or fails it under CI=true.
func missing(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("kube test tools missing (%v): run `make deps` or hack/build-kube-tools.sh", err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Launch starts a control plane; Stop stops it. Start is the form for tests.
func Launch(cfg Config) (*Env, error) {
	crds, err := DefaultCRDPaths()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: cfg.BinDir,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              append(crds, cfg.CRDPaths...),
			ErrorIfPathMissing: true,
		},
	}
	restCfg, err := te.Start()
	if err != nil {
		_ = te.Stop()
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	env := &Env{Config: restCfg, env: te}
	if err := env.finish(cfg.KubeconfigPath); err != nil {
		_ = te.Stop()
		return nil, err
	}
	return env, nil
}

func (e *Env) finish(kubeconfigPath string) error {
	scheme, err := kubeapply.NewScheme()
	if err != nil {
		return err
	}
	// Tests read and write kinds beyond what graylane apply types (Nodes,
	// ReplicaSets of apps/v1 are in both; RBAC, ... only here).
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("build scheme: %w", err)
	}
	e.Client, err = client.New(e.Config, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	user, err := e.env.AddUser(envtest.User{Name: "graylane-admin", Groups: []string{"system:masters"}}, e.Config)
	if err != nil {
		return fmt.Errorf("add admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("render kubeconfig: %w", err)
	}
	if err := os.WriteFile(kubeconfigPath, kc, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	e.Kubeconfig = kubeconfigPath
	return nil
}

// Stop stops kube-apiserver and etcd and removes their data.
func (e *Env) Stop() error {
	if err := e.env.Stop(); err != nil {
		return fmt.Errorf("stop etcd and kube-apiserver: %w", err)
	}
	return nil
}

// RepoRoot walks up from the working directory to the folder with the
// main module's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/graylane/graylane\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod of github.com/graylane/graylane above the working directory")
		}
		dir = parent
	}
}

// BinDir returns .cache/kube/bin of the repository.
func BinDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "kube", "bin"), nil
}

func haveBinaries(dir string, names ...string) error {
	var miss []string
	for _, n := range names {
		info, err := os.Stat(filepath.Join(dir, n))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			miss = append(miss, n)
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("%s not in %s", strings.Join(miss, ", "), dir)
	}
	return nil
}

// DefaultCRDPaths returns the Istio CRD file and the Argo Rollouts CRD folder
// in the Go module cache.
func DefaultCRDPaths() ([]string, error) {
	cache, err := modCache()
	if err != nil {
		return nil, err
	}
	paths := []string{
		filepath.Join(cache, "istio.io", "api@"+IstioAPIVersion, "kubernetes", "customresourcedefinitions.gen.yaml"),
		filepath.Join(cache, "github.com", "argoproj", "argo-rollouts@"+RolloutsVersion, "manifests", "crds"),
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("CRDs not in the module cache (run `go mod download` in the repository): %w", err)
		}
	}
	return paths, nil
}

// modCache returns GOMODCACHE, asking the go command when the environment
// does not say.
func modCache() (string, error) {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c, nil
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
