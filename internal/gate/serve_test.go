package gate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad secrets are refused before the store is opened: no SQLite file (nor
// its folder) is created for a gate that cannot start.
func TestServeChecksSecretsBeforeTheStore(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("token", "0123456789abcdef0123")
	short := write("short", "short")
	cookie := write("cookie", strings.Repeat("k", 40))
	t.Setenv(EnvAdminToken, "")
	t.Setenv(EnvCookieKey, "")
	t.Setenv(EnvLaneKey, "") // restored after the test
	os.Unsetenv(EnvLaneKey)
	tests := []struct {
		name string
		o    ServeOptions
		want string
	}{
		{"short admin token", ServeOptions{AdminTokenFile: short, CookieKeyFile: cookie}, "admin token: want at least 16 characters, got 5"},
		{"no admin token", ServeOptions{CookieKeyFile: cookie}, "admin token: no secret"},
		{"short cookie key", ServeOptions{AdminTokenFile: good, CookieKeyFile: short}, "cookie key"},
		{"short lane key", ServeOptions{AdminTokenFile: good, CookieKeyFile: cookie, LaneKeyFile: short}, "lane key: want at least 16 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"), "gate.db")
			tc.o.DSN, tc.o.Listen = "sqlite://"+db, "127.0.0.1:0"
			err := Serve(context.Background(), tc.o, slog.New(slog.NewTextHandler(io.Discard, nil)))
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Serve = %v, want a ConfigError containing %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Dir(db)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the store's folder was created (stat: %v)", err)
			}
		})
	}
}
