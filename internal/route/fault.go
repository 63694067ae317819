package route

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	networking "istio.io/api/networking/v1alpha3"
)

// Fault is a route's fault injection as istiod gives it to Envoy's fault
// filter: a delay and an abort, each applied to its own percentage of the
// requests, independently of each other (HTTPFaultInjection).
type Fault struct {
	// Delay is the fixed delay; DelayPercent the share of requests that
	// wait it (0 when the route has no delay).
	Delay        time.Duration `json:"-"`
	DelayPercent float64       `json:"delayPercent,omitempty"`
	// AbortStatus is the HTTP status of an abort, or 200 with a gRPC
	// status in AbortGRPC; AbortPercent the share of requests aborted.
	AbortStatus  int     `json:"abortStatus,omitempty"`
	AbortGRPC    string  `json:"abortGrpcStatus,omitempty"`
	AbortPercent float64 `json:"abortPercent,omitempty"`
	// delayPPM and abortPPM are the percentages in parts per million, as
	// istiod writes them (FractionalPercent, denominator MILLION).
	delayPPM, abortPPM uint32
	grpcCode           int
}

// FaultBody is the body of an aborted request, as Envoy writes it.
const FaultBody = "fault filter abort"

// Injection is what the fault filter does to one request.
type Injection struct {
	// Delay is how long the request waits before it is forwarded.
	Delay time.Duration
	// Abort: the request is answered with Status (and GRPCStatus when
	// the abort is a gRPC one) and never forwarded.
	Abort      bool
	Status     int
	GRPCStatus string // the numeric grpc-status value, "" for HTTP aborts
}

// Flags are Envoy's response flags of the injection: "DI" delayed, "FI"
// aborted, "DI,FI" both, "" neither.
func (in Injection) Flags() string {
	switch {
	case in.Delay > 0 && in.Abort:
		return FlagDI + "," + FlagFI
	case in.Delay > 0:
		return FlagDI
	case in.Abort:
		return FlagFI
	}
	return ""
}

// Envoy's response flags of the fault filter.
const (
	// FlagDI: the request was delayed.
	FlagDI = "DI"
	// FlagFI: the request was aborted.
	FlagFI = "FI"
)

// FaultDraws is the range of Inject's draws: parts per million.
const FaultDraws = 1_000_000

// Inject decides for one request from two independent draws, each
// uniform in [0, FaultDraws) (Envoy draws per request and per fault).
func (f *Fault) Inject(delayDraw, abortDraw uint32) Injection {
	var in Injection
	if f == nil {
		return in
	}
	if f.Delay > 0 && delayDraw < f.delayPPM {
		in.Delay = f.Delay
	}
	if f.AbortStatus != 0 && abortDraw < f.abortPPM {
		in.Abort, in.Status = true, f.AbortStatus
		if f.AbortGRPC != "" {
			in.GRPCStatus = strconv.Itoa(f.grpcCode)
		}
	}
	return in
}

// faultOf compiles a validated HTTPFaultInjection; nil when it injects
// nothing.
func faultOf(in *networking.HTTPFaultInjection) *Fault {
	if in == nil {
		return nil
	}
	f := &Fault{}
	if d := in.GetDelay(); d != nil && d.GetFixedDelay() != nil {
		f.Delay = d.GetFixedDelay().AsDuration()
		if p := d.GetPercentage(); p != nil {
			f.DelayPercent = p.GetValue()
		} else {
			f.DelayPercent = float64(d.GetPercent()) //nolint:staticcheck // istiod reads the deprecated field too
		}
		f.delayPPM = ppm(f.DelayPercent)
	}
	if a := in.GetAbort(); a != nil {
		f.AbortPercent = a.GetPercentage().GetValue()
		f.abortPPM = ppm(f.AbortPercent)
		switch t := a.GetErrorType().(type) {
		case *networking.HTTPFaultInjection_Abort_HttpStatus:
			f.AbortStatus = int(t.HttpStatus)
		case *networking.HTTPFaultInjection_Abort_GrpcStatus:
			f.AbortStatus, f.AbortGRPC, f.grpcCode = 200, t.GrpcStatus, grpcCodes[strings.ToUpper(t.GrpcStatus)]
		}
	}
	if f.Delay == 0 && f.AbortStatus == 0 {
		return nil
	}
	return f
}

// routeFault is the fault of a compiled route: its own, else (for a
// delegate's route) the delegating route's, as istiod merges them. An
// abort without an error type is accepted by istiod with a warning and
// aborts nothing.
func (c *compiler) routeFault(r *routeSpec) *Fault {
	h := r.http
	if h.GetFault() == nil && r.owner != r.root {
		if http := r.root.obj.Spec.GetHttp(); r.rootIndex < len(http) {
			h = http[r.rootIndex]
		}
	}
	if a := h.GetFault().GetAbort(); a != nil && a.GetErrorType() == nil {
		c.fs.add(Warning, r.owner.meta, r.path()+".fault.abort", "abort has no httpStatus or grpcStatus: nothing is aborted")
	}
	return faultOf(h.GetFault())
}

// ppm is istiod's translatePercentToFractionalPercent.
func ppm(percent float64) uint32 { return uint32(percent * 10000) }

// grpcCodes are the gRPC status names istiod accepts in abort.grpcStatus.
var grpcCodes = map[string]int{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
	"NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
	"FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
	"INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

// validateFault makes the checks of istiod's webhook on HTTPFaultInjection
// (validateHTTPFaultInjection): a delay and/or an abort, percentages in
// 0..100, a fixed delay of at least 1ms, an HTTP status in 200..599, a
// known gRPC status; exponentialDelay and http2Error are refused as istiod
// refuses them ("not supported yet").
func validateFault(f *networking.HTTPFaultInjection, path string, reject func(string, string, ...any)) {
	if f == nil {
		return
	}
	if f.GetAbort() == nil && f.GetDelay() == nil {
		reject(path, "fault injection must have an abort and/or a delay")
		return
	}
	percentage := func(p *networking.Percent, at string) {
		if p != nil && (p.GetValue() < 0 || p.GetValue() > 100) {
			reject(at, "percentage %v must be in range 0..100", p.GetValue())
		}
	}
	if d := f.GetDelay(); d != nil {
		at := path + ".delay"
		percentage(d.GetPercentage(), at+".percentage")
		if p := d.GetPercent(); p < 0 || p > 100 { //nolint:staticcheck // validated as istiod does
			reject(at+".percent", "percent %d must be in range 0..100", p)
		}
		switch {
		case d.GetExponentialDelay() != nil:
			reject(at+".exponentialDelay", "exponentialDelay is not supported by Istio yet")
		case d.GetFixedDelay() == nil:
			reject(at, "delay needs fixedDelay")
		default:
			if v := d.GetFixedDelay().AsDuration(); v < time.Millisecond {
				reject(at+".fixedDelay", "duration %v must be at least 1ms", v)
			}
		}
	}
	if a := f.GetAbort(); a != nil {
		at := path + ".abort"
		percentage(a.GetPercentage(), at+".percentage")
		switch t := a.GetErrorType().(type) {
		case *networking.HTTPFaultInjection_Abort_HttpStatus:
			if t.HttpStatus < 200 || t.HttpStatus > 599 {
				reject(at+".httpStatus", "HTTP status %d is not in range 200..599", t.HttpStatus)
			}
		case *networking.HTTPFaultInjection_Abort_GrpcStatus:
			if _, ok := grpcCodes[strings.ToUpper(t.GrpcStatus)]; !ok {
				reject(at+".grpcStatus", "unknown gRPC status %q", t.GrpcStatus)
			}
		case *networking.HTTPFaultInjection_Abort_Http2Error:
			reject(at+".http2Error", "HTTP/2 abort fault injection is not supported by Istio yet")
		}
	}
}

// MarshalJSON writes the delay as a Go duration ("7s").
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	var delay string
	if f.Delay > 0 {
		delay = f.Delay.String()
	}
	return json.Marshal(struct {
		Delay string `json:"delay,omitempty"`
		plain
	}{delay, plain(f)})
}

// String describes the fault for people: "delay 7s for 100% of requests,
// abort 500 for 50%".
func (f *Fault) String() string {
	var parts []string
	if f.Delay > 0 {
		parts = append(parts, fmt.Sprintf("delay %v for %v%% of requests", f.Delay, f.DelayPercent))
	}
	if f.AbortStatus != 0 {
		what := strconv.Itoa(f.AbortStatus)
		if f.AbortGRPC != "" {
			what = "grpc-status " + f.AbortGRPC
		}
		parts = append(parts, fmt.Sprintf("abort %s for %v%% of requests", what, f.AbortPercent))
	}
	return strings.Join(parts, ", ")
}

// envoyFlagOrder is the order Envoy writes response flags in
// (StreamInfo::ResponseFlagUtils, the order of the ResponseFlag enum).
var envoyFlagOrder = []string{"LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX", "SI", "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR", "UDO"}

// AddFlag adds a response flag to a comma-separated list ("" or "-":
// none), in Envoy's order.
func AddFlag(flags, flag string) string {
	if flags == "" || flags == "-" {
		return flag
	}
	have := strings.Split(flags, ",")
	if slices.Contains(have, flag) {
		return flags
	}
	have = append(have, flag)
	slices.SortStableFunc(have, func(a, b string) int {
		return flagRank(a) - flagRank(b)
	})
	return strings.Join(have, ",")
}

func flagRank(f string) int {
	if i := slices.Index(envoyFlagOrder, f); i >= 0 {
		return i
	}
	return len(envoyFlagOrder)
}
