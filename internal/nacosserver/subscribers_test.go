package nacosserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

type subscribersAnswer struct {
	Subscribers []subscriberJSON `json:"subscribers"`
	Count       int              `json:"count"`
}

// listSubscribers is GET /nacos/v1/ns/service/subscribers.
func listSubscribers(t *testing.T, s *Server, q url.Values) subscribersAnswer {
	t.Helper()
	code, body := call(t, s, http.MethodGet, "/nacos/v1/ns/service/subscribers", q, nil)
	if code != http.StatusOK {
		t.Fatalf("subscribers: HTTP %d %s", code, body)
	}
	var ans subscribersAnswer
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatalf("subscribers: %v in %s", err, body)
	}
	return ans
}

// TestSDKSubscribers: a nacos-sdk-go v2.3.2 client that subscribes over
// gRPC is a subscriber (its IP, version and app, as
// SubscribeServiceRequestHandler records them) until it unsubscribes, and
// again until its connection closes.
func TestSDKSubscribers(t *testing.T) {
	s := startServer(t, Options{})
	param := sdkParam(t, s, "", "")
	param.ClientConfig.AppName = "checkout"
	consumer, err := clients.NewNamingClient(param)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(consumer.CloseClient)
	orders := url.Values{"serviceName": {"orders"}, "groupName": {"shop"}}
	none := subscribersAnswer{Subscribers: []subscriberJSON{}}
	if diff := cmp.Diff(none, listSubscribers(t, s, orders)); diff != "" {
		t.Fatalf("subscribers before Subscribe (-want +got):\n%s", diff)
	}

	sub := &vo.SubscribeParam{ServiceName: "orders", GroupName: "shop", SubscribeCallback: func([]model.Instance, error) {}}
	if err := consumer.Subscribe(sub); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	// The SDK reports its own address (util.LocalIP) and version
	// (constant.CLIENT_VERSION, which v2.3.2 still says is
	// "Nacos-Go-Client:v2.2.7") in the connection's setup; the server
	// keeps them as the subscriber's IP and agent.
	var ip string
	waitFor(t, "the SDK client to connect", func() bool {
		s.rpc.mu.Lock()
		defer s.rpc.mu.Unlock()
		for _, c := range s.rpc.conns {
			c.mu.Lock()
			ip = c.ip
			_, ok := c.subs[serviceKey{"public", "shop", "orders"}]
			c.mu.Unlock()
			if ok {
				return true
			}
		}
		return false
	})
	want := subscribersAnswer{Count: 1, Subscribers: []subscriberJSON{{
		AddrStr: ip, Agent: constant.CLIENT_VERSION, App: "checkout", IP: ip,
		NamespaceID: "public", ServiceName: "shop@@orders",
	}}}
	if diff := cmp.Diff(want, listSubscribers(t, s, orders)); diff != "" {
		t.Errorf("subscribers after Subscribe (-want +got):\n%s", diff)
	}
	// Nacos matches the name and group as substrings
	// (getFuzzySubscribers), and never another namespace.
	if diff := cmp.Diff(want, listSubscribers(t, s, url.Values{"serviceName": {"shop@@order"}})); diff != "" {
		t.Errorf("subscribers of shop@@order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(none, listSubscribers(t, s, url.Values{"serviceName": {"orders"}, "groupName": {"shop"}, "namespaceId": {"dev"}})); diff != "" {
		t.Errorf("subscribers in namespace dev (-want +got):\n%s", diff)
	}

	if err := consumer.Unsubscribe(sub); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if diff := cmp.Diff(none, listSubscribers(t, s, orders)); diff != "" {
		t.Errorf("subscribers after Unsubscribe (-want +got):\n%s", diff)
	}

	if err := consumer.Subscribe(sub); err != nil {
		t.Fatalf("Subscribe again: %v", err)
	}
	if got := listSubscribers(t, s, orders).Count; got != 1 {
		t.Fatalf("subscribers after a second Subscribe: %d, want 1", got)
	}
	consumer.CloseClient()
	waitFor(t, "the closed client's subscription to go", func() bool { return listSubscribers(t, s, orders).Count == 0 })
}

// TestPushReceivers: a v1 instance list with udpPort > 0 makes clientIP:udpPort
// a subscriber (a 1.x client's push receiver), refreshed by every list and
// dropped after DefaultClientExpired without one; paging as Nacos pages.
func TestPushReceivers(t *testing.T) {
	s := startServer(t, Options{})
	now := time.Unix(1_800_000_000, 0)
	// The clock is read and moved under the receivers' lock (their expiry
	// loop runs too).
	advance := func(d time.Duration) {
		s.receivers.mu.Lock()
		now = now.Add(d)
		s.receivers.mu.Unlock()
	}
	s.receivers.mu.Lock()
	s.receivers.now = func() time.Time { return now }
	s.receivers.mu.Unlock()

	list := func(ip, udpPort, service string) {
		t.Helper()
		q := url.Values{"serviceName": {service}, "clientIP": {ip}, "app": {"billing"}, "clusters": {"c1"}}
		if udpPort != "" {
			q.Set("udpPort", udpPort)
		}
		code, body := call(t, s, http.MethodGet, "/nacos/v1/ns/instance/list", q, http.Header{"Client-Version": {"Nacos-Java-Client:v1.4.6"}})
		if code != http.StatusOK {
			t.Fatalf("instance list: %d %s", code, body)
		}
	}
	list("10.1.0.9", "", "payments")  // no udpPort: no subscriber
	list("10.1.0.8", "0", "payments") // udpPort 0: none either
	list("10.1.0.7", "9001", "payments")
	list("10.1.0.6", "9001", "payments")
	list("10.1.0.7", "9001", "refunds") // same receiver, another service

	if code, body := call(t, s, http.MethodGet, "/nacos/v1/ns/operator/metrics", nil, nil); code != http.StatusOK ||
		!strings.Contains(body, `"clientCount":2,`) || !strings.Contains(body, `"subscribeCount":3`) {
		t.Errorf("metrics: %d %s, want 2 clients with 3 subscriptions", code, body)
	}
	payments := url.Values{"serviceName": {"payments"}}
	sub := func(ip string) subscriberJSON {
		return subscriberJSON{AddrStr: ip + ":9001", Agent: "Nacos-Java-Client:v1.4.6", App: "billing", IP: ip, Port: 9001,
			NamespaceID: "public", ServiceName: "DEFAULT_GROUP@@payments", Cluster: "c1"}
	}
	want := subscribersAnswer{Count: 2, Subscribers: []subscriberJSON{sub("10.1.0.6"), sub("10.1.0.7")}}
	if diff := cmp.Diff(want, listSubscribers(t, s, payments)); diff != "" {
		t.Errorf("subscribers (-want +got):\n%s", diff)
	}
	page2 := url.Values{"serviceName": {"payments"}, "pageNo": {"2"}, "pageSize": {"1"}}
	if diff := cmp.Diff(subscribersAnswer{Count: 2, Subscribers: []subscriberJSON{sub("10.1.0.7")}}, listSubscribers(t, s, page2)); diff != "" {
		t.Errorf("page 2 of 1 (-want +got):\n%s", diff)
	}

	// 10.1.0.7 lists again (refunds) just before 10.1.0.6 expires: it stays.
	advance(DefaultClientExpired - time.Second)
	list("10.1.0.7", "9001", "refunds")
	advance(2 * time.Second)
	s.receivers.expire()
	want = subscribersAnswer{Count: 1, Subscribers: []subscriberJSON{sub("10.1.0.7")}}
	if diff := cmp.Diff(want, listSubscribers(t, s, payments)); diff != "" {
		t.Errorf("subscribers after 10.1.0.6 expired (-want +got):\n%s", diff)
	}
	advance(DefaultClientExpired)
	s.receivers.expire()
	if got := listSubscribers(t, s, url.Values{"serviceName": {"s"}}); got.Count != 0 {
		t.Errorf("subscribers after every receiver expired: %+v", got)
	}
}

// TestSubscribersAuth: the listing needs the access token like every
// other call.
func TestSubscribersAuth(t *testing.T) {
	s := startServer(t, Options{Username: "nacos", Password: "pw"})
	code, body := call(t, s, http.MethodGet, "/nacos/v1/ns/service/subscribers", url.Values{"serviceName": {"orders"}}, nil)
	if code != http.StatusForbidden {
		t.Errorf("without a token: %d %s, want 403", code, body)
	}
	code, body = call(t, s, http.MethodGet, "/nacos/v1/ns/service/subscribers", url.Values{"serviceName": {"orders"}, "username": {"nacos"}, "password": {"pw"}}, nil)
	if code != http.StatusOK || body != "{\"count\":0,\"subscribers\":[]}\n" {
		t.Errorf("with credentials: %d %q", code, body)
	}
	code, body = call(t, s, http.MethodGet, "/nacos/v1/ns/service/subscribers", url.Values{"username": {"nacos"}, "password": {"pw"}}, nil)
	if code != http.StatusBadRequest || body != "Param 'serviceName' is required." {
		t.Errorf("without serviceName: %d %q", code, body)
	}
}
