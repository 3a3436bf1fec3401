package manifest

import (
	"fmt"
	"strings"

	"github.com/astrid-actors/astrid-actors/topics"
)

// Legacy Astrid 0.3-0.5 manifests declared their IPC ACLs as [capabilities] ipc_publish and
// ipc_subscribe, and their interceptors as [[interceptor]] tables. Astrid 0.8 ignores all
// three, and so does this runtime (RATIONALE.md, "Legacy manifest keys"); but it says exactly
// what the capsule is therefore denied, and how to declare it in the 0.8 layout.

// legacyPrefix starts every legacy warning.
const legacyPrefix = "legacy Astrid 0.3-0.5 key, ignored as by Astrid 0.8"

// legacyACLKeys are the legacy ACL keys of [capabilities], with the 0.8 table and the verb
// of their warning.
var legacyACLKeys = []string{"ipc_publish", "ipc_subscribe"}

var legacyACLTable = map[string]struct{ table, verb string }{
	"ipc_publish":   {"[publish]", "publishing to"},
	"ipc_subscribe": {"[subscribe]", "subscribing to"},
}

// allowedBy reports whether the ACL keys allow topic (a topic or pattern) as the 0.8 route
// matcher does: an equal key, or a key whose pattern matches it.
func allowedBy(keys []string, topic string) bool {
	for _, k := range keys {
		if k == topic || topics.MatchRoute(k, topic) {
			return true
		}
	}
	return false
}

// legacyStrings returns the strings of a legacy array value; ok is false for any other value
// (which Astrid 0.8 ignores as well, so it is not an error here).
func legacyStrings(v any) (out []string, ok bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// warnLegacyACL warns about [capabilities] ipc_publish and ipc_subscribe, naming every topic
// the capsule will be denied because the 0.8 table does not allow it.
func (p *parser) warnLegacyACL(m *Manifest) {
	for _, k := range legacyACLKeys {
		v, ok := p.legacyACL[k]
		if !ok {
			continue
		}
		key := "[capabilities] " + k
		t := legacyACLTable[k]
		list, ok := legacyStrings(v)
		if !ok {
			p.warnf(key, "%s; it is not an array of strings and grants nothing", legacyPrefix)
			continue
		}
		acl := m.PublishACL()
		if k == "ipc_subscribe" {
			acl = m.SubscribeACL()
		}
		var denied []string
		for _, topic := range list {
			if !allowedBy(acl, topic) {
				denied = append(denied, topic)
			}
		}
		switch {
		case len(list) == 0:
			p.warnf(key, "%s; it lists no topic", legacyPrefix)
		case len(denied) == 0:
			p.warnf(key, "%s; %s already allows every topic it lists", legacyPrefix, t.table)
		default:
			p.warnf(key, "%s: the capsule will be denied %s %s (not allowed by %s); list them under %s to allow them",
				legacyPrefix, t.verb, quoteList(denied), t.table, t.table)
		}
	}
}

// warnLegacyInterceptors warns about each legacy [[interceptor]] entry (event, action,
// priority), naming the handler that will never be called unless a [subscribe] entry binds
// it.
func (p *parser) warnLegacyInterceptors(v any, m *Manifest) {
	if v == nil {
		return
	}
	var list []map[string]any
	switch x := v.(type) {
	case []map[string]any:
		list = x
	case []any:
		for _, e := range x {
			t, _ := e.(map[string]any)
			list = append(list, t)
		}
	default:
		p.warnf("interceptor", "%s; it is not an array of tables and binds nothing", legacyPrefix)
		return
	}
	for i, t := range list {
		key := fmt.Sprintf("[[interceptor]] #%d", i+1)
		event, _ := t["event"].(string)
		action, _ := t["action"].(string)
		if event == "" || action == "" {
			p.warnf(key, "%s; it has no event and action strings and binds nothing", legacyPrefix)
			continue
		}
		priority := int64(DefaultPriority)
		if n, ok := t["priority"].(int64); ok {
			priority = n
		}
		if e, ok := m.Subscribe[event]; ok && e.Handler == action {
			p.warnf(key, "%s; [subscribe] %q already binds handler %q", legacyPrefix, event, action)
			continue
		}
		p.warnf(key, "%s: action %q will never be called for %q; declare [subscribe] %q = { handler = %q, priority = %d }",
			legacyPrefix, action, event, event, action, priority)
	}
}
