package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/pelletier/go-toml/v2"

	"github.com/astrid-actors/astrid-actors/topics"
)

var (
	capsuleIDRe = regexp.MustCompile(`^[a-z0-9-]+$`)
	depNameRe   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	hashRe      = regexp.MustCompile(`^sha256:[0-9a-fA-F]{64}$`)
)

var topLevel = []string{"package", "component", "publish", "subscribe", "capabilities", "env",
	"imports", "exports", "limits", "supervision", "interceptor"}

// parser collects the errors and warnings of one manifest.
type parser struct {
	path  string
	errs  []error
	warns []string
	// legacyACL holds the legacy [capabilities] ipc_publish and ipc_subscribe values.
	legacyACL map[string]any
}

func (p *parser) errf(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{Path: p.path, Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(key, format string, args ...any) {
	p.warns = append(p.warns, (&Error{Path: p.path, Key: key, Problem: fmt.Sprintf(format, args...)}).Error())
}

// parse returns the manifest (nil only on a TOML syntax error) and every error found.
func parse(data []byte, path string) (*Manifest, []error) {
	path = absPath(path)
	p := &parser{path: path}
	if err := prescan(data); err != nil {
		return nil, []error{&Error{Path: path, Problem: err.Error()}}
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, []error{syntaxError(path, err)}
	}
	p.topLevelKeys(doc)

	m := &Manifest{Path: path, Dir: filepath.Dir(path)}
	m.Package = p.parsePackage(doc["package"])
	m.Components = p.parseComponents(doc["component"], &m.Capabilities)
	m.Publish = p.parsePublish(doc["publish"])
	m.Subscribe = p.parseSubscribe(doc["subscribe"])
	p.parseCapabilities("[capabilities]", doc["capabilities"], &m.Capabilities, nil)
	p.warnUnsupported(m.Capabilities)
	p.warnLegacyACL(m)
	p.warnLegacyInterceptors(doc["interceptor"], m)
	m.Env = p.parseEnv(doc["env"])
	m.Imports = p.parseImports(doc["imports"])
	m.Exports = p.parseExports(doc["exports"])
	if m.Capabilities.Uplink && len(m.Imports) > 0 {
		p.errf("[imports]", "an uplink capsule ([capabilities] uplink = true) may not import interfaces")
	}
	m.Limits = p.parseLimits(doc["limits"])
	m.Supervision = p.parseSupervision(doc["supervision"])
	m.Warnings = p.warns
	return m, p.errs
}

// syntaxError formats a TOML decoding error as "<path>: toml: line L, column C: <problem>".
func syntaxError(path string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("%s: toml: line %d, column %d: %s", path, row, col, strings.TrimPrefix(de.Error(), "toml: "))
	}
	return fmt.Errorf("%s: %w", path, err)
}

// topLevelKeys warns about unknown top-level keys, in sorted order, and rejects known table
// names spelled with other letter cases (keys are case-sensitive; a near miss is more likely
// a mistake than an unknown table).
func (p *parser) topLevelKeys(doc map[string]any) {
	for _, name := range sortedKeys(doc) {
		if slices.Contains(topLevel, name) {
			continue
		}
		if i := slices.IndexFunc(topLevel, func(t string) bool { return t != "interceptor" && strings.EqualFold(t, name) }); i >= 0 {
			p.errf(quoteKey(name), "unknown key (keys are case-sensitive: did you mean %q?)", topLevel[i])
			continue
		}
		switch v := doc[name].(type) {
		case map[string]any:
			p.warnf("["+quoteKey(name)+"]", "unknown table ignored")
		case []any:
			if len(v) > 0 && !slices.ContainsFunc(v, func(e any) bool { _, ok := e.(map[string]any); return !ok }) {
				p.warnf("[["+quoteKey(name)+"]]", "unknown table ignored")
			} else {
				p.warnf(quoteKey(name), "unknown key ignored")
			}
		default:
			p.warnf(quoteKey(name), "unknown key ignored")
		}
	}
}

// quoteKey returns k bare when it is a bare TOML key, else quoted.
func quoteKey(k string) string {
	if k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return k
	}
	return fmt.Sprintf("%q", k)
}

// typeName is the TOML type of a decoded value.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time, toml.LocalDateTime, toml.LocalDate, toml.LocalTime:
		return "datetime"
	case []any, []map[string]any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// table returns v as a table; a nil v is an absent table (nil, true).
func (p *parser) table(key string, v any) (map[string]any, bool) {
	if v == nil {
		return nil, true
	}
	t, ok := v.(map[string]any)
	if !ok {
		p.errf(key, "want a table, got %s", typeName(v))
	}
	return t, ok
}

func (p *parser) str(key string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errf(key, "want a string, got %s", typeName(v))
	}
	return s, ok
}

func (p *parser) boolean(key string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		p.errf(key, "want a boolean, got %s", typeName(v))
	}
	return b, ok
}

// integer checks that v is an integer within [lo, hi].
func (p *parser) integer(key string, v any, lo, hi int64) (int64, bool) {
	n, ok := v.(int64)
	if !ok {
		p.errf(key, "want an integer, got %s", typeName(v))
		return 0, false
	}
	if n < lo || n > hi {
		switch {
		case hi == math.MaxInt64:
			p.errf(key, "%d is out of range: want at least %d", n, lo)
		default:
			p.errf(key, "%d is out of range: want %d..%d", n, lo, hi)
		}
		return 0, false
	}
	return n, true
}

func (p *parser) strList(key string, v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		p.errf(key, "want an array of strings, got %s", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			p.errf(key, "element %d: want a string, got %s", i, typeName(e))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// unknownKeys warns about the keys of t that are not in known, in sorted order.
func (p *parser) unknownKeys(section string, t map[string]any, known ...string) {
	for _, k := range sortedKeys(t) {
		if !slices.Contains(known, k) {
			p.warnf(section+" "+quoteKey(k), "unknown key ignored")
		}
	}
}

func sortedKeys[V any](t map[string]V) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// packageSilent are the Astrid [package] keys accepted without checks or warnings.
var packageSilent = []string{"authors", "repository", "homepage", "documentation", "license",
	"license-file", "readme", "keywords", "categories", "publish", "include", "exclude", "metadata"}

func (p *parser) parsePackage(v any) Package {
	var pkg Package
	t, ok := p.table("[package]", v)
	if !ok {
		return pkg
	}
	if t == nil {
		p.errf("[package]", "missing table (name and version are required)")
		return pkg
	}
	if nv, ok := t["name"]; !ok {
		p.errf("[package] name", "missing (the capsule id is required)")
	} else if s, ok := p.str("[package] name", nv); ok {
		if !capsuleIDRe.MatchString(s) {
			p.errf("[package] name", "invalid capsule id %q: want one or more of [a-z0-9-]", s)
		} else {
			pkg.Name = s
		}
	}
	if vv, ok := t["version"]; !ok {
		p.errf("[package] version", "missing (a semantic version is required)")
	} else if s, ok := p.str("[package] version", vv); ok {
		if sv, err := semver.StrictNewVersion(s); err != nil {
			p.errf("[package] version", "%q is not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]: %v", s, err)
		} else {
			pkg.Version, pkg.SemVer = s, sv
		}
	}
	if dv, ok := t["description"]; ok {
		pkg.Description, _ = p.str("[package] description", dv)
	}
	if av, ok := t["astrid-version"]; ok {
		if s, ok := p.str("[package] astrid-version", av); ok {
			c, err := ParseRequirement(s)
			switch {
			case err != nil:
				p.errf("[package] astrid-version", "invalid requirement %q: %v", s, err)
			case !c.Check(semver.MustParse(AstridRelease)):
				p.errf("[package] astrid-version", "requirement %q is not satisfied by this runtime (compatible with Astrid %s)", s, AstridRelease)
			default:
				pkg.AstridVersion, pkg.AstridConstraint = s, c
			}
		}
	}
	p.unknownKeys("[package]", t, append([]string{"name", "version", "description", "astrid-version"}, packageSilent...)...)
	return pkg
}

// localPath checks that file is a relative path that stays inside the capsule directory.
func localPath(file string) error {
	f := filepath.FromSlash(file)
	switch {
	case file == "":
		return errors.New("empty path")
	case filepath.IsAbs(f) || strings.HasPrefix(file, "/"):
		return fmt.Errorf("%q is an absolute path: want a path relative to the capsule directory", file)
	case !filepath.IsLocal(f):
		return fmt.Errorf("%q escapes the capsule directory", file)
	}
	return nil
}

// mergedCaps are the [[component]] capabilities lists appended to [capabilities].
var mergedCaps = []string{"net", "fs_read", "fs_write", "host_process", "net_bind"}

func (p *parser) parseComponents(v any, caps *Capabilities) []Component {
	var list []map[string]any
	switch x := v.(type) {
	case nil:
	case []map[string]any:
		list = x
	case []any:
		for i, e := range x {
			t, ok := e.(map[string]any)
			if !ok {
				p.errf(fmt.Sprintf("[[component]] #%d", i+1), "want a table, got %s", typeName(e))
				return nil
			}
			list = append(list, t)
		}
	default:
		p.errf("[[component]]", "want an array of tables ([[component]]), got %s", typeName(v))
		return nil
	}
	if len(list) == 0 {
		p.errf("[[component]]", "no [[component]] declared: this runtime runs WebAssembly components only, "+
			"so a capsule without one (e.g. an MCP-only capsule) has nothing to run here")
		return nil
	}
	var out []Component
	for i, t := range list {
		sec := fmt.Sprintf("[[component]] #%d", i+1)
		var c Component
		if iv, ok := t["id"]; !ok {
			p.errf(sec+" id", "missing")
		} else if s, ok := p.str(sec+" id", iv); ok {
			if s == "" {
				p.errf(sec+" id", "empty")
			}
			c.ID = s
		}
		fv, hasFile := t["file"]
		ev, hasEntry := t["entrypoint"]
		fileKey := sec + " file"
		switch {
		case hasFile && hasEntry:
			p.errf(sec+" entrypoint", "both file and its alias entrypoint are set")
		case !hasFile && !hasEntry:
			p.errf(fileKey, "missing (the path of the .wasm file)")
		case hasEntry:
			fv, fileKey = ev, sec+" entrypoint"
			fallthrough
		default:
			if s, ok := p.str(fileKey, fv); ok {
				if err := localPath(s); err != nil {
					p.errf(fileKey, "%v", err)
				}
				c.File = s
			}
		}
		if hv, ok := t["hash"]; ok {
			if s, ok := p.str(sec+" hash", hv); ok {
				if !hashRe.MatchString(s) {
					p.errf(sec+" hash", "%q: want \"sha256:\" followed by 64 hex digits", s)
				}
				c.Hash = s
			}
		}
		if cv, ok := t["capabilities"]; ok {
			if i == 0 {
				p.parseCapabilities(sec+" capabilities", cv, caps, mergedCaps)
			} else {
				p.warnf(sec+" capabilities", "ignored: only the first component is used")
			}
		}
		p.unknownKeys(sec, t, "id", "file", "entrypoint", "hash", "type", "link", "capabilities")
		out = append(out, c)
	}
	if len(out) > 1 {
		p.warnf("[[component]]", "%d components declared; only the first (id %q) is used", len(out), out[0].ID)
	}
	return out
}

// topicProblem turns a topics validation error into its bare problem text.
func topicProblem(err error) string {
	for _, s := range []error{topics.ErrEmpty, topics.ErrEmptySegment, topics.ErrTooLong,
		topics.ErrTooManySegments, topics.ErrInvalidUTF8} {
		if errors.Is(err, s) {
			switch s {
			case topics.ErrTooLong:
				return fmt.Sprintf("%v (at most %d bytes)", s, topics.HostLimits.MaxBytes)
			case topics.ErrTooManySegments:
				return fmt.Sprintf("%v (at most %d)", s, topics.HostLimits.MaxSegments)
			}
			return s.Error()
		}
	}
	return err.Error()
}

// aclKey validates a [publish]/[subscribe] key.
func (p *parser) aclKey(key, topic string) {
	if err := topics.Validate(topic, topics.HostLimits); err != nil {
		p.errf(key, "%s", topicProblem(err))
	}
}

var schemaSelectors = []string{"version", "tag", "rev", "branch", "path"}

// longForm parses the table form of a [publish]/[subscribe] value: wit plus metadata.
// handler and priority are left to the caller.
func (p *parser) longForm(key string, t map[string]any, skip ...string) (wit string, meta map[string]any) {
	if wv, ok := t["wit"]; ok {
		wit, _ = p.str(key+" wit", wv)
	}
	var sel []string
	for _, s := range schemaSelectors {
		if sv, ok := t[s]; ok {
			sel = append(sel, s)
			p.str(key+" "+s, sv)
		}
	}
	if len(sel) > 1 {
		p.errf(key, "at most one of version, tag, rev, branch, path may be set (got %s)", strings.Join(sel, ", "))
	}
	for k, v := range t {
		if k == "wit" || slices.Contains(skip, k) {
			continue
		}
		if meta == nil {
			meta = map[string]any{}
		}
		meta[k] = v
	}
	return wit, meta
}

func (p *parser) parsePublish(v any) map[string]PublishEntry {
	out := map[string]PublishEntry{}
	t, _ := p.table("[publish]", v)
	for _, topic := range sortedKeys(t) {
		key := fmt.Sprintf("[publish] %q", topic)
		p.aclKey(key, topic)
		switch x := t[topic].(type) {
		case string:
			out[topic] = PublishEntry{Wit: x}
		case map[string]any:
			wit, meta := p.longForm(key, x)
			out[topic] = PublishEntry{Wit: wit, Meta: meta}
		default:
			p.errf(key, "want a string (schema reference) or a table, got %s", typeName(x))
		}
	}
	return out
}

func (p *parser) parseSubscribe(v any) map[string]SubscribeEntry {
	out := map[string]SubscribeEntry{}
	t, _ := p.table("[subscribe]", v)
	handlers := 0
	for _, topic := range sortedKeys(t) {
		key := fmt.Sprintf("[subscribe] %q", topic)
		p.aclKey(key, topic)
		switch x := t[topic].(type) {
		case string:
			out[topic] = SubscribeEntry{Wit: x, Priority: DefaultPriority}
		case map[string]any:
			e := SubscribeEntry{Priority: DefaultPriority}
			e.Wit, e.Meta = p.longForm(key, x, "handler", "priority")
			hv, hasHandler := x["handler"]
			if hasHandler {
				if s, ok := p.str(key+" handler", hv); ok {
					if s == "" {
						p.errf(key+" handler", "empty action name")
					}
					e.Handler = s
				}
			}
			if pv, ok := x["priority"]; ok {
				if !hasHandler {
					p.errf(key+" priority", "priority without handler (only an interceptor binding has a priority)")
				} else if n, ok := p.integer(key+" priority", pv, 0, math.MaxUint32); ok {
					e.Priority = uint32(n)
				}
			}
			if e.Handler != "" {
				handlers++
			}
			out[topic] = e
		default:
			p.errf(key, "want a string (schema reference) or a table, got %s", typeName(x))
		}
	}
	if handlers > MaxInterceptors {
		p.errf("[subscribe]", "%d entries with a handler: at most %d interceptor bindings are allowed", handlers, MaxInterceptors)
	}
	return out
}

// parseCapabilities parses a capabilities table into c. With only == nil it is the root
// [capabilities] table (lists replace, every key allowed); otherwise it is a component's
// table, whose lists named in only are appended and whose other keys are ignored with a
// warning.
func (p *parser) parseCapabilities(sec string, v any, c *Capabilities, only []string) {
	t, ok := p.table(sec, v)
	if !ok || t == nil {
		return
	}
	lists := map[string]*[]string{
		"net": &c.Net, "kv": &c.KV, "fs_read": &c.FSRead, "fs_write": &c.FSWrite,
		"host_process": &c.HostProcess, "net_bind": &c.NetBind, "net_connect": &c.NetConnect,
		"identity": &c.Identity,
	}
	bools := map[string]*bool{
		"uplink": &c.Uplink, "allow_persistent": &c.AllowPersistent,
		"allow_prompt_injection": &c.AllowPromptInjection,
	}
	for _, k := range sortedKeys(t) {
		key := sec + " " + quoteKey(k)
		if only != nil && !slices.Contains(only, k) {
			if lists[k] != nil || bools[k] != nil {
				p.warnf(key, "ignored: only %s are merged from a component into [capabilities]", strings.Join(only, ", "))
			} else {
				p.warnf(key, "unknown key ignored")
			}
			continue
		}
		switch {
		case lists[k] != nil:
			if l, ok := p.strList(key, t[k]); ok {
				*lists[k] = append(*lists[k], l...)
			}
		case bools[k] != nil:
			if b, ok := p.boolean(key, t[k]); ok {
				*bools[k] = b
			}
		case only == nil && slices.Contains(legacyACLKeys, k):
			if p.legacyACL == nil {
				p.legacyACL = map[string]any{}
			}
			p.legacyACL[k] = t[k]
		default:
			p.warnf(key, "unknown key ignored")
		}
	}
}

func (p *parser) warnUnsupported(c Capabilities) {
	for _, f := range c.fields() {
		switch {
		case !f.held || f.name == "uplink":
		case f.name == "kv": // as in Astrid: accepted, no effect (docs/kv.md)
			p.warnf("[capabilities] kv", "capability kv is not needed and grants nothing: every capsule has its own astrid:kv namespace")
		default:
			p.warnf("[capabilities] "+f.name, "capability %s is not supported by this runtime and grants nothing", f.name)
		}
	}
}

// envTypes are the [env] types Astrid documents. Astrid accepts any type string (0.3 to 0.10)
// and treats everything but secret and array as text; so does this runtime, with a warning
// for a type not listed here.
var envTypes = []string{"text", "secret", "select", "array"}

func (p *parser) parseEnv(v any) map[string]EnvEntry {
	out := map[string]EnvEntry{}
	t, _ := p.table("[env]", v)
	for _, name := range sortedKeys(t) {
		sec := "[env] " + quoteKey(name)
		if name == ReservedEnvKey {
			p.warnf(sec, "reserved key: the runtime sets it, the entry is ignored")
			continue
		}
		et, ok := t[name].(map[string]any)
		if !ok {
			p.errf(sec, "want a table ({ type = \"text\", default = \"...\" }), got %s", typeName(t[name]))
			continue
		}
		e := EnvEntry{Type: "text"}
		if tv, ok := et["type"]; ok {
			if s, ok := p.str(sec+" type", tv); ok {
				if !slices.Contains(envTypes, s) {
					p.warnf(sec+" type", "%q is not a type Astrid documents (text, secret, select, array): "+
						"it is a text field, as in Astrid", s)
				}
				e.Type = s
			}
		}
		for _, f := range []struct {
			key string
			dst *string
		}{{"description", &e.Description}, {"request", &e.Request}, {"placeholder", &e.Placeholder}} {
			if sv, ok := et[f.key]; ok {
				*f.dst, _ = p.str(sec+" "+f.key, sv)
			}
		}
		if dv, ok := et["default"]; ok {
			if s, err := renderDefault(dv); err != nil {
				p.errf(sec+" default", "%v", err)
			} else {
				e.Default, e.HasDefault = s, true
			}
		}
		if ev, ok := et["enum_values"]; ok {
			e.EnumValues, _ = p.strList(sec+" enum_values", ev)
		}
		p.unknownKeys(sec, et, "type", "description", "request", "placeholder", "default", "enum_values")
		out[name] = e
	}
	return out
}

// renderDefault renders an [env] default: a string as-is, any other value as JSON text.
func renderDefault(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	if hasDatetime(v) {
		return "", errors.New("datetime values are not supported (quote the value to use a string)")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("cannot render %s as JSON: %v", typeName(v), err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func hasDatetime(v any) bool {
	switch x := v.(type) {
	case time.Time, toml.LocalDateTime, toml.LocalDate, toml.LocalTime:
		return true
	case []any:
		return slices.ContainsFunc(x, hasDatetime)
	case []map[string]any:
		for _, e := range x {
			if hasDatetime(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasDatetime(e) {
				return true
			}
		}
	}
	return false
}

// depEntry is one [imports]/[exports] declaration before its value is interpreted.
type depEntry struct {
	key       string // for messages
	ns, name  string
	value     any
	duplicate bool
}

// deps flattens the two accepted forms of [imports]/[exports]: flat "ns:name" keys and
// nested [section.ns] tables.
func (p *parser) deps(section string, v any) []depEntry {
	t, _ := p.table("["+section+"]", v)
	var out []depEntry
	seen := map[string]string{}
	add := func(key, ns, name string, value any) {
		ok := true
		if !depNameRe.MatchString(ns) {
			p.errf(key, "invalid namespace %q: want ^[a-z][a-z0-9-]*$", ns)
			ok = false
		}
		if !depNameRe.MatchString(name) {
			p.errf(key, "invalid interface name %q: want ^[a-z][a-z0-9-]*$", name)
			ok = false
		}
		if !ok {
			return
		}
		id := ns + ":" + name
		if prev, dup := seen[id]; dup {
			p.errf(key, "%s is declared twice (also as %s)", id, prev)
			return
		}
		seen[id] = key
		out = append(out, depEntry{key: key, ns: ns, name: name, value: value})
	}
	for _, k := range sortedKeys(t) {
		if ns, name, flat := strings.Cut(k, ":"); flat {
			add(fmt.Sprintf("[%s] %q", section, k), ns, name, t[k])
			continue
		}
		nt, ok := t[k].(map[string]any)
		if !ok {
			p.errf(fmt.Sprintf("[%s] %s", section, quoteKey(k)),
				"want \"namespace:interface\" = ... or a [%s.<namespace>] table, got a %s under a key without ':'", section, typeName(t[k]))
			continue
		}
		sec := fmt.Sprintf("[%s.%s]", section, quoteKey(k))
		if len(nt) == 0 {
			if !depNameRe.MatchString(k) {
				p.errf(sec, "invalid namespace %q: want ^[a-z][a-z0-9-]*$", k)
			}
		}
		for _, name := range sortedKeys(nt) {
			add(sec+" "+quoteKey(name), k, name, nt[name])
		}
	}
	return out
}

func (p *parser) parseImports(v any) []Import {
	var out []Import
	for _, d := range p.deps("imports", v) {
		imp := Import{Namespace: d.ns, Name: d.name}
		req, reqKey := d.value, d.key
		switch x := d.value.(type) {
		case string:
		case map[string]any:
			rv, ok := x["version"]
			if !ok {
				p.errf(d.key+" version", "missing (a semver requirement)")
				continue
			}
			req, reqKey = rv, d.key+" version"
			if ov, ok := x["optional"]; ok {
				imp.Optional, _ = p.boolean(d.key+" optional", ov)
			}
			p.unknownKeys(d.key, x, "version", "optional")
		default:
			p.errf(d.key, "want a semver requirement string or { version = \"...\", optional = true }, got %s", typeName(x))
			continue
		}
		s, ok := p.str(reqKey, req)
		if !ok {
			continue
		}
		c, err := ParseRequirement(s)
		if err != nil {
			p.errf(reqKey, "invalid requirement %q: %v", s, err)
			continue
		}
		imp.Requirement, imp.Constraint = s, c
		out = append(out, imp)
	}
	return out
}

func (p *parser) parseExports(v any) []Export {
	var out []Export
	for _, d := range p.deps("exports", v) {
		ver, verKey := d.value, d.key
		switch x := d.value.(type) {
		case string:
		case map[string]any:
			vv, ok := x["version"]
			if !ok {
				p.errf(d.key+" version", "missing (a semantic version)")
				continue
			}
			ver, verKey = vv, d.key+" version"
			p.unknownKeys(d.key, x, "version")
		default:
			p.errf(d.key, "want a version string or { version = \"...\" }, got %s", typeName(x))
			continue
		}
		s, ok := p.str(verKey, ver)
		if !ok {
			continue
		}
		sv, err := semver.StrictNewVersion(s)
		if err != nil {
			p.errf(verKey, "%q is not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]: %v", s, err)
			continue
		}
		out = append(out, Export{Namespace: d.ns, Name: d.name, Version: s, SemVer: sv})
	}
	return out
}

func (p *parser) parseLimits(v any) Limits {
	var l Limits
	t, _ := p.table("[limits]", v)
	if x, ok := t["memory_pages"]; ok {
		if n, ok := p.integer("[limits] memory_pages", x, 1, MaxMemoryPages); ok {
			l.MemoryPages = uint32(n)
		}
	}
	if x, ok := t["ipc_throughput_bytes_per_sec"]; ok {
		if n, ok := p.integer("[limits] ipc_throughput_bytes_per_sec", x, 1, math.MaxInt64); ok {
			l.IPCThroughputBytesPerSec = n
		}
	}
	if x, ok := t["ipc_throughput_messages_per_sec"]; ok {
		if n, ok := p.integer("[limits] ipc_throughput_messages_per_sec", x, 1, math.MaxInt64); ok {
			l.IPCThroughputMessagesPerSec = n
		}
	}
	if x, ok := t["max_subscriptions"]; ok {
		if n, ok := p.integer("[limits] max_subscriptions", x, 1, MaxMaxSubscriptions); ok {
			l.MaxSubscriptions = int(n)
		}
	}
	if x, ok := t["module_bytes"]; ok {
		if n, ok := p.integer("[limits] module_bytes", x, 1, MaxModuleBytes); ok {
			l.ModuleBytes = n
		}
	}
	if x, ok := t["kv_bytes"]; ok {
		if n, ok := p.integer("[limits] kv_bytes", x, 1, math.MaxInt64); ok {
			l.KVBytes = n
		}
	}
	p.unknownKeys("[limits]", t, "memory_pages", "ipc_throughput_bytes_per_sec", "ipc_throughput_messages_per_sec", "max_subscriptions", "module_bytes", "kv_bytes")
	return l
}

// duration parses a Go duration string; zero is accepted only when allowZero.
func (p *parser) duration(key string, v any, allowZero bool) (time.Duration, bool) {
	s, ok := p.str(key, v)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.errf(key, "%q is not a duration (e.g. \"500ms\", \"30s\", \"1m\")", s)
		return 0, false
	case d < 0 || (d == 0 && !allowZero):
		if allowZero {
			p.errf(key, "%q must not be negative", s)
		} else {
			p.errf(key, "%q must be positive", s)
		}
		return 0, false
	}
	return d, true
}

func (p *parser) parseSupervision(v any) Supervision {
	s := DefaultSupervision()
	t, _ := p.table("[supervision]", v)
	const sec = "[supervision] "
	if x, ok := t["restart"]; ok {
		if r, ok := p.str(sec+"restart", x); ok {
			if r != RestartPermanent && r != RestartTransient && r != RestartTemporary {
				p.errf(sec+"restart", "%q: want permanent, transient or temporary", r)
			} else {
				s.Restart = r
			}
		}
	}
	if x, ok := t["max_restarts"]; ok {
		if n, ok := p.integer(sec+"max_restarts", x, 0, math.MaxInt32); ok {
			s.MaxRestarts = int(n)
		}
	}
	for _, d := range []struct {
		key       string
		dst       *time.Duration
		allowZero bool
	}{
		{"within", &s.Within, false},
		{"backoff_initial", &s.BackoffInitial, true},
		{"backoff_max", &s.BackoffMax, true},
		{"watchdog_window", &s.WatchdogWindow, false},
		{"ready_timeout", &s.ReadyTimeout, false},
	} {
		if x, ok := t[d.key]; ok {
			if v, ok := p.duration(sec+d.key, x, d.allowZero); ok {
				*d.dst = v
			}
		}
	}
	if s.ReadyTimeout > MaxReadyTimeout {
		p.errf(sec+"ready_timeout", "%v is longer than %v: capsules importing from this one wait for its "+
			"readiness, so a longer wait would delay them", s.ReadyTimeout, MaxReadyTimeout)
	}
	if s.BackoffMax < s.BackoffInitial {
		p.errf(sec+"backoff_max", "%v is less than backoff_initial %v", s.BackoffMax, s.BackoffInitial)
	}
	if x, ok := t["on_failure"]; ok {
		if o, ok := p.str(sec+"on_failure", x); ok {
			if o != OnFailureStayFailed && o != OnFailureEscalate {
				p.errf(sec+"on_failure", "%q: want stay-failed or escalate", o)
			} else {
				s.OnFailure = o
			}
		}
	}
	if x, ok := t["group"]; ok {
		if g, ok := p.str(sec+"group", x); ok {
			if !capsuleIDRe.MatchString(g) {
				p.errf(sec+"group", "invalid group name %q: want one or more of [a-z0-9-]", g)
			} else {
				s.Group = g
			}
		}
	}
	if x, ok := t["watchdog_windows"]; ok {
		if n, ok := p.integer(sec+"watchdog_windows", x, 1, math.MaxInt32); ok {
			s.WatchdogWindows = int(n)
		}
	}
	if x, ok := t["placement"]; ok {
		if v, ok := p.str(sec+"placement", x); ok {
			if v != PlacementNode && v != PlacementCluster {
				p.errf(sec+"placement", "%q: want node or cluster", v)
			} else {
				s.Placement = v
			}
		}
	}
	p.unknownKeys("[supervision]", t, "restart", "max_restarts", "within", "backoff_initial",
		"backoff_max", "on_failure", "group", "watchdog_window", "watchdog_windows", "ready_timeout", "placement")
	return s
}
