package nacosserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Limits of ParamUtils (config module): dataId up to 256 characters, group
// and tenant up to 128.
const (
	maxDataIDLen = 256
	maxGroupLen  = 128
	maxTenantLen = 128
	// maxListen bounds the configurations one listener request probes.
	maxListen = 10000
	// longPollDelay is what LongPollingService subtracts from the client's
	// Long-Pulling-Timeout so the answer arrives before the client gives up;
	// minLongPoll is the shortest hold it allows.
	longPollDelay = 500 * time.Millisecond
	minLongPoll   = 10 * time.Second
)

// validName is ParamUtils.isValid on a non-blank value: letters, digits
// (Character.isLetterOrDigit) and _ - . : only.
func validName(s string) bool {
	if strings.TrimSpace(s) == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_-.:", r) {
			return false
		}
	}
	return true
}

// normalizeTenant is NamespaceUtil.processNamespaceParameter: blank and
// "public" are the default namespace "".
func normalizeTenant(t string) string {
	t = strings.TrimSpace(t)
	if t == defaultNamespace {
		return ""
	}
	return t
}

// checkConfigKey is ParamUtils.checkParam(dataId, group, ...) plus tenant checks.
func checkConfigKey(dataID, group, tenant string) (configKey, error) {
	switch {
	case !validName(dataID) || len(dataID) > maxDataIDLen:
		return configKey{}, fmt.Errorf("invalid dataId : %s", dataID)
	case !validName(group) || len(group) > maxGroupLen:
		return configKey{}, fmt.Errorf("invalid group : %s", group)
	case len(tenant) > maxTenantLen || tenant != "" && !validName(tenant):
		return configKey{}, fmt.Errorf("invalid tenant : %s", tenant)
	}
	return configKey{tenant: normalizeTenant(tenant), group: group, dataID: dataID}, nil
}

// requiredParams answers Spring's 400 for a missing @RequestParam.
func requiredParams(w http.ResponseWriter, r *http.Request, names ...string) bool {
	for _, n := range names {
		if _, ok := r.Form[n]; !ok {
			plainError(w, http.StatusBadRequest, fmt.Sprintf("Required request parameter '%s' for method parameter type String is not present", n))
			return false
		}
	}
	return true
}

// handleGetConfig serves GET /nacos/v1/cs/configs (ConfigController.getConfig →
// ConfigServletInner.doGetConfig): the content with Content-MD5, Config-Type
// and Last-Modified headers, or 404 "config data not exist".
func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	if !requiredParams(w, r, "dataId", "group") {
		return
	}
	k, err := checkConfigKey(r.Form.Get("dataId"), r.Form.Get("group"), r.Form.Get("tenant"))
	if err != nil {
		causedError(w, http.StatusBadRequest, err.Error())
		return
	}
	it, ok := s.configs.get(k)
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Expires", "0")
	w.Header().Set("Cache-Control", "no-cache,no-store")
	if !ok {
		plainError(w, http.StatusNotFound, "config data not exist")
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.Header().Set("Content-MD5", it.md5)
	w.Header().Set("Config-Type", it.typ)
	w.Header().Set("Last-Modified", strconv.FormatInt(it.lastModified, 10))
	w.Write([]byte(it.content)) //nolint:errcheck // the client went away
}

// handlePublishConfig serves POST /nacos/v1/cs/configs (ConfigController.publishConfig):
// "true". The casMd5 header makes it a compare-and-swap; a mismatch answers
// 500 "caused: Cas publish fail, server md5 may have changed.;"
// (ConfigOperationService.publishConfig's NacosApiException through the
// config module's GlobalExceptionHandler).
func (s *Server) handlePublishConfig(w http.ResponseWriter, r *http.Request) {
	if !requiredParams(w, r, "dataId", "group", "content") {
		return
	}
	k, err := checkConfigKey(r.Form.Get("dataId"), r.Form.Get("group"), r.Form.Get("tenant"))
	if err != nil {
		causedError(w, http.StatusBadRequest, err.Error())
		return
	}
	content := r.Form.Get("content")
	if strings.TrimSpace(content) == "" {
		causedError(w, http.StatusBadRequest, "content is blank : "+content)
		return
	}
	if len(content) > s.opts.MaxContent {
		causedError(w, http.StatusBadRequest, fmt.Sprintf("invalid content, over %d", s.opts.MaxContent))
		return
	}
	if err := s.configs.publish(k, content, r.Form.Get("type"), r.Header.Get("casMd5")); err != nil {
		causedError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Write([]byte("true")) //nolint:errcheck // the client went away
}

// handleDeleteConfig serves DELETE /nacos/v1/cs/configs (ConfigController.deleteConfig): "true".
func (s *Server) handleDeleteConfig(w http.ResponseWriter, r *http.Request) {
	if !requiredParams(w, r, "dataId", "group") {
		return
	}
	k, err := checkConfigKey(r.Form.Get("dataId"), r.Form.Get("group"), r.Form.Get("tenant"))
	if err != nil {
		causedError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.configs.remove(k)
	w.Write([]byte("true")) //nolint:errcheck // the client went away
}

// Separators of the listener protocol (Constants.WORD_SEPARATOR / LINE_SEPARATOR).
const (
	wordSep = "\x02"
	lineSep = "\x01"
)

// parseListening reads Listening-Configs, "dataId^2group^2md5[^2tenant]^1..."
// (MD5Util.getClientMd5Map).
func parseListening(s string) ([]listenEntry, error) {
	var out []listenEntry
	for _, line := range strings.Split(s, lineSep) {
		if line == "" {
			continue
		}
		f := strings.Split(line, wordSep)
		if len(f) != 3 && len(f) != 4 {
			return nil, fmt.Errorf("invalid probeModify")
		}
		tenant := ""
		if len(f) == 4 {
			tenant = f[3]
		}
		if f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("invalid probeModify")
		}
		out = append(out, listenEntry{key: configKey{tenant: normalizeTenant(tenant), group: f[1], dataID: f[0]}, md5: f[2]})
		if len(out) > maxListen {
			return nil, fmt.Errorf("invalid probeModify: more than %d configurations", maxListen)
		}
	}
	return out, nil
}

// changedBody is MD5Util.compareMd5ResultString: "dataId^2group[^2tenant]^1"
// per changed configuration, URL-encoded.
func changedBody(changed []listenEntry) string {
	var b strings.Builder
	for _, e := range changed {
		b.WriteString(e.key.dataID + wordSep + e.key.group)
		if e.key.tenant != "" {
			b.WriteString(wordSep + e.key.tenant)
		}
		b.WriteString(lineSep)
	}
	return url.QueryEscape(b.String())
}

// handleListener serves POST /nacos/v1/cs/configs/listener
// (ConfigController.listener → ConfigServletInner.doPollingConfig →
// LongPollingService.addLongPollingClient): it answers the changed
// configurations at once when there are any or when the request has no
// Long-Pulling-Timeout header; else it holds the request until one of them
// changes or until max(10 s, timeout − 500 ms) passes, and then answers an
// empty body. Long-Pulling-Timeout-No-Hangup: true answers at once too.
func (s *Server) handleListener(w http.ResponseWriter, r *http.Request) {
	probe, ok := r.Form["Listening-Configs"]
	if !ok || len(probe) == 0 || probe[0] == "" {
		causedError(w, http.StatusBadRequest, "invalid probeModify")
		return
	}
	entries, err := parseListening(probe[0])
	if err != nil {
		causedError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Expires", "0")
	w.Header().Set("Cache-Control", "no-cache,no-store")
	answer := func(changed []listenEntry) {
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		w.Write([]byte(changedBody(changed))) //nolint:errcheck // the client went away
	}
	timeoutText := r.Header.Get("Long-Pulling-Timeout")
	wait := s.configs.watch()
	changed := s.configs.changedOf(entries)
	if len(changed) > 0 || timeoutText == "" || r.Header.Get("Long-Pulling-Timeout-No-Hangup") == "true" {
		answer(changed)
		return
	}
	ms, err := strconv.ParseInt(timeoutText, 10, 64)
	if err != nil || ms < 0 {
		causedError(w, http.StatusBadRequest, "invalid Long-Pulling-Timeout: "+timeoutText)
		return
	}
	hold := max(minLongPoll, time.Duration(min(ms, int64(24*time.Hour/time.Millisecond)))*time.Millisecond-longPollDelay)
	timer := time.NewTimer(hold)
	defer timer.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-timer.C:
			answer(nil)
			return
		case <-wait:
			if s.configs.isClosed() {
				answer(nil)
				return
			}
			wait = s.configs.watch()
			if changed := s.configs.changedOf(entries); len(changed) > 0 {
				answer(changed)
				return
			}
		}
	}
}

// routes is the v1 HTTP API, every body bounded.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	login := http.HandlerFunc(s.handleLogin)
	mux.Handle("POST /nacos/v1/auth/login", login)
	mux.Handle("POST /nacos/v1/auth/users/login", login)
	for pattern, h := range map[string]http.HandlerFunc{
		"POST /nacos/v1/ns/instance":           s.handleRegister,
		"DELETE /nacos/v1/ns/instance":         s.handleDeregister,
		"PUT /nacos/v1/ns/instance":            s.handleUpdateInstance,
		"GET /nacos/v1/ns/instance":            s.handleGetInstance,
		"GET /nacos/v1/ns/instance/list":       s.handleList,
		"PUT /nacos/v1/ns/instance/beat":       s.handleBeat,
		"POST /nacos/v1/ns/service":            s.handleCreateService,
		"PUT /nacos/v1/ns/service":             s.handleUpdateService,
		"DELETE /nacos/v1/ns/service":          s.handleDeleteService,
		"GET /nacos/v1/ns/service":             s.handleGetService,
		"GET /nacos/v1/ns/service/list":        s.handleServiceList,
		"GET /nacos/v1/ns/service/subscribers": s.handleSubscribers,
		"GET /nacos/v1/console/namespaces":     s.handleNamespaces,
		"GET /nacos/v1/ns/operator/metrics":    s.handleMetrics,
		"GET /nacos/v1/cs/configs":             s.handleGetConfig,
		"POST /nacos/v1/cs/configs":            s.handlePublishConfig,
		"DELETE /nacos/v1/cs/configs":          s.handleDeleteConfig,
		"POST /nacos/v1/cs/configs/listener":   s.handleListener,
	} {
		mux.Handle(pattern, s.authorized(h))
	}
	limit := int64(s.opts.MaxContent)*3 + 64*1024 // content may be URL-encoded
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		mux.ServeHTTP(w, r)
	})
}
