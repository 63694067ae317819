package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNacosServe runs `graylane nacos serve` with auth and talks to it over
// the v1 HTTP API: login, register, list.
func TestNacosServe(t *testing.T) {
	info := startNacosServe(t, "--username", "nacos", "--password", "pw")
	base := info["listen"]
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasPrefix(info["grpc"], "127.0.0.1:") {
		t.Fatalf("start message = %v, want listen http://127.0.0.1:PORT and grpc 127.0.0.1:PORT", info)
	}

	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/nacos/v1/ns/instance", url.Values{"serviceName": {"orders"}, "ip": {"10.0.0.1"}, "port": {"80"}}); code != http.StatusForbidden {
		t.Errorf("register without a token: %d %s, want 403", code, body)
	}
	code, body := post("/nacos/v1/auth/login", url.Values{"username": {"nacos"}, "password": {"pw"}})
	var login struct{ AccessToken string }
	if err := json.Unmarshal([]byte(body), &login); code != http.StatusOK || err != nil || login.AccessToken == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	form := url.Values{"serviceName": {"orders"}, "ip": {"10.0.0.1"}, "port": {"80"}, "accessToken": {login.AccessToken}}
	if code, body := post("/nacos/v1/ns/instance", form); code != http.StatusOK || body != "ok" {
		t.Errorf("register: %d %s, want 200 ok", code, body)
	}
}
