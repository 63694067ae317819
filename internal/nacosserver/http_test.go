package nacosserver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// call sends one v1 API request; form goes in the query for GET and DELETE
// and in the body otherwise. It returns the status and the body.
func call(t *testing.T, s *Server, method, path string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	u := "http://" + s.HTTPAddr() + path
	var body io.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		u += "?" + form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

type answer struct {
	Status int
	Body   string
}

// TestBadRequests: every refused request answers the status and message
// Nacos gives, and nothing is stored.
func TestBadRequests(t *testing.T) {
	s := startServer(t, Options{MaxContent: 16})
	listen := func(v string) url.Values { return url.Values{"Listening-Configs": {v}} }
	tests := []struct {
		name         string
		method, path string
		form         url.Values
		want         answer
	}{
		{"register without serviceName", "POST", "/nacos/v1/ns/instance", url.Values{"ip": {"1.2.3.4"}, "port": {"80"}}, answer{400, "Param 'serviceName' is required."}},
		{"register without ip", "POST", "/nacos/v1/ns/instance", url.Values{"serviceName": {"a"}, "port": {"80"}}, answer{400, "Param 'ip' is required."}},
		{"register with a bad port", "POST", "/nacos/v1/ns/instance", url.Values{"serviceName": {"a"}, "ip": {"1.2.3.4"}, "port": {"70000"}}, answer{400, "Param 'port' is illegal, port should be in the range 0 to 65535: 70000"}},
		{"register with a bad weight", "POST", "/nacos/v1/ns/instance", url.Values{"serviceName": {"a"}, "ip": {"1.2.3.4"}, "port": {"80"}, "weight": {"-1"}}, answer{400, "instance format invalid: The weights range from 0.0 to 10000.0: -1"}},
		{"register with bad metadata", "POST", "/nacos/v1/ns/instance", url.Values{"serviceName": {"a"}, "ip": {"1.2.3.4"}, "port": {"80"}, "metadata": {"novalue"}}, answer{400, "metadata format incorrect:novalue"}},
		{"register with an empty group before @@", "POST", "/nacos/v1/ns/instance", url.Values{"serviceName": {"@@a"}, "ip": {"1.2.3.4"}, "port": {"80"}}, answer{400, "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'"}},
		{"list without serviceName", "GET", "/nacos/v1/ns/instance/list", url.Values{}, answer{400, "Param 'serviceName' is required."}},
		{"service list without pageSize", "GET", "/nacos/v1/ns/service/list", url.Values{"pageNo": {"1"}}, answer{400, "Param 'pageSize' is required."}},
		{"service list with a bad pageNo", "GET", "/nacos/v1/ns/service/list", url.Values{"pageNo": {"x"}, "pageSize": {"1"}}, answer{400, "Param 'pageNo' is illegal, it should be a positive integer: x"}},
		{"service detail of a missing service", "GET", "/nacos/v1/ns/service", url.Values{"serviceName": {"nope"}}, answer{400, "service DEFAULT_GROUP@@nope is not found!"}},
		{"get config without dataId", "GET", "/nacos/v1/cs/configs", url.Values{"group": {"g"}}, answer{400, "Required request parameter 'dataId' for method parameter type String is not present"}},
		{"get a missing config", "GET", "/nacos/v1/cs/configs", url.Values{"dataId": {"d"}, "group": {"g"}}, answer{404, "config data not exist"}},
		{"publish with a bad dataId", "POST", "/nacos/v1/cs/configs", url.Values{"dataId": {"a/b"}, "group": {"g"}, "content": {"x"}}, answer{400, "caused: invalid dataId : a/b;"}},
		{"publish with a bad group", "POST", "/nacos/v1/cs/configs", url.Values{"dataId": {"d"}, "group": {"g g"}, "content": {"x"}}, answer{400, "caused: invalid group : g g;"}},
		{"publish blank content", "POST", "/nacos/v1/cs/configs", url.Values{"dataId": {"d"}, "group": {"g"}, "content": {" "}}, answer{400, "caused: content is blank :  ;"}},
		{"publish too much content", "POST", "/nacos/v1/cs/configs", url.Values{"dataId": {"d"}, "group": {"g"}, "content": {strings.Repeat("x", 17)}}, answer{400, "caused: invalid content, over 16;"}},
		{"listen without Listening-Configs", "POST", "/nacos/v1/cs/configs/listener", url.Values{}, answer{400, "caused: invalid probeModify;"}},
		{"listen with a malformed line", "POST", "/nacos/v1/cs/configs/listener", listen("d\x02g\x01"), answer{400, "caused: invalid probeModify;"}},
		{"login without credentials", "POST", "/nacos/v1/auth/login", url.Values{}, answer{400, "Required request parameter 'username' or 'password' is not present"}},
		{"login with auth off", "POST", "/nacos/v1/auth/login", url.Values{"username": {"nacos"}, "password": {"nacos"}}, answer{403, userNotFound}},
		{"wrong method", "PATCH", "/nacos/v1/cs/configs", url.Values{}, answer{405, "Method Not Allowed\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, s, tc.method, tc.path, tc.form, nil)
			if diff := cmp.Diff(tc.want, answer{code, body}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := s.naming.namespaces(); !cmp.Equal(got, []string{"public"}) {
		t.Errorf("namespaces after refused requests = %v, want only public", got)
	}
}

// TestNamingHTTP registers, lists, filters, updates and deregisters
// instances over the v1 API, with namespaces, groups and clusters.
func TestNamingHTTP(t *testing.T) {
	s := startServer(t, Options{})
	reg := func(form url.Values) {
		t.Helper()
		if code, body := call(t, s, "POST", "/nacos/v1/ns/instance", form, nil); code != 200 || body != "ok" {
			t.Fatalf("register %v: %d %s", form, code, body)
		}
	}
	reg(url.Values{"serviceName": {"shop@@orders"}, "ip": {"10.0.0.1"}, "port": {"80"}, "clusterName": {"c1"}, "metadata": {`{"version":"v1"}`}})
	reg(url.Values{"serviceName": {"orders"}, "groupName": {"shop"}, "ip": {"10.0.0.2"}, "port": {"80"}, "clusterName": {"c2"}, "healthy": {"false"}})
	reg(url.Values{"serviceName": {"orders"}, "groupName": {"shop"}, "namespaceId": {"dev"}, "ip": {"10.9.9.9"}, "port": {"80"}})

	list := func(form url.Values) []string {
		t.Helper()
		code, body := call(t, s, "GET", "/nacos/v1/ns/instance/list", form, nil)
		var info serviceInfoJSON
		if err := json.Unmarshal([]byte(body), &info); code != 200 || err != nil {
			t.Fatalf("list %v: %d %s", form, code, body)
		}
		if info.Name != "shop@@orders" {
			t.Errorf("list name = %q, want shop@@orders", info.Name)
		}
		out := []string{}
		for _, h := range info.Hosts {
			out = append(out, h.InstanceID)
		}
		return out
	}
	svc := url.Values{"serviceName": {"orders"}, "groupName": {"shop"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for a, b := range svc {
			f[a] = b
		}
		f.Set(k, v)
		return f
	}
	tests := []struct {
		name string
		form url.Values
		want []string
	}{
		{"all", svc, []string{"10.0.0.1#80#c1#shop@@orders", "10.0.0.2#80#c2#shop@@orders"}},
		{"healthy only", with("healthyOnly", "true"), []string{"10.0.0.1#80#c1#shop@@orders"}},
		{"one cluster", with("clusters", "c2"), []string{"10.0.0.2#80#c2#shop@@orders"}},
		{"other namespace", with("namespaceId", "dev"), []string{"10.9.9.9#80#DEFAULT#shop@@orders"}},
		{"missing service", url.Values{"serviceName": {"shop@@none"}}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "missing service" {
				code, body := call(t, s, "GET", "/nacos/v1/ns/instance/list", tc.form, nil)
				if code != 200 || !strings.Contains(body, `"hosts":[]`) {
					t.Errorf("list of a missing service: %d %s, want 200 and no hosts", code, body)
				}
				return
			}
			if diff := cmp.Diff(tc.want, list(tc.form)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	code, body := call(t, s, "GET", "/nacos/v1/ns/instance", url.Values{"serviceName": {"shop@@orders"}, "ip": {"10.0.0.1"}, "port": {"80"}, "clusterName": {"c1"}}, nil)
	var detail map[string]any
	if err := json.Unmarshal([]byte(body), &detail); code != 200 || err != nil || detail["metadata"].(map[string]any)["version"] != "v1" {
		t.Errorf("instance detail: %d %s", code, body)
	}
	if code, body := call(t, s, "GET", "/nacos/v1/ns/instance", url.Values{"serviceName": {"shop@@orders"}, "ip": {"10.0.0.7"}, "port": {"80"}, "clusterName": {"c1"}}, nil); code != 404 || body != "no matched ip found!" {
		t.Errorf("detail of a missing instance: %d %s", code, body)
	}

	if code, body := call(t, s, "PUT", "/nacos/v1/ns/instance", url.Values{"serviceName": {"shop@@orders"}, "ip": {"10.0.0.1"}, "port": {"80"}, "clusterName": {"c1"}, "weight": {"5"}}, nil); code != 200 || body != "ok" {
		t.Errorf("update: %d %s", code, body)
	}
	if code, body := call(t, s, "DELETE", "/nacos/v1/ns/instance", url.Values{"serviceName": {"shop@@orders"}, "ip": {"10.0.0.2"}, "port": {"80"}, "clusterName": {"c2"}}, nil); code != 200 || body != "ok" {
		t.Errorf("deregister: %d %s", code, body)
	}
	if diff := cmp.Diff([]string{"10.0.0.1#80#c1#shop@@orders"}, list(svc)); diff != "" {
		t.Errorf("after deregister (-want +got):\n%s", diff)
	}

}

// TestServicesHTTP creates, lists and deletes services over the v1 API and
// reads the server's metrics and namespaces.
func TestServicesHTTP(t *testing.T) {
	s := startServer(t, Options{})
	svc := url.Values{"serviceName": {"orders"}, "groupName": {"shop"}}
	for _, ns := range []string{"public", "dev"} {
		form := url.Values{"serviceName": {"shop@@orders"}, "ip": {"10.0.0.1"}, "port": {"80"}, "namespaceId": {ns}}
		if code, body := call(t, s, "POST", "/nacos/v1/ns/instance", form, nil); code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	if code, body := call(t, s, "DELETE", "/nacos/v1/ns/service", svc, nil); code != 400 || !strings.Contains(body, "is not empty") {
		t.Errorf("delete a service with instances: %d %s, want 400 not empty", code, body)
	}
	if code, body := call(t, s, "POST", "/nacos/v1/ns/service", url.Values{"serviceName": {"payments"}, "protectThreshold": {"0.5"}}, nil); code != 200 || body != "ok" {
		t.Errorf("create service: %d %s", code, body)
	}
	if code, body := call(t, s, "POST", "/nacos/v1/ns/service", url.Values{"serviceName": {"payments"}}, nil); code != 400 || !strings.Contains(body, "already exists") {
		t.Errorf("create an existing service: %d %s", code, body)
	}
	code, body := call(t, s, "GET", "/nacos/v1/ns/service/list", url.Values{"pageNo": {"1"}, "pageSize": {"10"}}, nil)
	if code != 200 || body != `{"count":1,"doms":["payments"]}`+"\n" {
		t.Errorf("service list: %d %s", code, body)
	}
	code, body = call(t, s, "GET", "/nacos/v1/ns/operator/metrics", nil, nil)
	if code != 200 || !strings.HasPrefix(body, `{"clientCount":0,"connectionBasedClientCount":0,"instanceCount":2,"serviceCount":3,"status":"UP"`) {
		t.Errorf("metrics: %d %s", code, body)
	}
	code, body = call(t, s, "GET", "/nacos/v1/console/namespaces", nil, nil)
	if code != 200 || !strings.Contains(body, `"namespaceShowName":"dev"`) || !strings.Contains(body, `"namespaceShowName":"public"`) {
		t.Errorf("namespaces: %d %s", code, body)
	}
}

// TestBeatsAndExpiry: an instance registered over HTTP turns unhealthy and
// then goes when its beats stop (times from its preserved.* metadata); a
// beat for an unknown instance answers 20404 or, with the beat parameter,
// registers it again.
func TestBeatsAndExpiry(t *testing.T) {
	s := startServer(t, Options{BeatCheckInterval: 20 * time.Millisecond})
	meta := `{"preserved.heart.beat.timeout":"300","preserved.ip.delete.timeout":"600"}`
	svc := url.Values{"serviceName": {"cart"}}
	call(t, s, "POST", "/nacos/v1/ns/instance", url.Values{"serviceName": {"cart"}, "ip": {"10.0.0.5"}, "port": {"80"}, "metadata": {meta}}, nil)
	call(t, s, "POST", "/nacos/v1/ns/instance", url.Values{"serviceName": {"cart"}, "ip": {"10.0.0.6"}, "port": {"80"}, "ephemeral": {"false"}, "metadata": {meta}}, nil)
	hosts := func() string {
		_, body := call(t, s, "GET", "/nacos/v1/ns/instance/list", svc, nil)
		return body
	}
	waitFor(t, "the silent instance to turn unhealthy", func() bool {
		return strings.Contains(hosts(), `"ip":"10.0.0.5","port":80,"weight":1,"healthy":false`)
	})
	waitFor(t, "the silent instance to go", func() bool { return !strings.Contains(hosts(), "10.0.0.5") })
	if !strings.Contains(hosts(), "10.0.0.6") {
		t.Errorf("the persistent instance expired: %s", hosts())
	}

	code, body := call(t, s, "PUT", "/nacos/v1/ns/instance/beat", url.Values{"serviceName": {"cart"}, "ip": {"10.0.0.5"}, "port": {"80"}}, nil)
	if code != 200 || !strings.Contains(body, `"code":20404`) {
		t.Errorf("beat of a gone instance: %d %s, want code 20404", code, body)
	}
	beat := `{"ip":"10.0.0.5","port":80,"cluster":"DEFAULT","serviceName":"DEFAULT_GROUP@@cart","weight":2}`
	code, body = call(t, s, "PUT", "/nacos/v1/ns/instance/beat", url.Values{"serviceName": {"cart"}, "beat": {beat}}, nil)
	if code != 200 || !strings.Contains(body, `"code":10200`) || !strings.Contains(hosts(), `"ip":"10.0.0.5","port":80,"weight":2`) {
		t.Errorf("beat with the beat parameter: %d %s; hosts %s", code, body, hosts())
	}
}

// TestConfigHTTP publishes, reads, swaps (casMd5 header) and deletes a
// configuration, and long-polls for its change.
func TestConfigHTTP(t *testing.T) {
	s := startServer(t, Options{})
	key := url.Values{"dataId": {"app.yaml"}, "group": {"DEFAULT_GROUP"}, "tenant": {"dev"}}
	publish := func(content, casMd5 string) answer {
		t.Helper()
		f := url.Values{"content": {content}, "type": {"yaml"}}
		for k, v := range key {
			f[k] = v
		}
		h := http.Header{}
		if casMd5 != "" {
			h.Set("casMd5", casMd5)
		}
		code, body := call(t, s, "POST", "/nacos/v1/cs/configs", f, h)
		return answer{code, body}
	}
	if got := publish("a: 1", ""); got != (answer{200, "true"}) {
		t.Fatalf("publish: %v", got)
	}
	if got := publish("a: 2", md5Hex("a: 0")); got != (answer{500, "caused: Cas publish fail, server md5 may have changed.;"}) {
		t.Errorf("publish with a stale casMd5: %v", got)
	}
	if code, body := call(t, s, "GET", "/nacos/v1/cs/configs", key, nil); code != 200 || body != "a: 1" {
		t.Errorf("get after a refused CAS: %d %q, want a: 1", code, body)
	}

	// A listener with the current md5 is held until the change.
	probe := "app.yaml\x02DEFAULT_GROUP\x02" + md5Hex("a: 1") + "\x02dev\x01"
	held := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+s.HTTPAddr()+"/nacos/v1/cs/configs/listener", strings.NewReader(url.Values{"Listening-Configs": {probe}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Long-Pulling-Timeout", "60000")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		held <- answer{resp.StatusCode, string(b)}
	}()
	if got := publish("a: 2", md5Hex("a: 1")); got != (answer{200, "true"}) {
		t.Fatalf("publish with the current casMd5: %v", got)
	}
	want := answer{200, url.QueryEscape("app.yaml\x02DEFAULT_GROUP\x02dev\x01")}
	if diff := cmp.Diff(want, receive(t, "the listener's answer", held, func(answer) bool { return true })); diff != "" {
		t.Errorf("listener (-want +got):\n%s", diff)
	}
	// Without Long-Pulling-Timeout the answer comes at once, empty when nothing changed.
	probe = "app.yaml\x02DEFAULT_GROUP\x02" + md5Hex("a: 2") + "\x02dev\x01"
	if code, body := call(t, s, "POST", "/nacos/v1/cs/configs/listener", url.Values{"Listening-Configs": {probe}}, nil); code != 200 || body != "" {
		t.Errorf("short poll without changes: %d %q", code, body)
	}

	if code, body := call(t, s, "DELETE", "/nacos/v1/cs/configs", key, nil); code != 200 || body != "true" {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, _ := call(t, s, "GET", "/nacos/v1/cs/configs", key, nil); code != 404 {
		t.Errorf("get after delete: %d, want 404", code)
	}
}

// TestAuthHTTP: with auth on, calls need the token login returns (or the
// username and password parameters).
func TestAuthHTTP(t *testing.T) {
	s := startServer(t, Options{Username: "nacos", Password: "pw"})
	list := url.Values{"serviceName": {"a"}}
	if code, body := call(t, s, "GET", "/nacos/v1/ns/instance/list", list, nil); code != 403 || body != userNotFound {
		t.Errorf("without a token: %d %s", code, body)
	}
	if code, body := call(t, s, "POST", "/nacos/v1/auth/login", url.Values{"username": {"nacos"}, "password": {"nope"}}, nil); code != 403 || body != userNotFound {
		t.Errorf("login with a wrong password: %d %s", code, body)
	}
	code, body := call(t, s, "POST", "/nacos/v1/auth/login", url.Values{"username": {"nacos"}, "password": {"pw"}}, nil)
	var login struct {
		AccessToken string `json:"accessToken"`
		TokenTTL    int64  `json:"tokenTtl"`
	}
	if err := json.Unmarshal([]byte(body), &login); code != 200 || err != nil || login.AccessToken == "" || login.TokenTTL != 18000 {
		t.Fatalf("login: %d %s", code, body)
	}
	tests := []struct {
		name   string
		form   url.Values
		header http.Header
		want   int
	}{
		{"token parameter", url.Values{"serviceName": {"a"}, "accessToken": {login.AccessToken}}, nil, 200},
		{"bearer header", list, http.Header{"Authorization": {"Bearer " + login.AccessToken}}, 200},
		{"username and password", url.Values{"serviceName": {"a"}, "username": {"nacos"}, "password": {"pw"}}, nil, 200},
		{"unknown token", url.Values{"serviceName": {"a"}, "accessToken": {"forged"}}, nil, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := call(t, s, "GET", "/nacos/v1/ns/instance/list", tc.form, tc.header); code != tc.want {
				t.Errorf("got %d %s, want %d", code, body, tc.want)
			}
		})
	}
}

func FuzzParseListening(f *testing.F) {
	f.Add("d\x02g\x02md5\x01")
	f.Add("d\x02g\x02md5\x02t\x01d2\x02g\x02\x01")
	f.Add("\x02\x02\x02\x02\x01")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := parseListening(s)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.key.dataID == "" || e.key.group == "" {
				t.Errorf("parseListening(%q) accepted an entry without dataId or group: %+v", s, e)
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add(`{"a":"b","n":1}`)
	f.Add("a=b,c=d")
	f.Add("=")
	f.Fuzz(func(t *testing.T, s string) {
		meta, err := parseMetadata(s)
		if err == nil && meta == nil {
			t.Errorf("parseMetadata(%q) = nil map without an error", s)
		}
	})
}
