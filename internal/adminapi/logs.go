package adminapi

import (
	"fmt"
	"net/url"
	"strconv"
)

// LogsRequest selects replica logs (GET /v1/logs).
type LogsRequest struct {
	// Workload is a Deployment or Rollout name ("deployment/NAME",
	// "rollout/NAME" when both exist), or a pod name ("pod/NAME").
	Workload string
	// Namespace; "" finds the workload in any namespace (it must be in one).
	Namespace string
	// Replica is the index of one replica (in `graylane get workloads`
	// order); < 0: every replica, lines prefixed with "[POD] " when there
	// are several.
	Replica int
	// Tail is the number of last lines per replica; < 0: all.
	Tail int
	// Follow keeps streaming new lines until the replicas stop.
	Follow bool
}

// Query is the request as the query of GET /v1/logs:
// workload=NAME[&namespace=NS][&replica=N][&tail=N][&follow=true].
func (r LogsRequest) Query() url.Values {
	q := url.Values{"workload": {r.Workload}}
	if r.Namespace != "" {
		q.Set("namespace", r.Namespace)
	}
	if r.Replica >= 0 {
		q.Set("replica", strconv.Itoa(r.Replica))
	}
	if r.Tail >= 0 {
		q.Set("tail", strconv.Itoa(r.Tail))
	}
	if r.Follow {
		q.Set("follow", "true")
	}
	return q
}

// ParseLogsQuery reads the query of GET /v1/logs (the inverse of Query):
// replica and tail absent mean every replica and every line. A bad query
// is an error the server answers 400 with.
func ParseLogsQuery(q url.Values) (LogsRequest, error) {
	r := LogsRequest{Workload: q.Get("workload"), Namespace: q.Get("namespace"), Replica: -1, Tail: -1, Follow: q.Get("follow") == "true"}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"replica", &r.Replica}, {"tail", &r.Tail}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 {
				return r, fmt.Errorf("%s=%q: want a number", f.name, v)
			}
			*f.dst = n
		}
	}
	if r.Workload == "" {
		return r, fmt.Errorf("want ?workload=NAME")
	}
	return r, nil
}
