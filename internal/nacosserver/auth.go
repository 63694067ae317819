package nacosserver

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// authenticator issues and checks access tokens for the one configured
// user, as the Nacos default auth plugin does for its users (tokens are
// opaque to clients; Nacos' are JWTs, these are random strings).
type authenticator struct {
	username, password string
	ttl                time.Duration
	now                func() time.Time

	mu     sync.Mutex
	tokens map[string]time.Time // token -> expiry
}

func newAuthenticator(username, password string, ttl time.Duration) *authenticator {
	return &authenticator{username: username, password: password, ttl: ttl, now: time.Now, tokens: map[string]time.Time{}}
}

func (a *authenticator) enabled() bool { return a.username != "" }

// login checks the credentials and returns a new token.
func (a *authenticator) login(username, password string) (string, bool) {
	if !a.matches(username, password) {
		return "", false
	}
	token := randomToken()
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, exp := range a.tokens { // bounded: expired tokens go on every login
		if now.After(exp) {
			delete(a.tokens, t)
		}
	}
	a.tokens[token] = now.Add(a.ttl)
	return token, true
}

// userNotFound is AbstractAuthenticationManager's USER_NOT_FOUND_MESSAGE.
const userNotFound = "User not found! Please check user exist or password is right!"

// check answers "" when the caller is authenticated (or auth is off), else
// the message Nacos gives, following NacosAuthPluginService.validateUser: a
// token is checked when there is one ("token invalid!" for an unknown one,
// "token expired!" for an expired one, as NacosSignatureAlgorithm says);
// without a token the username and password parameters are.
func (a *authenticator) check(token, username, password string) string {
	if !a.enabled() {
		return ""
	}
	if token == "" {
		if !a.matches(username, password) {
			return userNotFound
		}
		return ""
	}
	a.mu.Lock()
	exp, ok := a.tokens[token]
	a.mu.Unlock()
	switch {
	case !ok:
		return "token invalid!"
	case a.now().After(exp):
		return "token expired!"
	}
	return ""
}

func (a *authenticator) matches(username, password string) bool {
	okUser := subtle.ConstantTimeCompare([]byte(username), []byte(a.username)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(password), []byte(a.password)) == 1
	return a.enabled() && okUser && okPass
}

// httpToken reads the token as NacosAuthPluginService.resolveToken does:
// the Authorization: Bearer header, else the accessToken parameter.
func httpToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return r.Form.Get("accessToken")
}

// handleLogin serves POST /nacos/v1/auth/login and /nacos/v1/auth/users/login
// (the SDK's path), following UserController.login of the default auth
// plugin: 200 {"accessToken","tokenTtl","globalAdmin","username"}, or 403
// with AbstractAuthenticationManager's "User not found! Please check user
// exist or password is right!" on bad credentials (ConsoleExceptionHandler
// answers AccessException 403). With auth off this server has no users and
// answers 403 too.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	username, password := r.Form.Get("username"), r.Form.Get("password")
	if username == "" || password == "" {
		plainError(w, http.StatusBadRequest, "Required request parameter 'username' or 'password' is not present")
		return
	}
	token, ok := s.auth.login(username, password)
	if !ok {
		plainError(w, http.StatusForbidden, userNotFound)
		return
	}
	w.Header().Set("Authorization", "Bearer "+token)
	writeJSON(w, map[string]any{
		"accessToken": token,
		"tokenTtl":    int64(s.opts.TokenTTL / time.Second),
		"globalAdmin": true,
		"username":    username,
	})
}

// authorized wraps a handler with the identity check of Nacos' AuthFilter:
// 403 with the check's message when the token (or, without one, the
// username and password parameters) does not authenticate.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !parseForm(w, r) {
			return
		}
		if msg := s.auth.check(httpToken(r), r.Form.Get("username"), r.Form.Get("password")); msg != "" {
			plainError(w, http.StatusForbidden, msg)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

// plainError answers status with msg as a text body, as Nacos' AuthFilter
// (sendError) and its exception handlers do.
func plainError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(status)
	w.Write([]byte(msg)) //nolint:errcheck // the client went away
}

// causedError answers as the naming and config modules' exception handlers
// do (ResponseExceptionHandler / GlobalExceptionHandler): status with
// ExceptionUtil.getAllExceptionMsg, "caused: MSG;".
func causedError(w http.ResponseWriter, status int, msg string) {
	plainError(w, status, "caused: "+msg+";")
}

// parseForm parses query and body parameters with the body bounded; it
// answers 400 itself and returns false when that fails.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Form != nil {
		return true
	}
	if r.Method == http.MethodDelete && r.Body != nil && r.ContentLength != 0 {
		// Nacos (Tomcat) reads DELETE parameters from the query only.
		r.Body = http.NoBody
	}
	if err := r.ParseForm(); err != nil {
		plainError(w, http.StatusBadRequest, "invalid request parameters: "+err.Error())
		return false
	}
	return true
}
