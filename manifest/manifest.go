package manifest

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// FileName is the name of a capsule manifest inside its capsule directory.
const FileName = "Capsule.toml"

// MaxManifestBytes is the largest manifest file Load reads (1 MiB).
const MaxManifestBytes = 1 << 20

// Manifest is one parsed and validated Capsule.toml.
type Manifest struct {
	// Path is the absolute path of the manifest file; Dir is its directory, the capsule
	// directory every component file must stay inside.
	Path, Dir string
	// Package is the [package] table.
	Package Package
	// Components are the [[component]] entries in file order; only the first is used.
	Components []Component
	// Publish is the [publish] table: its keys are the publish ACL.
	Publish map[string]PublishEntry
	// Subscribe is the [subscribe] table: its keys are the subscribe ACL.
	Subscribe map[string]SubscribeEntry
	// Capabilities is the [capabilities] table.
	Capabilities Capabilities
	// Env is the [env] table without reserved keys.
	Env map[string]EnvEntry
	// Imports and Exports are the [imports] and [exports] declarations, sorted by
	// namespace then name.
	Imports []Import
	Exports []Export
	// Limits is the [limits] table; zero fields mean "runtime default".
	Limits Limits
	// Supervision is the [supervision] table with defaults filled in.
	Supervision Supervision
	// Warnings are the non-fatal findings, each prefixed with Path and naming the key:
	// unknown tables and keys, unsupported capabilities, extra components, ignored env keys.
	Warnings []string
}

// Package is the [package] table.
type Package struct {
	// Name is the capsule id: one or more of [a-z0-9-].
	Name string
	// Version is the version as written; SemVer is its parsed form.
	Version string
	SemVer  *semver.Version
	// Description is the optional one-line description.
	Description string
	// AstridVersion is the astrid-version requirement as written ("" when absent);
	// AstridConstraint is its parsed form (nil when absent). AstridRelease satisfies it.
	AstridVersion    string
	AstridConstraint *semver.Constraints
}

// Component is one [[component]] entry.
type Component struct {
	// ID is the component id.
	ID string
	// File is the path of the .wasm file relative to the capsule directory, as written
	// (key file or its alias entrypoint).
	File string
	// Hash is the optional expected digest, "sha256:" followed by 64 hex digits.
	Hash string
}

// PublishEntry is the value of one [publish] key.
type PublishEntry struct {
	// Wit is the schema reference: the short-form string value, or the wit key of the table
	// form ("" when the table has none). "opaque" means an untyped payload.
	Wit string
	// Meta holds the other keys of the table form (version, tag, rev, branch, path, fanout,
	// ...) with their TOML values; nil for the short form or when there are none.
	Meta map[string]any
}

// SubscribeEntry is the value of one [subscribe] key.
type SubscribeEntry struct {
	// Wit is the schema reference, as for PublishEntry.
	Wit string
	// Handler is the guest action that intercepts the topic; "" for a plain subscribe grant.
	Handler string
	// Priority orders interceptors (lower fires first); DefaultPriority unless set. It is
	// meaningful only with a Handler.
	Priority uint32
	// Meta holds the other keys of the table form.
	Meta map[string]any
}

// DefaultPriority is the priority of an interceptor binding that sets none.
const DefaultPriority = 100

// MaxInterceptors is the most [subscribe] entries with a handler one manifest may declare.
const MaxInterceptors = 64

// Interceptor is one interceptor binding: a [subscribe] entry with a handler.
type Interceptor struct {
	// Topic is the [subscribe] key (a topic or pattern).
	Topic string
	// Action is the handler: the action name passed to the guest.
	Action string
	// Priority orders the bindings of one topic; lower fires first.
	Priority uint32
}

// Capabilities is the [capabilities] table. Only Uplink is enforced by this runtime; the
// other fields are kept so that tools can show them, and each one that is set produces a
// warning that it grants nothing.
type Capabilities struct {
	// Uplink marks a long-lived uplink capsule: it may publish-as, is loaded first and may
	// not have imports.
	Uplink bool
	// Net is the HTTP host allow-list (not supported).
	Net []string
	// KV is the key-value namespace list (not supported).
	KV []string
	// FSRead and FSWrite are file-system path allow-lists (not supported).
	FSRead, FSWrite []string
	// HostProcess lists the host commands the capsule may run (not supported).
	HostProcess []string
	// AllowPersistent allows persistent host processes (not supported).
	AllowPersistent bool
	// NetBind and NetConnect are socket allow-lists (not supported).
	NetBind, NetConnect []string
	// Identity is the identity access level list (not supported).
	Identity []string
	// AllowPromptInjection lets hook responses carry system-prompt fields (not supported).
	AllowPromptInjection bool
}

// Held returns the sorted names of the capability fields that are held: a bool that is
// true or a list that is not empty, e.g. ["fs_read", "uplink"].
func (c Capabilities) Held() []string {
	var out []string
	for _, f := range c.fields() {
		if f.held {
			out = append(out, f.name)
		}
	}
	slices.Sort(out)
	return out
}

type capField struct {
	name string
	held bool
}

// fields lists every capability field in manifest order.
func (c Capabilities) fields() []capField {
	return []capField{
		{"uplink", c.Uplink},
		{"net", len(c.Net) > 0},
		{"kv", len(c.KV) > 0},
		{"fs_read", len(c.FSRead) > 0},
		{"fs_write", len(c.FSWrite) > 0},
		{"host_process", len(c.HostProcess) > 0},
		{"allow_persistent", c.AllowPersistent},
		{"net_bind", len(c.NetBind) > 0},
		{"net_connect", len(c.NetConnect) > 0},
		{"identity", len(c.Identity) > 0},
		{"allow_prompt_injection", c.AllowPromptInjection},
	}
}

// EnvEntry is one [env] entry: a configuration value the capsule reads with get-config.
type EnvEntry struct {
	// Type is "text" (the default), "secret", "select" or "array".
	Type string
	// Description, Request and Placeholder are texts for the operator.
	Description, Request, Placeholder string
	// Default is the default value: a TOML string as-is, any other value as its JSON text.
	// HasDefault says whether the entry has one.
	Default    string
	HasDefault bool
	// EnumValues are the allowed values of a select entry.
	EnumValues []string
}

// ReservedEnvKey is the env key the runtime reserves; an [env] entry with this key is
// ignored with a warning.
const ReservedEnvKey = "ASTRID_SOCKET_PATH"

// Import is one [imports] declaration: an interface this capsule needs.
type Import struct {
	// Namespace and Name identify the interface ("astrid" and "session" for
	// "astrid:session").
	Namespace, Name string
	// Requirement is the semver requirement as written; Constraint is its parsed form.
	Requirement string
	Constraint  *semver.Constraints
	// Optional imports do not warn when no capsule provides them.
	Optional bool
}

// String returns "namespace:name requirement".
func (i Import) String() string { return i.Namespace + ":" + i.Name + " " + i.Requirement }

// Export is one [exports] declaration: an interface this capsule provides.
type Export struct {
	// Namespace and Name identify the interface.
	Namespace, Name string
	// Version is the exported version as written; SemVer is its parsed form.
	Version string
	SemVer  *semver.Version
}

// String returns "namespace:name version".
func (e Export) String() string { return e.Namespace + ":" + e.Name + " " + e.Version }

// Limits is the [limits] table. A zero field was not set: the runtime default applies.
type Limits struct {
	// MemoryPages caps the instance's linear memory in 64 KiB pages (1..16384).
	MemoryPages uint32
	// IPCThroughputBytesPerSec is the publish budget in bytes per second (> 0).
	IPCThroughputBytesPerSec int64
	// IPCThroughputMessagesPerSec is the publish budget in messages per second (> 0).
	IPCThroughputMessagesPerSec int64
	// MaxSubscriptions caps the live subscriptions of one instance (1..1024).
	MaxSubscriptions int
	// ModuleBytes caps the size of the component file (1..MaxModuleBytes; 0 means
	// DefaultModuleBytes). See Manifest.ModuleLimit.
	ModuleBytes int64
	// KVBytes caps each astrid:kv namespace of the capsule, keys plus values, in bytes (> 0;
	// runtime default 64 MiB).
	KVBytes int64
}

// Bounds of the [limits] keys.
const (
	// MaxMemoryPages is the largest memory_pages (16384 pages of 64 KiB = 1 GiB).
	MaxMemoryPages = 16384
	// MaxMaxSubscriptions is the largest max_subscriptions.
	MaxMaxSubscriptions = 1024
)

// Supervision is the [supervision] table, with every omitted key set to its default.
type Supervision struct {
	// Restart is "permanent" (default), "transient" or "temporary".
	Restart string
	// MaxRestarts restarts are allowed within Within (defaults 5 and 60s).
	MaxRestarts int
	Within      time.Duration
	// BackoffInitial (default 100ms, may be 0) doubles per restart up to BackoffMax
	// (default 30s).
	BackoffInitial, BackoffMax time.Duration
	// OnFailure is "stay-failed" (default) or "escalate".
	OnFailure string
	// Group is the optional all-for-one group name ([a-z0-9-]+).
	Group string
	// WatchdogWindow and WatchdogWindows: a run loop that does not yield for
	// WatchdogWindows consecutive windows of WatchdogWindow is stopped (defaults 5s and 3).
	WatchdogWindow  time.Duration
	WatchdogWindows int
	// ReadyTimeout is how long the runtime waits for signal-ready (default 2s, at most
	// MaxReadyTimeout).
	ReadyTimeout time.Duration
	// Placement is PlacementNode (default: every node that loads the capsule runs it) or
	// PlacementCluster (one node of the cluster runs it, the others stand by).
	Placement string
}

// The values of Supervision.Placement.
const (
	PlacementNode    = "node"
	PlacementCluster = "cluster"
)

// MaxReadyTimeout is the longest [supervision] ready_timeout: Load starts capsules one after
// another and waits for each one's readiness up to its ready_timeout, so this bounds how long
// one capsule that never becomes ready delays the others.
const MaxReadyTimeout = time.Minute

// The values of Supervision.Restart and Supervision.OnFailure (the manifest spellings, as
// parsed by supervision.ParseRestart and supervision.ParseOnFailure).
const (
	// RestartPermanent: always restarted, even after a normal exit.
	RestartPermanent = "permanent"
	// RestartTransient: restarted only after a crash.
	RestartTransient = "transient"
	// RestartTemporary: never restarted.
	RestartTemporary = "temporary"
	// OnFailureStayFailed: a capsule over its restart intensity stays failed.
	OnFailureStayFailed = "stay-failed"
	// OnFailureEscalate: a capsule over its restart intensity fails its whole group.
	OnFailureEscalate = "escalate"
)

// DefaultSupervision returns the supervision settings of a manifest without a
// [supervision] table.
func DefaultSupervision() Supervision {
	return Supervision{
		Restart:         RestartPermanent,
		MaxRestarts:     5,
		Within:          60 * time.Second,
		BackoffInitial:  100 * time.Millisecond,
		BackoffMax:      30 * time.Second,
		OnFailure:       OnFailureStayFailed,
		Placement:       PlacementNode,
		WatchdogWindow:  5 * time.Second,
		WatchdogWindows: 3,
		ReadyTimeout:    2 * time.Second,
	}
}

// Error is one validation error: Path names the manifest, Key the offending table and key
// (e.g. `[subscribe] "a..b"`), Problem what is wrong.
type Error struct {
	Path, Key, Problem string
	// Err is the underlying error, if any (e.g. one wrapping ErrModuleTooLarge).
	Err error
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Error returns "Path: Key: Problem".
func (e *Error) Error() string {
	if e.Key == "" {
		return e.Path + ": " + e.Problem
	}
	return e.Path + ": " + e.Key + ": " + e.Problem
}

// Parse parses and validates a manifest. path is used in messages and to set Path and Dir
// (made absolute; "" means "Capsule.toml" in the working directory); nothing is read from
// the file system, so component files are only checked lexically (see Load). The error
// joins every problem found, each an *Error (or a TOML syntax error).
func Parse(data []byte, path string) (*Manifest, error) {
	m, errs := parse(data, path)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Load reads (at most MaxManifestBytes, from a regular file opened without blocking) and
// parses the manifest at path, then checks the first component's file on disk as WasmPath
// does: it must exist and be a regular file that, with symlinks resolved, lies inside the
// (symlink-resolved) capsule directory. A missing component file is an error naming its path,
// as everywhere else (validate, the runtime's Load). WasmPath checks again when it is used;
// the size and the hash are checked by ReadWasm.
func Load(path string) (*Manifest, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	m, errs := parse(data, path)
	if m != nil && len(m.Components) > 0 && localPath(m.Components[0].File) == nil {
		if _, err := m.WasmPath(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func readLimited(path string) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxManifestBytes {
		return nil, &Error{Path: path, Problem: fmt.Sprintf("manifest is larger than %d bytes", MaxManifestBytes)}
	}
	return data, nil
}

func absPath(path string) string {
	if path == "" {
		path = FileName
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// PublishACL returns the [publish] keys, sorted: the topics and patterns the capsule may
// publish to. Empty means it may not publish.
func (m *Manifest) PublishACL() []string {
	out := make([]string, 0, len(m.Publish))
	for k := range m.Publish {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// SubscribeACL returns the [subscribe] keys, sorted: the topics and patterns the capsule may
// subscribe to. Empty means it may not subscribe.
func (m *Manifest) SubscribeACL() []string {
	out := make([]string, 0, len(m.Subscribe))
	for k := range m.Subscribe {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Interceptors returns the interceptor bindings (the [subscribe] entries with a handler)
// sorted by priority, then topic.
func (m *Manifest) Interceptors() []Interceptor {
	var out []Interceptor
	for topic, e := range m.Subscribe {
		if e.Handler != "" {
			out = append(out, Interceptor{Topic: topic, Action: e.Handler, Priority: e.Priority})
		}
	}
	slices.SortFunc(out, func(a, b Interceptor) int {
		if a.Priority != b.Priority {
			if a.Priority < b.Priority {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Topic, b.Topic)
	})
	return out
}

// Config returns the [env] defaults: key → Default for every entry that has one.
func (m *Manifest) Config() map[string]string {
	out := make(map[string]string, len(m.Env))
	for k, e := range m.Env {
		if e.HasDefault {
			out[k] = e.Default
		}
	}
	return out
}

// AstridRelease is the Astrid OS release this runtime is compatible with: the manifest layout
// and capsule semantics it implements are those of Astrid 0.8. A manifest's [package]
// astrid-version requirement is checked against it, as Astrid checks it against its own
// release (so "^0.8" is satisfied). It is unrelated to the capsule ABI version abi.Version.
const AstridRelease = "0.8.0"
