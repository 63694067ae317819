package promstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
)

// Error types of Prometheus' HTTP API.
const (
	errorBadData     = "bad_data"
	errorExec        = "execution"
	errorTimeout     = "timeout"
	errorCanceled    = "canceled"
	errorInternal    = "internal"
	errorUnavailable = "unavailable"
)

// maxPoints is Prometheus' limit of points per series of a range query.
const maxPoints = 11000

// apiError is a query error with its Prometheus API error type.
type apiError struct {
	typ string
	err error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func badData(err error) *apiError { return &apiError{typ: errorBadData, err: err} }

// execError classifies an evaluation error as Prometheus' API does.
func execError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{typ: errorCanceled, err: err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{typ: errorTimeout, err: err}
	case errors.As(err, &storage):
		return &apiError{typ: errorInternal, err: err}
	}
	return &apiError{typ: errorExec, err: err}
}

// statusCode is the HTTP status Prometheus answers an error type with.
func statusCode(typ string) int {
	switch typ {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return 499 // Prometheus' "client closed connection"
	case errorTimeout, errorUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// response is the envelope of every answer of Prometheus' HTTP API.
type response struct {
	Status    string   `json:"status"`
	Data      *data    `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

type data struct {
	ResultType string       `json:"resultType"`
	Result     parser.Value `json:"result"`
}

// Handler serves Prometheus' query API: GET and POST (form-encoded)
// /api/v1/query and /api/v1/query_range, with the parameters query, time,
// start, end, step, timeout and lookback_delta, answered in Prometheus'
// JSON format with its error types and status codes. Mount it at /api/v1/
// (it matches the full paths).
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/query", s.serveQuery)
	mux.HandleFunc("POST /api/v1/query", s.serveQuery)
	mux.HandleFunc("GET /api/v1/query_range", s.serveQueryRange)
	mux.HandleFunc("POST /api/v1/query_range", s.serveQueryRange)
	return mux
}

func (s *Store) serveQuery(w http.ResponseWriter, r *http.Request) {
	ts, err := parseTimeParam(r, "time", time.Now())
	if err != nil {
		writeError(w, badData(err))
		return
	}
	s.serve(w, r, ts, ts, 0)
}

func (s *Store) serveQueryRange(w http.ResponseWriter, r *http.Request) {
	start, err := parseTimeParam(r, "start", time.Time{})
	if err != nil {
		writeError(w, badData(err))
		return
	}
	end, err := parseTimeParam(r, "end", time.Time{})
	if err != nil {
		writeError(w, badData(err))
		return
	}
	if end.Before(start) {
		writeError(w, invalidParam("end", errors.New("end timestamp must not be before start time")))
		return
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		writeError(w, invalidParam("step", err))
		return
	}
	if step <= 0 {
		writeError(w, invalidParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer")))
		return
	}
	if end.Sub(start)/step > maxPoints {
		writeError(w, badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")))
		return
	}
	s.serve(w, r, start, end, step)
}

// serve evaluates the request's query and writes the answer; step 0 is an
// instant query at start.
func (s *Store) serve(w http.ResponseWriter, r *http.Request, start, end time.Time, step time.Duration) {
	ctx := r.Context()
	if to := r.FormValue("timeout"); to != "" {
		d, err := parseDuration(to)
		if err != nil {
			writeError(w, invalidParam("timeout", err))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var opts promql.QueryOpts
	if lb := r.FormValue("lookback_delta"); lb != "" {
		d, err := parseDuration(lb)
		if err != nil {
			writeError(w, invalidParam("lookback_delta", err))
			return
		}
		opts = promql.NewPrometheusQueryOpts(false, d)
	}
	q := r.FormValue("query")
	err := s.exec(ctx, q, start, end, step, opts, func(v parser.Value, ws annotations.Annotations) error {
		resp := response{Status: "success", Data: &data{ResultType: string(v.Type()), Result: nonNil(v)}}
		resp.Warnings, resp.Infos = ws.AsStrings(q, 10, 10)
		return writeJSON(w, http.StatusOK, &resp)
	})
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		if ae.typ == errorBadData {
			ae = invalidParam("query", ae.err)
		}
		writeError(w, ae)
	case err != nil:
		s.logger.Warn("write query response", "component", "promstore", "err", err)
	}
}

// nonNil turns a nil Vector or Matrix into an empty one, which Prometheus
// writes as [] rather than null.
func nonNil(v parser.Value) parser.Value {
	switch x := v.(type) {
	case promql.Vector:
		if x == nil {
			return promql.Vector{}
		}
	case promql.Matrix:
		if x == nil {
			return promql.Matrix{}
		}
	}
	return v
}

func invalidParam(name string, err error) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

func writeError(w http.ResponseWriter, e *apiError) {
	_ = writeJSON(w, statusCode(e.typ), &response{Status: "error", ErrorType: e.typ, Error: e.err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v *response) error {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// parseTimeParam reads a time parameter as Prometheus does: unix seconds
// (float) or RFC 3339; def when the parameter is absent.
func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		if !def.IsZero() {
			return def, nil
		}
		return time.Time{}, fmt.Errorf("invalid parameter %q: cannot parse %q to a valid timestamp", name, v)
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		sec, frac := math.Modf(f)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid parameter %q: cannot parse %q to a valid timestamp", name, v)
}

// parseDuration reads a duration as Prometheus does: float seconds or a
// Prometheus duration ("30s", "1m30s", "2h").
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		d := f * float64(time.Second)
		if d > float64(math.MaxInt64) || d < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(d), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}
