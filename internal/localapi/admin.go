package localapi

import "github.com/graylane/graylane/internal/adminapi"

// Client talks to one runtime (see adminapi.Client).
type Client struct{ *adminapi.Client }

// New returns a client for the admin address.
func New(admin string) *Client { return &Client{adminapi.New(admin)} }

// DefaultAdmin is the admin address `graylane up` listens on by default.
const DefaultAdmin = adminapi.DefaultAdmin

// Admin returns the admin address to use (see adminapi.Admin).
func Admin(flag string) string { return adminapi.Admin(flag) }

// APIError is an answer of the runtime that is not 200.
type APIError = adminapi.APIError
