package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/graylane/graylane/internal/decide"
	"github.com/graylane/graylane/internal/gate/store"
)

// ServeOptions are the options of `graylane gate serve`.
type ServeOptions struct {
	DSN            string
	Listen         string
	AdminTokenFile string // or env GRAYLANE_GATE_ADMIN_TOKEN
	CookieKeyFile  string // or env GRAYLANE_GATE_COOKIE_KEY
	LaneKeyFile    string // optional, or env GRAYLANE_GATE_LANE_KEY: accept signed lane headers in ext_authz
	OpenRead       bool
	Identity       IdentityOptions
	Cookie         CookieOptions // Key is filled from CookieKeyFile
	PollInterval   time.Duration // default 200ms
	// WriteCheckInterval is how often the store's health write runs
	// (default 5s; negative: never).
	WriteCheckInterval time.Duration
	ShutdownTimeout    time.Duration // default 10s
	// Ready, if set, is called with the listening address once serving.
	Ready func(addr string)
}

// Environment variables read when the matching file flag is empty.
const (
	EnvAdminToken = "GRAYLANE_GATE_ADMIN_TOKEN"
	EnvCookieKey  = "GRAYLANE_GATE_COOKIE_KEY"
	EnvLaneKey    = "GRAYLANE_GATE_LANE_KEY"
)

// ConfigError is a problem with the serve options (exit code 2).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// LoadSecret reads a secret from file (trimmed), else from the environment
// variable env.
func LoadSecret(file, env string, lookup func(string) (string, bool)) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", &ConfigError{fmt.Errorf("read secret: %w", err)}
		}
		return strings.TrimSpace(string(b)), nil
	}
	if v, ok := lookup(env); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v), nil
	}
	return "", &ConfigError{fmt.Errorf("no secret: give the file flag or set %s", env)}
}

// Serve runs the gate until ctx ends.
func Serve(ctx context.Context, o ServeOptions, log *slog.Logger) error {
	// Every secret is read and checked before the store is opened: a
	// store (a SQLite file, tables in a database) is never created for a
	// gate that cannot start.
	token, err := LoadSecret(o.AdminTokenFile, EnvAdminToken, os.LookupEnv)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if err := checkAdminToken(token); err != nil {
		return &ConfigError{err}
	}
	key, err := LoadSecret(o.CookieKeyFile, EnvCookieKey, os.LookupEnv)
	if err != nil {
		return fmt.Errorf("cookie key: %w", err)
	}
	o.Cookie.Key = []byte(key)
	signer, err := NewSigner(o.Cookie)
	if err != nil {
		return &ConfigError{err}
	}
	laneKey, err := loadLaneKey(o.LaneKeyFile)
	if err != nil {
		return err
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.WriteCheckInterval == 0 {
		o.WriteCheckInterval = 5 * time.Second
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := store.Open(octx, o.DSN, log)
	cancel()
	if errors.Is(err, store.ErrBadDSN) {
		return &ConfigError{err}
	}
	if err != nil {
		return err
	}
	defer st.Close()
	g, err := New(ctx, st, signer, log, HandlerOptions{Identity: o.Identity, AdminToken: token, OpenRead: o.OpenRead, LaneKey: laneKey})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: g.Handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: MaxSnapshotWait + 5*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	srv.RegisterOnShutdown(g.Snapshots.Close) // long polls answer at once
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go g.Snapshots.Run(pctx, o.PollInterval, time.Second)
	if o.WriteCheckInterval > 0 {
		go g.Snapshots.RunWriteChecks(pctx, o.WriteCheckInterval, 10*time.Second)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gate serving", "addr", ln.Addr().String(), "store", st.Dialect())
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

// loadLaneKey reads the optional lane key (file, else the environment).
func loadLaneKey(file string) ([]byte, error) {
	if _, set := os.LookupEnv(EnvLaneKey); !set && file == "" {
		return nil, nil
	}
	k, err := LoadSecret(file, EnvLaneKey, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("lane key: %w", err)
	}
	if len(k) < 16 {
		return nil, &ConfigError{errors.New("lane key: want at least 16 bytes")}
	}
	return []byte(k), nil
}

// Gate is an assembled gate: snapshots, metrics and the HTTP handler.
type Gate struct {
	Snapshots *Snapshots
	Metrics   *Metrics
	Handler   *Handler
}

// New wires a gate over a store and loads the first snapshot (failing if
// the store cannot be read). The caller runs g.Snapshots.Run to poll (and
// RunWriteChecks to check writes).
func New(ctx context.Context, st Store, signer *Signer, log *slog.Logger, o HandlerOptions) (*Gate, error) {
	var g Gate
	o = o.withDefaults()
	rules := decide.Rules{Identity: o.Identity.decide(), LaneKey: o.LaneKey}
	if signer != nil {
		rules.UserBucket = signer.bucketCookie()
	}
	g.Snapshots = NewSnapshots(nil, log, rules)
	g.Metrics = NewMetrics(g.Snapshots)
	timed := g.Metrics.Instrument(st)
	g.Snapshots.store = timed
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := g.Snapshots.Refresh(lctx); err != nil {
		return nil, err
	}
	h, err := NewHandler(g.Snapshots, timed, signer, g.Metrics, log, o)
	if err != nil {
		return nil, &ConfigError{err}
	}
	g.Handler = h
	return &g, nil
}
