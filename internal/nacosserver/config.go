package nacosserver

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// errCASMismatch is ConfigOperationService.publishConfig's answer when
// casMd5 is not the stored content's md5.
var errCASMismatch = errors.New("Cas publish fail, server md5 may have changed.")

type configKey struct{ tenant, group, dataID string }

type configItem struct {
	content      string
	md5          string
	typ          string
	lastModified int64
}

// changeFunc tells the gRPC layer a configuration changed (called without
// the store's lock held).
type changeFunc func(k configKey)

// configStore holds configurations of every namespace (tenant) and wakes
// HTTP long polls and gRPC listeners when one changes.
type configStore struct {
	onChange changeFunc
	now      func() time.Time

	mu      sync.Mutex
	items   map[configKey]configItem
	changed chan struct{} // closed and replaced on every change
	closed  bool
}

func newConfigStore(onChange changeFunc) *configStore {
	return &configStore{onChange: onChange, now: time.Now, items: map[configKey]configItem{}, changed: make(chan struct{})}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (c *configStore) get(k configKey) (configItem, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[k]
	return it, ok
}

// md5Of is the stored md5, "" when the configuration does not exist
// (ConfigCacheService.getContentMd5).
func (c *configStore) md5Of(k configKey) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items[k].md5
}

// publish stores content. With casMd5 set, the store happens only when it
// equals the current md5 (ConfigInfoPersistService.insertOrUpdateCas: a
// missing configuration matches no md5 there either, except that Nacos'
// insertOrUpdateCas inserts when absent; so does this).
func (c *configStore) publish(k configKey, content, typ, casMd5 string) error {
	c.mu.Lock()
	old, exists := c.items[k]
	if casMd5 != "" && exists && old.md5 != casMd5 {
		c.mu.Unlock()
		return errCASMismatch
	}
	if typ == "" {
		typ = "text"
	}
	it := configItem{content: content, md5: md5Hex(content), typ: typ, lastModified: c.now().UnixMilli()}
	c.items[k] = it
	same := exists && old.md5 == it.md5
	if !same {
		c.wakeLocked()
	}
	c.mu.Unlock()
	if !same {
		c.onChange(k)
	}
	return nil
}

// remove deletes a configuration; removing a missing one succeeds, as in Nacos.
func (c *configStore) remove(k configKey) {
	c.mu.Lock()
	_, ok := c.items[k]
	if ok {
		delete(c.items, k)
		c.wakeLocked()
	}
	c.mu.Unlock()
	if ok {
		c.onChange(k)
	}
}

func (c *configStore) wakeLocked() {
	if !c.closed {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// watch returns a channel closed at the next change (or at close).
func (c *configStore) watch() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// close wakes every waiter for good.
func (c *configStore) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.changed)
	}
}

func (c *configStore) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// listenEntry is one probed configuration of a listener request.
type listenEntry struct {
	key configKey
	md5 string
}

// changedOf returns the entries whose md5 differs from the stored one
// (MD5Util.compareMd5).
func (c *configStore) changedOf(entries []listenEntry) []listenEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []listenEntry
	for _, e := range entries {
		if c.items[e.key].md5 != e.md5 {
			out = append(out, e)
		}
	}
	return out
}

// count is the number of configurations of a tenant.
func (c *configStore) count(tenant string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.items {
		if k.tenant == tenant {
			n++
		}
	}
	return n
}

// tenants lists the tenants that hold a configuration.
func (c *configStore) tenants() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := map[string]bool{}
	var out []string
	for k := range c.items {
		if !set[k.tenant] {
			set[k.tenant] = true
			out = append(out, k.tenant)
		}
	}
	return out
}
