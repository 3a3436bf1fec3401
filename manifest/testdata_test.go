package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadValidFull(t *testing.T) {
	path, _ := filepath.Abs("testdata/valid/full/Capsule.toml")
	m, err := Load("testdata/valid/full/Capsule.toml")
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != path || m.Dir != filepath.Dir(path) {
		t.Errorf("Path, Dir = %q, %q", m.Path, m.Dir)
	}
	checkWarnings(t, m.Warnings, path, []string{
		"[[tool]]: unknown table ignored",
		"[capabilities] net: capability net is not supported by this runtime and grants nothing",
		"[env] ASTRID_SOCKET_PATH: reserved key: the runtime sets it, the entry is ignored",
	})

	p := m.Package
	if p.Name != "full-example" || p.Version != "1.2.3-rc.1+build.5" || p.SemVer.Prerelease() != "rc.1" ||
		p.Description != "Exercises every manifest table" || p.AstridVersion != "^0.8" || p.AstridConstraint == nil {
		t.Errorf("Package = %+v", p)
	}
	wantComp := []Component{{ID: "main", File: "full.wasm", Hash: "sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476"}}
	if !reflect.DeepEqual(m.Components, wantComp) {
		t.Errorf("Components = %+v", m.Components)
	}
	if got := m.PublishACL(); !slices.Equal(got, []string{"demo.events.*", "demo.out"}) {
		t.Errorf("PublishACL = %v", got)
	}
	if e := m.Publish["demo.events.*"]; e.Wit != "demo:events/event" || !reflect.DeepEqual(e.Meta, map[string]any{"version": "1.0.0", "fanout": true}) {
		t.Errorf("publish demo.events.* = %+v", e)
	}
	if got := m.SubscribeACL(); !slices.Equal(got, []string{"astrid.v1.admin.*", "demo.in", "tool.v1.execute.*.result"}) {
		t.Errorf("SubscribeACL = %v", got)
	}
	wantInt := []Interceptor{
		{Topic: "tool.v1.execute.*.result", Action: "on-result", Priority: 10},
		{Topic: "astrid.v1.admin.*", Action: "on-admin", Priority: 100},
	}
	if got := m.Interceptors(); !reflect.DeepEqual(got, wantInt) {
		t.Errorf("Interceptors = %+v", got)
	}
	if c := m.Capabilities; c.Uplink || !slices.Equal(c.Net, []string{"example.com"}) || !slices.Equal(c.Held(), []string{"net"}) {
		t.Errorf("Capabilities = %+v", c)
	}
	wantCfg := map[string]string{"greeting": "hello", "retries": "3", "ratio": "0.5", "enabled": "true",
		"tags": `["a","b"]`, "mode": "fast"}
	if got := m.Config(); !reflect.DeepEqual(got, wantCfg) {
		t.Errorf("Config = %v", got)
	}
	if e := m.Env["api-key"]; e.Type != "secret" || e.Placeholder != "sk-..." || e.HasDefault {
		t.Errorf("api-key = %+v", e)
	}
	if e := m.Env["mode"]; e.Request != "Pick a mode" || !slices.Equal(e.EnumValues, []string{"fast", "slow"}) {
		t.Errorf("mode = %+v", e)
	}
	if _, ok := m.Env[ReservedEnvKey]; ok {
		t.Errorf("reserved env key kept")
	}
	var imps, exps []string
	for _, i := range m.Imports {
		imps = append(imps, i.String())
		if i.Optional != (i.Name == "llm") {
			t.Errorf("import %s Optional = %v", i, i.Optional)
		}
	}
	for _, e := range m.Exports {
		exps = append(exps, e.String())
	}
	if want := []string{"astrid:llm >=2.1, <3", "astrid:session ^1.0", "demo:store 1.4"}; !slices.Equal(imps, want) {
		t.Errorf("Imports = %q", imps)
	}
	if want := []string{"demo:clock 2.0.1", "demo:events 1.0.0"}; !slices.Equal(exps, want) {
		t.Errorf("Exports = %q", exps)
	}
	if want := (Limits{MemoryPages: 256, IPCThroughputBytesPerSec: 1 << 20, MaxSubscriptions: 32}); m.Limits != want {
		t.Errorf("Limits = %+v", m.Limits)
	}
	wantSup := Supervision{Restart: "transient", MaxRestarts: 3, Within: 30 * time.Second, BackoffInitial: 50 * time.Millisecond,
		BackoffMax: 5 * time.Second, OnFailure: "escalate", Group: "demo-group", WatchdogWindow: time.Second,
		WatchdogWindows: 2, ReadyTimeout: 500 * time.Millisecond, Placement: "node"}
	if m.Supervision != wantSup {
		t.Errorf("Supervision = %+v", m.Supervision)
	}
	data, err := m.ReadWasm()
	if err != nil {
		t.Fatalf("ReadWasm: %v", err)
	}
	if want, _ := os.ReadFile("testdata/valid/full/full.wasm"); !slices.Equal(data, want) {
		t.Errorf("ReadWasm returned %x", data)
	}
}

func TestLoadValidMinimal(t *testing.T) {
	m, err := Load("testdata/valid/minimal/Capsule.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Warnings) != 0 {
		t.Errorf("Warnings = %q", m.Warnings)
	}
	if m.Package.Name != "minimal" || len(m.PublishACL()) != 0 || len(m.SubscribeACL()) != 0 || len(m.Interceptors()) != 0 ||
		len(m.Config()) != 0 || len(m.Imports) != 0 || len(m.Exports) != 0 || m.Limits != (Limits{}) ||
		m.Supervision != DefaultSupervision() || len(m.Capabilities.Held()) != 0 {
		t.Errorf("unexpected content: %+v", m)
	}
	if _, err := m.ReadWasm(); err != nil {
		t.Errorf("ReadWasm without hash: %v", err)
	}
}

// TestLoadInvalid loads every testdata/invalid/<case>/Capsule.toml; each must fail with
// exactly the listed errors, and every case directory must be listed.
func TestLoadInvalid(t *testing.T) {
	cases := map[string][]string{
		"toml-syntax":                        {"toml: line 2, column 9: expected ']' to close table name"},
		"missing-package":                    {"[package]: missing table"},
		"missing-name":                       {"[package] name: missing"},
		"bad-name":                           {`[package] name: invalid capsule id "My_Capsule"`},
		"name-not-string":                    {"[package] name: want a string, got integer"},
		"missing-version":                    {"[package] version: missing"},
		"bad-version":                        {`[package] version: "1.0" is not a semantic version`},
		"bad-astrid-version":                 {`[package] astrid-version: invalid requirement "not a requirement"`},
		"unsatisfied-astrid-version":         {`[package] astrid-version: requirement ">=2.0.0" is not satisfied by this runtime (compatible with Astrid 0.8.0)`},
		"case-variant-table":                 {`Limits: unknown key (keys are case-sensitive: did you mean "limits"?)`},
		"no-component":                       {"[[component]]: no [[component]] declared"},
		"component-not-array":                {"[[component]]: want an array of tables"},
		"component-missing-id":               {"[[component]] #1 id: missing"},
		"component-missing-file":             {"[[component]] #1 file: missing"},
		"component-file-and-entrypoint":      {"[[component]] #1 entrypoint: both file and its alias entrypoint are set"},
		"component-absolute":                 {`[[component]] #1 file: "/etc/bad.wasm" is an absolute path`},
		"component-dotdot":                   {`[[component]] #1 entrypoint: "sub/../../bad.wasm" escapes the capsule directory`},
		"component-bad-hash":                 {`[[component]] #1 hash: "md5:d41d8cd98f00b204e9800998ecf8427e": want "sha256:" followed by 64 hex digits`},
		"publish-empty-segment":              {`[publish] "a..b": empty topic segment`},
		"publish-empty-key":                  {`[publish] "": empty topic`},
		"publish-bad-value":                  {`[publish] "a.b": want a string (schema reference) or a table, got integer`},
		"publish-two-selectors":              {`[publish] "a.b": at most one of version, tag, rev, branch, path may be set (got version, tag)`},
		"subscribe-empty-segment":            {`[subscribe] ".a": empty topic segment`},
		"subscribe-trailing-dot":             {`[subscribe] "a.": empty topic segment`},
		"subscribe-priority-without-handler": {`[subscribe] "a.b" priority: priority without handler`},
		"subscribe-priority-negative":        {`[subscribe] "a.b" priority: -1 is out of range: want 0..4294967295`},
		"subscribe-priority-too-big":         {`[subscribe] "a.b" priority: 4294967296 is out of range: want 0..4294967295`},
		"subscribe-empty-handler":            {`[subscribe] "a.b" handler: empty action name`},
		"subscribe-too-many-handlers":        {"[subscribe]: 65 entries with a handler: at most 64 interceptor bindings are allowed"},
		"capabilities-bad-type":              {"[capabilities] uplink: want a boolean, got string"},
		"capabilities-bad-list":              {"[capabilities] net: element 0: want a string, got integer"},
		"env-not-table":                      {"[env] key: want a table"},
		"env-bad-type":                       {`[env] key type: want a string, got integer`},
		"env-datetime-default":               {"[env] key default: datetime values are not supported"},
		"imports-bad-namespace":              {`[imports] "Astrid:session": invalid namespace "Astrid"`},
		"imports-bad-name":                   {`[imports.astrid] 1session: invalid interface name "1session"`},
		"imports-empty-name":                 {`[imports] "astrid:": invalid interface name ""`},
		"imports-bad-requirement":            {`[imports] "astrid:session": invalid requirement "one point oh"`},
		"imports-missing-version":            {`[imports] "astrid:session" version: missing`},
		"imports-flat-without-colon":         {`[imports] session: want "namespace:interface" = ... or a [imports.<namespace>] table`},
		"imports-duplicate":                  {`[imports] "astrid:session": astrid:session is declared twice (also as [imports.astrid] session)`},
		"imports-uplink":                     {"[imports]: an uplink capsule ([capabilities] uplink = true) may not import interfaces"},
		"exports-bad-version":                {`[exports] "demo:clock": "^1.0" is not a semantic version`},
		"exports-bad-name":                   {`[exports.demo] my_clock: invalid interface name "my_clock"`},
		"limits-memory-pages-zero":           {"[limits] memory_pages: 0 is out of range: want 1..16384"},
		"limits-memory-pages-too-big":        {"[limits] memory_pages: 16385 is out of range: want 1..16384"},
		"limits-throughput-zero":             {"[limits] ipc_throughput_bytes_per_sec: 0 is out of range: want at least 1"},
		"limits-max-subscriptions-too-big":   {"[limits] max_subscriptions: 1025 is out of range: want 1..1024"},
		"limits-max-subscriptions-float":     {"[limits] max_subscriptions: want an integer, got float"},
		"supervision-restart":                {`[supervision] restart: "always": want permanent, transient or temporary`},
		"supervision-max-restarts-negative":  {"[supervision] max_restarts: -1 is out of range"},
		"supervision-within-zero":            {`[supervision] within: "0s" must be positive`},
		"supervision-bad-duration":           {`[supervision] watchdog_window: "5 minutes" is not a duration`},
		"supervision-duration-not-string":    {"[supervision] ready_timeout: want a string, got integer"},
		"supervision-backoff-negative":       {`[supervision] backoff_initial: "-1ms" must not be negative`},
		"supervision-backoff-order":          {"[supervision] backoff_max: 30s is less than backoff_initial 1m0s"},
		"supervision-on-failure":             {`[supervision] on_failure: "restart-all": want stay-failed or escalate`},
		"supervision-group":                  {`[supervision] group: invalid group name "Group_A"`},
		"supervision-watchdog-windows-zero":  {"[supervision] watchdog_windows: 0 is out of range"},
		"supervision-ready-timeout-negative": {`[supervision] ready_timeout: "-2s" must be positive`},
		"many-errors": {`[package] name: invalid capsule id "Bad!"`, `[package] version: "x" is not a semantic version`,
			"[[component]]: no [[component]] declared", `[subscribe] "a..b": empty topic segment`,
			`[subscribe] "a..b" priority: priority without handler`, "[limits] memory_pages: 0 is out of range"},
	}
	dirs, err := os.ReadDir("testdata/invalid")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		name := d.Name()
		seen[name] = true
		want, ok := cases[name]
		if !ok {
			t.Errorf("testdata/invalid/%s has no expectation", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			path, _ := filepath.Abs(filepath.Join("testdata/invalid", name, FileName))
			m, err := Load(path)
			if m != nil {
				t.Errorf("Load returned a manifest with an error")
			}
			checkErrors(t, err, path, want)
		})
	}
	for name := range cases {
		if !seen[name] {
			t.Errorf("case %s has no testdata/invalid directory", name)
		}
	}
}

// TestDocExample parses the complete example of docs/manifest.md, so the documentation
// cannot drift from the parser.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/manifest.md")
	if err != nil {
		t.Skipf("docs/manifest.md: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```toml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no ```toml block in docs/manifest.md")
	}
	m, err := Parse([]byte(block), "/doc/Capsule.toml")
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, m.Warnings, "/doc/Capsule.toml", []string{"[capabilities] net: capability net is not supported"})
	if got := m.Config(); !reflect.DeepEqual(got, map[string]string{"greeting": "hello", "retries": "3", "tags": `["a","b"]`, "mode": "fast"}) {
		t.Errorf("Config = %v", got)
	}
	if len(m.Interceptors()) != 2 || len(m.Imports) != 3 || len(m.Exports) != 2 || m.Supervision.Group != "demo-group" {
		t.Errorf("unexpected manifest %+v", m)
	}
}
