package manifest

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseCase is one inline manifest. A case with wantErr must fail with exactly those errors
// (substrings, in order); any other case must parse, with exactly the warnings wantWarn,
// and check (if set) inspects the result.
type parseCase struct {
	name     string
	toml     string
	wantErr  []string
	wantWarn []string
	check    func(t *testing.T, m *Manifest)
}

func runParseCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.toml), testPath)
			if len(tc.wantErr) > 0 {
				if m != nil {
					t.Errorf("Parse returned a manifest with an error")
				}
				checkErrors(t, err, testPath, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkWarnings(t, m.Warnings, testPath, tc.wantWarn)
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func TestParsePackage(t *testing.T) {
	comp := "\n[[component]]\nid = \"main\"\nfile = \"x.wasm\"\n"
	pkg := func(body string) string { return "[package]\n" + body + comp }
	runParseCases(t, []parseCase{
		{name: "name ok", toml: pkg("name = \"a-b-1\"\nversion = \"1.0.0\""), check: func(t *testing.T, m *Manifest) {
			if m.Package.Name != "a-b-1" {
				t.Errorf("Name = %q", m.Package.Name)
			}
		}},
		{name: "name missing", toml: pkg("version = \"1.0.0\""), wantErr: []string{"[package] name: missing"}},
		{name: "name empty", toml: pkg("name = \"\"\nversion = \"1.0.0\""), wantErr: []string{`[package] name: invalid capsule id ""`}},
		{name: "name uppercase", toml: pkg("name = \"Abc\"\nversion = \"1.0.0\""), wantErr: []string{`[package] name: invalid capsule id "Abc": want one or more of [a-z0-9-]`}},
		{name: "name underscore", toml: pkg("name = \"a_b\"\nversion = \"1.0.0\""), wantErr: []string{`invalid capsule id "a_b"`}},
		{name: "name dot", toml: pkg("name = \"a.b\"\nversion = \"1.0.0\""), wantErr: []string{`invalid capsule id "a.b"`}},
		{name: "name not a string", toml: pkg("name = 1\nversion = \"1.0.0\""), wantErr: []string{"[package] name: want a string, got integer"}},
		{name: "version prerelease and build", toml: pkg("name = \"x\"\nversion = \"1.0.0-alpha.1+b.7\""), check: func(t *testing.T, m *Manifest) {
			if m.Package.Version != "1.0.0-alpha.1+b.7" || m.Package.SemVer.Prerelease() != "alpha.1" || m.Package.SemVer.Metadata() != "b.7" {
				t.Errorf("Version = %q (%v)", m.Package.Version, m.Package.SemVer)
			}
		}},
		{name: "version missing", toml: pkg("name = \"x\""), wantErr: []string{"[package] version: missing"}},
		{name: "version two parts", toml: pkg("name = \"x\"\nversion = \"1.0\""), wantErr: []string{`[package] version: "1.0" is not a semantic version`}},
		{name: "version v prefix", toml: pkg("name = \"x\"\nversion = \"v1.0.0\""), wantErr: []string{`"v1.0.0" is not a semantic version`}},
		{name: "version leading zero", toml: pkg("name = \"x\"\nversion = \"01.0.0\""), wantErr: []string{`"01.0.0" is not a semantic version`}},
		{name: "version not a string", toml: pkg("name = \"x\"\nversion = 1"), wantErr: []string{"[package] version: want a string, got integer"}},
		{name: "description", toml: pkg("name = \"x\"\nversion = \"1.0.0\"\ndescription = \"hi\""), check: func(t *testing.T, m *Manifest) {
			if m.Package.Description != "hi" {
				t.Errorf("Description = %q", m.Package.Description)
			}
		}},
		{name: "description not a string", toml: pkg("name = \"x\"\nversion = \"1.0.0\"\ndescription = [\"hi\"]"), wantErr: []string{"[package] description: want a string, got array"}},
		{name: "missing table", toml: comp, wantErr: []string{"[package]: missing table"}},
		{name: "package not a table", toml: "package = \"x\"\n" + comp, wantErr: []string{"[package]: want a table, got string"}},
		{name: "silent astrid keys", toml: pkg(`name = "x"
version = "1.0.0"
authors = ["a"]
repository = "r"
homepage = "h"
documentation = "d"
license = "MIT"
license-file = "LICENSE"
readme = "README.md"
keywords = ["k"]
categories = ["c"]
publish = false
include = ["*"]
exclude = []
metadata = { free = { json = 1 } }`)},
		{name: "unknown package key", toml: pkg("name = \"x\"\nversion = \"1.0.0\"\nedition = \"2021\""),
			wantWarn: []string{"[package] edition: unknown key ignored"}},
		{name: "all package errors together", toml: pkg("name = \"X\"\nversion = \"1\"\nastrid-version = \">=9\""), wantErr: []string{
			"[package] name", "[package] version", "[package] astrid-version"}},
	})
}

func TestParseAstridVersion(t *testing.T) {
	av := func(req string) string {
		return strings.Replace(head, "version = \"1.0.0\"", "version = \"1.0.0\"\nastrid-version = "+req, 1)
	}
	// The requirement is compared with AstridRelease (0.8.0), as Astrid 0.8 compares it with
	// its own release; not with the capsule ABI version.
	for _, req := range []string{`"^0.8"`, `"0.8"`, `"0.8.0"`, `">=0.5.0, <1"`, `"~0.8"`, `"*"`, `"0.x"`, `"^0.7 || ^0.8"`, `"0.5 - 1.5"`, `">=0.3"`} {
		t.Run("ok "+req, func(t *testing.T) {
			m, err := Parse([]byte(av(req)), testPath)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.Trim(req, `"`); m.Package.AstridVersion != want || m.Package.AstridConstraint == nil {
				t.Errorf("AstridVersion = %q, %v", m.Package.AstridVersion, m.Package.AstridConstraint)
			}
		})
	}
	runParseCases(t, []parseCase{
		{name: "absent", toml: head, check: func(t *testing.T, m *Manifest) {
			if m.Package.AstridVersion != "" || m.Package.AstridConstraint != nil {
				t.Errorf("AstridVersion = %q", m.Package.AstridVersion)
			}
		}},
		{name: "unsatisfied major", toml: av(`">=2.0.0"`), wantErr: []string{`[package] astrid-version: requirement ">=2.0.0" is not satisfied by this runtime (compatible with Astrid 0.8.0)`}},
		{name: "the ABI version is not the Astrid release", toml: av(`"^1.0"`), wantErr: []string{`requirement "^1.0" is not satisfied by this runtime (compatible with Astrid 0.8.0)`}},
		{name: "unsatisfied newer", toml: av(`"^0.9"`), wantErr: []string{`requirement "^0.9" is not satisfied`}},
		{name: "unsatisfied exact", toml: av(`"=0.8.1"`), wantErr: []string{`requirement "=0.8.1" is not satisfied`}},
		{name: "unsatisfied bare is caret", toml: av(`"0.7"`), wantErr: []string{`requirement "0.7" is not satisfied`}},
		{name: "invalid", toml: av(`"abc"`), wantErr: []string{`[package] astrid-version: invalid requirement "abc"`}},
		{name: "empty", toml: av(`""`), wantErr: []string{`invalid requirement "": empty requirement`}},
		{name: "not a string", toml: av(`1`), wantErr: []string{"[package] astrid-version: want a string, got integer"}},
	})
}

func TestParseComponents(t *testing.T) {
	pkg := "[package]\nname = \"x\"\nversion = \"1.0.0\"\n"
	comp := func(body string) string { return pkg + "\n[[component]]\n" + body + "\n" }
	const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	runParseCases(t, []parseCase{
		{name: "file", toml: comp("id = \"main\"\nfile = \"bin/x.wasm\""), check: func(t *testing.T, m *Manifest) {
			if want := []Component{{ID: "main", File: "bin/x.wasm"}}; !reflect.DeepEqual(m.Components, want) {
				t.Errorf("Components = %+v", m.Components)
			}
		}},
		{name: "entrypoint alias", toml: comp("id = \"main\"\nentrypoint = \"x.wasm\""), check: func(t *testing.T, m *Manifest) {
			if m.Components[0].File != "x.wasm" {
				t.Errorf("File = %q", m.Components[0].File)
			}
		}},
		{name: "file and entrypoint", toml: comp("id = \"main\"\nfile = \"a.wasm\"\nentrypoint = \"b.wasm\""),
			wantErr: []string{"[[component]] #1 entrypoint: both file and its alias entrypoint are set"}},
		{name: "file missing", toml: comp("id = \"main\""), wantErr: []string{"[[component]] #1 file: missing"}},
		{name: "file empty", toml: comp("id = \"main\"\nfile = \"\""), wantErr: []string{"[[component]] #1 file: empty path"}},
		{name: "file not a string", toml: comp("id = \"main\"\nfile = 1"), wantErr: []string{"[[component]] #1 file: want a string, got integer"}},
		{name: "id missing", toml: comp("file = \"x.wasm\""), wantErr: []string{"[[component]] #1 id: missing"}},
		{name: "id empty", toml: comp("id = \"\"\nfile = \"x.wasm\""), wantErr: []string{"[[component]] #1 id: empty"}},
		{name: "absolute", toml: comp("id = \"main\"\nfile = \"/abs/x.wasm\""), wantErr: []string{`[[component]] #1 file: "/abs/x.wasm" is an absolute path`}},
		{name: "dotdot", toml: comp("id = \"main\"\nfile = \"../x.wasm\""), wantErr: []string{`[[component]] #1 file: "../x.wasm" escapes the capsule directory`}},
		{name: "dotdot inside", toml: comp("id = \"main\"\nfile = \"a/../../x.wasm\""), wantErr: []string{`"a/../../x.wasm" escapes the capsule directory`}},
		{name: "dotdot that stays inside", toml: comp("id = \"main\"\nfile = \"a/../x.wasm\"")},
		{name: "dot slash", toml: comp("id = \"main\"\nfile = \"./x.wasm\"")},
		{name: "hash ok", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nhash = \"sha256:" + hex64 + "\""), check: func(t *testing.T, m *Manifest) {
			if m.Components[0].Hash != "sha256:"+hex64 {
				t.Errorf("Hash = %q", m.Components[0].Hash)
			}
		}},
		{name: "hash uppercase hex", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nhash = \"sha256:" + strings.ToUpper(hex64) + "\"")},
		{name: "hash short", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nhash = \"sha256:" + hex64[1:] + "\""),
			wantErr: []string{`[[component]] #1 hash: "sha256:` + hex64[1:] + `": want "sha256:" followed by 64 hex digits`}},
		{name: "hash long", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nhash = \"sha256:" + hex64 + "0\""), wantErr: []string{"[[component]] #1 hash"}},
		{name: "hash other algorithm", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nhash = \"blake3:" + hex64 + "\""), wantErr: []string{"[[component]] #1 hash"}},
		{name: "hash not hex", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nhash = \"sha256:" + strings.Repeat("z", 64) + "\""), wantErr: []string{"[[component]] #1 hash"}},
		{name: "hash bare hex", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nhash = \"" + hex64 + "\""), wantErr: []string{"[[component]] #1 hash"}},
		{name: "none", toml: pkg, wantErr: []string{"[[component]]: no [[component]] declared: this runtime runs WebAssembly components only, " +
			"so a capsule without one (e.g. an MCP-only capsule) has nothing to run here"}},
		{name: "empty array", toml: "component = []\n" + pkg, wantErr: []string{"[[component]]: no [[component]] declared"}},
		{name: "plain table", toml: pkg + "[component]\nid = \"main\"\nfile = \"x.wasm\"\n", wantErr: []string{"[[component]]: want an array of tables ([[component]]), got table"}},
		{name: "inline array of tables", toml: "component = [{ id = \"main\", file = \"x.wasm\" }]\n" + pkg},
		{name: "array of strings", toml: "component = [\"x.wasm\"]\n" + pkg, wantErr: []string{"[[component]] #1: want a table, got string"}},
		{name: "type and link accepted", toml: comp("id = \"main\"\nfile = \"x.wasm\"\ntype = \"executable\"\nlink = [\"a\"]")},
		{name: "unknown component key", toml: comp("id = \"main\"\nfile = \"x.wasm\"\nsize = 3"), wantWarn: []string{"[[component]] #1 size: unknown key ignored"}},
		{name: "two components", toml: comp("id = \"main\"\nfile = \"x.wasm\"") + "[[component]]\nid = \"lib\"\nfile = \"../lib.wasm\"\n",
			wantErr: []string{`[[component]] #2 file: "../lib.wasm" escapes`}},
		{name: "second component warns", toml: comp("id = \"main\"\nfile = \"x.wasm\"") + "[[component]]\nid = \"lib\"\nfile = \"lib.wasm\"\ncapabilities = { net = [\"a\"] }\n",
			wantWarn: []string{"[[component]] #2 capabilities: ignored: only the first component is used", `[[component]]: 2 components declared; only the first (id "main") is used`},
			check: func(t *testing.T, m *Manifest) {
				if len(m.Components) != 2 || len(m.Capabilities.Net) != 0 {
					t.Errorf("Components = %+v, Net = %v", m.Components, m.Capabilities.Net)
				}
			}},
		{name: "component capabilities merged", toml: comp(`id = "main"
file = "x.wasm"
capabilities = { net = ["b.example"], fs_read = ["cwd://data"], uplink = true, kv = ["k"], bogus = 1 }`) + "\n[capabilities]\nnet = [\"a.example\"]\n",
			wantWarn: []string{
				"[[component]] #1 capabilities bogus: unknown key ignored",
				"[[component]] #1 capabilities kv: ignored: only net, fs_read, fs_write, host_process, net_bind are merged",
				"[[component]] #1 capabilities uplink: ignored",
				"[capabilities] net: capability net is not supported",
				"[capabilities] fs_read: capability fs_read is not supported",
			},
			check: func(t *testing.T, m *Manifest) {
				c := m.Capabilities
				if c.Uplink || len(c.KV) != 0 || !slices.Equal(c.FSRead, []string{"cwd://data"}) || len(c.Net) != 2 {
					t.Errorf("Capabilities = %+v", c)
				}
			}},
	})
}

func TestParsePublish(t *testing.T) {
	pub := func(body string) string { return head + "\n[publish]\n" + body + "\n" }
	runParseCases(t, []parseCase{
		{name: "absent table grants nothing", toml: head, check: func(t *testing.T, m *Manifest) {
			if len(m.PublishACL()) != 0 || m.Publish == nil {
				t.Errorf("PublishACL = %v", m.PublishACL())
			}
		}},
		{name: "short and long forms", toml: pub(`"b.out" = "opaque"
"a.events.*" = { wit = "x:y/z", tag = "v1", fanout = true, extra = { deep = 1 } }
"c.*.d" = {}
"*" = "opaque"`), check: func(t *testing.T, m *Manifest) {
			if got, want := m.PublishACL(), []string{"*", "a.events.*", "b.out", "c.*.d"}; !slices.Equal(got, want) {
				t.Errorf("PublishACL = %v, want %v", got, want)
			}
			want := map[string]PublishEntry{
				"b.out":      {Wit: "opaque"},
				"a.events.*": {Wit: "x:y/z", Meta: map[string]any{"tag": "v1", "fanout": true, "extra": map[string]any{"deep": int64(1)}}},
				"c.*.d":      {},
				"*":          {Wit: "opaque"},
			}
			if !reflect.DeepEqual(m.Publish, want) {
				t.Errorf("Publish = %#v", m.Publish)
			}
		}},
		{name: "each selector alone", toml: pub(`"a" = { version = "1.0.0" }
"b" = { tag = "t" }
"c" = { rev = "abc" }
"d" = { branch = "main" }
"e" = { path = "wit/" }`)},
		{name: "two selectors", toml: pub(`"a.b" = { rev = "abc", branch = "main" }`), wantErr: []string{`[publish] "a.b": at most one of version, tag, rev, branch, path may be set (got rev, branch)`}},
		{name: "selector not a string", toml: pub(`"a.b" = { version = 1 }`), wantErr: []string{`[publish] "a.b" version: want a string, got integer`}},
		{name: "wit not a string", toml: pub(`"a.b" = { wit = true }`), wantErr: []string{`[publish] "a.b" wit: want a string, got boolean`}},
		{name: "value integer", toml: pub(`"a.b" = 1`), wantErr: []string{`[publish] "a.b": want a string (schema reference) or a table, got integer`}},
		{name: "value array", toml: pub(`"a.b" = ["x"]`), wantErr: []string{`got array`}},
		{name: "empty segment", toml: pub(`"a..b" = "opaque"`), wantErr: []string{`[publish] "a..b": empty topic segment`}},
		{name: "leading dot", toml: pub(`".a" = "opaque"`), wantErr: []string{`[publish] ".a": empty topic segment`}},
		{name: "trailing dot", toml: pub(`"a." = "opaque"`), wantErr: []string{`[publish] "a.": empty topic segment`}},
		{name: "lone dot", toml: pub(`"." = "opaque"`), wantErr: []string{`[publish] ".": empty topic segment`}},
		{name: "empty key", toml: pub(`"" = "opaque"`), wantErr: []string{`[publish] "": empty topic`}},
		{name: "20 segments ok", toml: pub(`"` + strings.Repeat("a.", 19) + `a" = "opaque"`)},
		{name: "21 segments", toml: pub(`"` + strings.Repeat("a.", 20) + `a" = "opaque"`), wantErr: []string{"too many topic segments (at most 20)"}},
		{name: "256 bytes ok", toml: pub(`"` + strings.Repeat("a", 256) + `" = "opaque"`)},
		{name: "257 bytes", toml: pub(`"` + strings.Repeat("a", 257) + `" = "opaque"`), wantErr: []string{"topic too long (at most 256 bytes)"}},
		{name: "all key errors collected", toml: pub(`"a..b" = "x"
".c" = 1`), wantErr: []string{`[publish] ".c": empty topic segment`, `[publish] ".c": want a string`, `[publish] "a..b": empty topic segment`}},
		{name: "not a table", toml: "publish = \"a.b\"\n" + head, wantErr: []string{"[publish]: want a table, got string"}},
	})
}

func TestParseSubscribe(t *testing.T) {
	sub := func(body string) string { return head + "\n[subscribe]\n" + body + "\n" }
	handlers := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "\"t.%d\" = { handler = \"h\" }\n", i)
		}
		return sub(b.String())
	}
	runParseCases(t, []parseCase{
		{name: "forms and interceptors", toml: sub(`"z.in" = "opaque"
"b.*" = { handler = "on-b", priority = 5 }
"a.*" = { handler = "on-a", priority = 5, wit = "opaque", fanout = false }
"c" = { handler = "on-c" }
"d" = { wit = "x:y/z" }
"zero" = { handler = "first", priority = 0 }
"max" = { handler = "last", priority = 4294967295 }`), check: func(t *testing.T, m *Manifest) {
			if got, want := m.SubscribeACL(), []string{"a.*", "b.*", "c", "d", "max", "z.in", "zero"}; !slices.Equal(got, want) {
				t.Errorf("SubscribeACL = %v", got)
			}
			want := []Interceptor{
				{Topic: "zero", Action: "first", Priority: 0},
				{Topic: "a.*", Action: "on-a", Priority: 5},
				{Topic: "b.*", Action: "on-b", Priority: 5},
				{Topic: "c", Action: "on-c", Priority: DefaultPriority},
				{Topic: "max", Action: "last", Priority: 4294967295},
			}
			if got := m.Interceptors(); !reflect.DeepEqual(got, want) {
				t.Errorf("Interceptors = %+v", got)
			}
			if e := m.Subscribe["a.*"]; e.Wit != "opaque" || !reflect.DeepEqual(e.Meta, map[string]any{"fanout": false}) {
				t.Errorf("a.* = %+v", e)
			}
			if e := m.Subscribe["z.in"]; !reflect.DeepEqual(e, SubscribeEntry{Wit: "opaque", Priority: DefaultPriority}) {
				t.Errorf("z.in = %+v", e)
			}
			if e := m.Subscribe["d"]; e.Handler != "" || e.Wit != "x:y/z" {
				t.Errorf("d = %+v", e)
			}
		}},
		{name: "no interceptors", toml: sub(`"a" = "opaque"`), check: func(t *testing.T, m *Manifest) {
			if got := m.Interceptors(); len(got) != 0 {
				t.Errorf("Interceptors = %v", got)
			}
		}},
		{name: "priority without handler", toml: sub(`"a.b" = { priority = 5 }`), wantErr: []string{`[subscribe] "a.b" priority: priority without handler`}},
		{name: "priority negative", toml: sub(`"a.b" = { handler = "h", priority = -1 }`), wantErr: []string{`[subscribe] "a.b" priority: -1 is out of range: want 0..4294967295`}},
		{name: "priority 2^32", toml: sub(`"a.b" = { handler = "h", priority = 4294967296 }`), wantErr: []string{`4294967296 is out of range`}},
		{name: "priority float", toml: sub(`"a.b" = { handler = "h", priority = 1.5 }`), wantErr: []string{`[subscribe] "a.b" priority: want an integer, got float`}},
		{name: "priority string", toml: sub(`"a.b" = { handler = "h", priority = "1" }`), wantErr: []string{`want an integer, got string`}},
		{name: "handler empty", toml: sub(`"a.b" = { handler = "" }`), wantErr: []string{`[subscribe] "a.b" handler: empty action name`}},
		{name: "handler not a string", toml: sub(`"a.b" = { handler = 1 }`), wantErr: []string{`[subscribe] "a.b" handler: want a string, got integer`}},
		{name: "empty segment", toml: sub(`"a..b" = "opaque"`), wantErr: []string{`[subscribe] "a..b": empty topic segment`}},
		{name: "empty segment with handler", toml: sub(`"a.*." = { handler = "h" }`), wantErr: []string{`[subscribe] "a.*.": empty topic segment`}},
		{name: "empty key", toml: sub(`"" = "opaque"`), wantErr: []string{`[subscribe] "": empty topic`}},
		{name: "middle wildcard key ok", toml: sub(`"a.*.c" = "opaque"`)},
		{name: "value boolean", toml: sub(`"a" = true`), wantErr: []string{`[subscribe] "a": want a string (schema reference) or a table, got boolean`}},
		{name: "two selectors", toml: sub(`"a" = { handler = "h", version = "1.0.0", path = "p" }`), wantErr: []string{`[subscribe] "a": at most one of`}},
		{name: "64 handlers", toml: handlers(64), check: func(t *testing.T, m *Manifest) {
			if len(m.Interceptors()) != 64 {
				t.Errorf("%d interceptors", len(m.Interceptors()))
			}
		}},
		{name: "65 handlers", toml: handlers(65), wantErr: []string{"[subscribe]: 65 entries with a handler: at most 64 interceptor bindings are allowed"}},
	})
}

func TestParseCapabilities(t *testing.T) {
	caps := func(body string) string { return head + "\n[capabilities]\n" + body + "\n" }
	var cases []parseCase
	for _, f := range []struct{ key, value string }{
		{"net", `["example.com"]`}, {"kv", `["k"]`}, {"fs_read", `["*"]`}, {"fs_write", `["cwd://out"]`},
		{"host_process", `["git status"]`}, {"allow_persistent", "true"}, {"net_bind", `["cli"]`},
		{"net_connect", `["h:1"]`}, {"identity", `["resolve"]`}, {"allow_prompt_injection", "true"},
	} {
		warning := "[capabilities] " + f.key + ": capability " + f.key + " is not supported by this runtime and grants nothing"
		if f.key == "kv" {
			warning = "[capabilities] kv: capability kv is not needed and grants nothing: every capsule has its own astrid:kv namespace"
		}
		cases = append(cases,
			parseCase{name: f.key + " set warns", toml: caps(f.key + " = " + f.value),
				wantWarn: []string{warning},
				check: func(t *testing.T, m *Manifest) {
					if got := m.Capabilities.Held(); !slices.Equal(got, []string{f.key}) {
						t.Errorf("Held = %v", got)
					}
				}},
			parseCase{name: f.key + " wrong type", toml: caps(f.key + " = 1"), wantErr: []string{"[capabilities] " + f.key + ": want a"}},
		)
	}
	cases = append(cases,
		parseCase{name: "unset or empty is silent", toml: caps(`uplink = false
net = []
kv = []
allow_persistent = false
allow_prompt_injection = false`), check: func(t *testing.T, m *Manifest) {
			if len(m.Capabilities.Held()) != 0 {
				t.Errorf("Held = %v", m.Capabilities.Held())
			}
		}},
		parseCase{name: "uplink is supported", toml: caps("uplink = true"), check: func(t *testing.T, m *Manifest) {
			if !m.Capabilities.Uplink || !slices.Equal(m.Capabilities.Held(), []string{"uplink"}) {
				t.Errorf("Capabilities = %+v", m.Capabilities)
			}
		}},
		parseCase{name: "all fields", toml: caps(`uplink = true
net = ["a", "b"]
kv = ["k"]
fs_read = ["r"]
fs_write = ["w"]
host_process = ["p"]
allow_persistent = true
net_bind = ["nb"]
net_connect = ["nc"]
identity = ["admin"]
allow_prompt_injection = true`), wantWarn: []string{"net", "kv", "fs_read", "fs_write", "host_process", "allow_persistent", "net_bind", "net_connect", "identity", "allow_prompt_injection"},
			check: func(t *testing.T, m *Manifest) {
				want := Capabilities{Uplink: true, Net: []string{"a", "b"}, KV: []string{"k"}, FSRead: []string{"r"},
					FSWrite: []string{"w"}, HostProcess: []string{"p"}, AllowPersistent: true, NetBind: []string{"nb"},
					NetConnect: []string{"nc"}, Identity: []string{"admin"}, AllowPromptInjection: true}
				if !reflect.DeepEqual(m.Capabilities, want) {
					t.Errorf("Capabilities = %+v", m.Capabilities)
				}
				held := []string{"allow_persistent", "allow_prompt_injection", "fs_read", "fs_write", "host_process",
					"identity", "kv", "net", "net_bind", "net_connect", "uplink"}
				if !slices.Equal(m.Capabilities.Held(), held) {
					t.Errorf("Held = %v", m.Capabilities.Held())
				}
			}},
		parseCase{name: "uplink string", toml: caps(`uplink = "yes"`), wantErr: []string{"[capabilities] uplink: want a boolean, got string"}},
		parseCase{name: "list of integers", toml: caps(`net = ["a", 2]`), wantErr: []string{"[capabilities] net: element 1: want a string, got integer"}},
		parseCase{name: "not a table", toml: "capabilities = 1\n" + head, wantErr: []string{"[capabilities]: want a table, got integer"}},
	)
	runParseCases(t, cases)
}

func TestParseEnv(t *testing.T) {
	env := func(body string) string { return head + "\n[env]\n" + body + "\n" }
	defaults := func(want map[string]string) func(*testing.T, *Manifest) {
		return func(t *testing.T, m *Manifest) {
			if got := m.Config(); !reflect.DeepEqual(got, want) {
				t.Errorf("Config = %#v, want %#v", got, want)
			}
		}
	}
	runParseCases(t, []parseCase{
		{name: "no env", toml: head, check: defaults(map[string]string{})},
		{name: "rendered defaults", toml: env(`s = { default = "plain \"q\" <b>" }
i = { default = 42 }
neg = { default = -7 }
f = { default = 1.5 }
b = { default = false }
a = { type = "array", default = ["x", 1, true] }
t = { default = { k = "v", n = [1, 2] } }
empty = { default = "" }
none = { type = "secret" }`), check: defaults(map[string]string{
			"s": `plain "q" <b>`, "i": "42", "neg": "-7", "f": "1.5", "b": "false", "a": `["x",1,true]`,
			"t": `{"k":"v","n":[1,2]}`, "empty": "",
		})},
		{name: "entry fields", toml: env(`mode = { type = "select", description = "d", request = "r", placeholder = "p", enum_values = ["a", "b"], default = "a" }`),
			check: func(t *testing.T, m *Manifest) {
				want := EnvEntry{Type: "select", Description: "d", Request: "r", Placeholder: "p", EnumValues: []string{"a", "b"}, Default: "a", HasDefault: true}
				if got := m.Env["mode"]; !reflect.DeepEqual(got, want) {
					t.Errorf("mode = %+v", got)
				}
			}},
		{name: "type defaults to text", toml: env(`k = {}`), check: func(t *testing.T, m *Manifest) {
			if e := m.Env["k"]; e.Type != "text" || e.HasDefault {
				t.Errorf("k = %+v", e)
			}
		}},
		{name: "every type", toml: env(`a = { type = "text" }
b = { type = "secret" }
c = { type = "select" }
d = { type = "array" }`)},
		{name: "dotted table form", toml: env("[env.k]\ntype = \"text\"\ndefault = \"v\""), check: defaults(map[string]string{"k": "v"})},
		{name: "undocumented types are text fields", toml: env(`k = { type = "string", default = "v" }
n = { type = "integer", default = 3 }
x = { type = "" }`), wantWarn: []string{
			`[env] k type: "string" is not a type Astrid documents (text, secret, select, array): it is a text field, as in Astrid`,
			`[env] n type: "integer" is not a type Astrid documents`,
			`[env] x type: "" is not a type Astrid documents`,
		}, check: func(t *testing.T, m *Manifest) {
			if m.Env["k"].Type != "string" || m.Env["n"].Type != "integer" {
				t.Errorf("Env = %+v", m.Env)
			}
			if got := m.Config(); !reflect.DeepEqual(got, map[string]string{"k": "v", "n": "3"}) {
				t.Errorf("Config = %v", got)
			}
		}},
		{name: "type not a string", toml: env(`k = { type = 1 }`), wantErr: []string{`[env] k type: want a string, got integer`}},
		{name: "not a table", toml: env(`k = "v"`), wantErr: []string{`[env] k: want a table`}},
		{name: "datetime default", toml: env(`k = { default = 1979-05-27 }`), wantErr: []string{`[env] k default: datetime values are not supported`}},
		{name: "nested datetime default", toml: env(`k = { default = [1979-05-27T07:32:00Z] }`), wantErr: []string{`[env] k default: datetime values are not supported`}},
		{name: "infinite default", toml: env(`k = { default = inf }`), wantErr: []string{`[env] k default: cannot render float as JSON`}},
		{name: "enum_values not strings", toml: env(`k = { enum_values = [1] }`), wantErr: []string{`[env] k enum_values: element 0: want a string, got integer`}},
		{name: "description not a string", toml: env(`k = { description = 1 }`), wantErr: []string{`[env] k description: want a string`}},
		{name: "reserved key ignored", toml: env(`ASTRID_SOCKET_PATH = { default = "/x" }
ok = { default = "y" }`), wantWarn: []string{`[env] ASTRID_SOCKET_PATH: reserved key: the runtime sets it, the entry is ignored`},
			check: defaults(map[string]string{"ok": "y"})},
		{name: "reserved key of any type ignored", toml: env(`ASTRID_SOCKET_PATH = "x"`), wantWarn: []string{`[env] ASTRID_SOCKET_PATH: reserved key`},
			check: defaults(map[string]string{})},
		{name: "unknown entry key", toml: env(`k = { scope = "agent" }`), wantWarn: []string{`[env] k scope: unknown key ignored`}},
		{name: "quoted key in messages", toml: env(`"a b" = { type = 1 }`), wantErr: []string{`[env] "a b" type: want a string`}},
	})
}

func TestParseImportsExports(t *testing.T) {
	with := func(body string) string { return head + "\n" + body + "\n" }
	runParseCases(t, []parseCase{
		{name: "flat nested and table forms", toml: with(`[imports]
"astrid:session" = "^1.0"
"astrid:llm" = { version = ">=2.1, <3", optional = true }

[imports.demo]
store = "1.4"
clock = { version = "~2.0" }

[exports]
"demo:events" = "1.0.0"

[exports.demo]
clock = { version = "2.0.1-beta" }`), check: func(t *testing.T, m *Manifest) {
			var got []string
			for _, i := range m.Imports {
				got = append(got, fmt.Sprintf("%s opt=%v c=%v", i, i.Optional, i.Constraint != nil))
			}
			want := []string{"astrid:llm >=2.1, <3 opt=true c=true", "astrid:session ^1.0 opt=false c=true",
				"demo:clock ~2.0 opt=false c=true", "demo:store 1.4 opt=false c=true"}
			if !slices.Equal(got, want) {
				t.Errorf("Imports = %q", got)
			}
			got = nil
			for _, e := range m.Exports {
				got = append(got, fmt.Sprintf("%s %v", e, e.SemVer))
			}
			if want := []string{"demo:clock 2.0.1-beta 2.0.1-beta", "demo:events 1.0.0 1.0.0"}; !slices.Equal(got, want) {
				t.Errorf("Exports = %q", got)
			}
		}},
		{name: "hyphen in names", toml: with("[imports]\n\"my-ns:my-iface2\" = \"*\"")},
		{name: "namespace uppercase", toml: with("[imports]\n\"Astrid:session\" = \"^1\""), wantErr: []string{`[imports] "Astrid:session": invalid namespace "Astrid": want ^[a-z][a-z0-9-]*$`}},
		{name: "namespace empty", toml: with("[imports]\n\":session\" = \"^1\""), wantErr: []string{`invalid namespace ""`}},
		{name: "name empty", toml: with("[imports]\n\"astrid:\" = \"^1\""), wantErr: []string{`invalid interface name ""`}},
		{name: "name digit first", toml: with("[exports.astrid]\n1x = \"1.0.0\""), wantErr: []string{`[exports.astrid] 1x: invalid interface name "1x"`}},
		{name: "name with colon", toml: with("[imports]\n\"a:b:c\" = \"^1\""), wantErr: []string{`invalid interface name "b:c"`}},
		{name: "nested namespace invalid", toml: with("[imports.Bad]\nx = \"^1\""), wantErr: []string{`[imports.Bad] x: invalid namespace "Bad"`}},
		{name: "empty nested namespace invalid", toml: with("[imports.Bad]"), wantErr: []string{`[imports.Bad]: invalid namespace "Bad"`}},
		{name: "empty nested namespace ok", toml: with("[imports.astrid]")},
		{name: "flat key without colon", toml: with("[exports]\nclock = \"1.0.0\""), wantErr: []string{`[exports] clock: want "namespace:interface" = ... or a [exports.<namespace>] table`}},
		{name: "requirement invalid", toml: with("[imports]\n\"a:b\" = \"one\""), wantErr: []string{`[imports] "a:b": invalid requirement "one"`}},
		{name: "requirement empty", toml: with("[imports]\n\"a:b\" = \"\""), wantErr: []string{`invalid requirement "": empty requirement`}},
		{name: "requirement in table invalid", toml: with("[imports]\n\"a:b\" = { version = \"one\" }"), wantErr: []string{`[imports] "a:b" version: invalid requirement "one"`}},
		{name: "import table without version", toml: with("[imports]\n\"a:b\" = { optional = true }"), wantErr: []string{`[imports] "a:b" version: missing`}},
		{name: "optional not a bool", toml: with("[imports]\n\"a:b\" = { version = \"1\", optional = \"yes\" }"), wantErr: []string{`[imports] "a:b" optional: want a boolean`}},
		{name: "import value integer", toml: with("[imports]\n\"a:b\" = 1"), wantErr: []string{`[imports] "a:b": want a semver requirement string`}},
		{name: "import unknown table key", toml: with("[imports]\n\"a:b\" = { version = \"1\", features = [] }"), wantWarn: []string{`[imports] "a:b" features: unknown key ignored`}},
		{name: "duplicate", toml: with("[imports]\n\"a:b\" = \"1\"\n[imports.a]\nb = \"2\""), wantErr: []string{`a:b is declared twice`}},
		{name: "export version is a requirement", toml: with("[exports]\n\"a:b\" = \"^1.0\""), wantErr: []string{`[exports] "a:b": "^1.0" is not a semantic version`}},
		{name: "export version short", toml: with("[exports]\n\"a:b\" = { version = \"1.0\" }"), wantErr: []string{`[exports] "a:b" version: "1.0" is not a semantic version`}},
		{name: "export table without version", toml: with("[exports]\n\"a:b\" = {}"), wantErr: []string{`[exports] "a:b" version: missing`}},
		{name: "export value boolean", toml: with("[exports]\n\"a:b\" = true"), wantErr: []string{`[exports] "a:b": want a version string`}},
		{name: "export unknown table key", toml: with("[exports]\n\"a:b\" = { version = \"1.0.0\", wit = \"x\" }"), wantWarn: []string{`[exports] "a:b" wit: unknown key ignored`}},
		{name: "uplink with imports", toml: with("[capabilities]\nuplink = true\n[imports]\n\"a:b\" = \"1\""), wantErr: []string{"[imports]: an uplink capsule ([capabilities] uplink = true) may not import interfaces"}},
		{name: "uplink with optional import", toml: with("[capabilities]\nuplink = true\n[imports.a]\nb = { version = \"1\", optional = true }"), wantErr: []string{"[imports]: an uplink capsule"}},
		{name: "uplink with empty imports", toml: with("[capabilities]\nuplink = true\n[imports]")},
		{name: "uplink with exports", toml: with("[capabilities]\nuplink = true\n[exports]\n\"a:b\" = \"1.0.0\"")},
		{name: "no uplink with imports", toml: with("[capabilities]\nuplink = false\n[imports]\n\"a:b\" = \"1\"")},
	})
}

func TestParseLimits(t *testing.T) {
	lim := func(body string) string { return head + "\n[limits]\n" + body + "\n" }
	runParseCases(t, []parseCase{
		{name: "absent means defaults", toml: head, check: func(t *testing.T, m *Manifest) {
			if m.Limits != (Limits{}) {
				t.Errorf("Limits = %+v", m.Limits)
			}
		}},
		{name: "lower bounds", toml: lim("memory_pages = 1\nipc_throughput_bytes_per_sec = 1\nmax_subscriptions = 1"), check: func(t *testing.T, m *Manifest) {
			if m.Limits != (Limits{MemoryPages: 1, IPCThroughputBytesPerSec: 1, MaxSubscriptions: 1}) {
				t.Errorf("Limits = %+v", m.Limits)
			}
		}},
		{name: "upper bounds", toml: lim("memory_pages = 16384\nipc_throughput_bytes_per_sec = 9223372036854775807\nmax_subscriptions = 1024"), check: func(t *testing.T, m *Manifest) {
			if m.Limits != (Limits{MemoryPages: 16384, IPCThroughputBytesPerSec: 1<<63 - 1, MaxSubscriptions: 1024}) {
				t.Errorf("Limits = %+v", m.Limits)
			}
		}},
		{name: "memory_pages 0", toml: lim("memory_pages = 0"), wantErr: []string{"[limits] memory_pages: 0 is out of range: want 1..16384"}},
		{name: "memory_pages 16385", toml: lim("memory_pages = 16385"), wantErr: []string{"[limits] memory_pages: 16385 is out of range"}},
		{name: "memory_pages string", toml: lim("memory_pages = \"1\""), wantErr: []string{"[limits] memory_pages: want an integer, got string"}},
		{name: "throughput 0", toml: lim("ipc_throughput_bytes_per_sec = 0"), wantErr: []string{"[limits] ipc_throughput_bytes_per_sec: 0 is out of range: want at least 1"}},
		{name: "throughput negative", toml: lim("ipc_throughput_bytes_per_sec = -5"), wantErr: []string{"-5 is out of range"}},
		{name: "kv_bytes", toml: lim("kv_bytes = 1024"), check: func(t *testing.T, m *Manifest) {
			if m.Limits != (Limits{KVBytes: 1024}) {
				t.Errorf("Limits = %+v", m.Limits)
			}
		}},
		{name: "kv_bytes 0", toml: lim("kv_bytes = 0"), wantErr: []string{"[limits] kv_bytes: 0 is out of range: want at least 1"}},
		{name: "message rate", toml: lim("ipc_throughput_messages_per_sec = 500"), check: func(t *testing.T, m *Manifest) {
			if m.Limits != (Limits{IPCThroughputMessagesPerSec: 500}) {
				t.Errorf("Limits = %+v", m.Limits)
			}
		}},
		{name: "message rate 0", toml: lim("ipc_throughput_messages_per_sec = 0"), wantErr: []string{"[limits] ipc_throughput_messages_per_sec: 0 is out of range: want at least 1"}},
		{name: "max_subscriptions 0", toml: lim("max_subscriptions = 0"), wantErr: []string{"[limits] max_subscriptions: 0 is out of range: want 1..1024"}},
		{name: "max_subscriptions 1025", toml: lim("max_subscriptions = 1025"), wantErr: []string{"[limits] max_subscriptions: 1025 is out of range"}},
		{name: "unknown key", toml: lim("cpu = 1"), wantWarn: []string{"[limits] cpu: unknown key ignored"}},
		{name: "all three wrong", toml: lim("memory_pages = 0\nipc_throughput_bytes_per_sec = 0\nmax_subscriptions = 0"),
			wantErr: []string{"memory_pages", "ipc_throughput_bytes_per_sec", "max_subscriptions"}},
	})
}

func TestParseSupervision(t *testing.T) {
	sup := func(body string) string { return head + "\n[supervision]\n" + body + "\n" }
	is := func(want Supervision) func(*testing.T, *Manifest) {
		return func(t *testing.T, m *Manifest) {
			if m.Supervision != want {
				t.Errorf("Supervision = %+v, want %+v", m.Supervision, want)
			}
		}
	}
	def := DefaultSupervision()
	with := func(f func(*Supervision)) Supervision { s := def; f(&s); return s }
	runParseCases(t, []parseCase{
		{name: "defaults", toml: head, check: is(Supervision{Restart: "permanent", MaxRestarts: 5, Within: time.Minute,
			BackoffInitial: 100 * time.Millisecond, BackoffMax: 30 * time.Second, OnFailure: "stay-failed",
			WatchdogWindow: 5 * time.Second, WatchdogWindows: 3, ReadyTimeout: 2 * time.Second, Placement: "node"})},
		{name: "empty table is defaults", toml: sup(""), check: is(def)},
		{name: "everything", toml: sup(`restart = "temporary"
max_restarts = 0
within = "1h"
backoff_initial = "0s"
backoff_max = "0s"
on_failure = "escalate"
group = "g-1"
watchdog_window = "250ms"
watchdog_windows = 1
ready_timeout = "45s"
placement = "cluster"`), check: is(Supervision{Restart: "temporary", MaxRestarts: 0, Within: time.Hour, OnFailure: "escalate",
			Group: "g-1", WatchdogWindow: 250 * time.Millisecond, WatchdogWindows: 1, ReadyTimeout: 45 * time.Second, Placement: "cluster"})},
		{name: "placement node", toml: sup(`placement = "node"`), check: is(def)},
		{name: "placement unknown", toml: sup(`placement = "everywhere"`), wantErr: []string{`[supervision] placement: "everywhere": want node or cluster`}},
		{name: "placement not a string", toml: sup(`placement = 1`), wantErr: []string{`[supervision] placement: want a string, got integer`}},
		{name: "transient", toml: sup(`restart = "transient"`), check: is(with(func(s *Supervision) { s.Restart = "transient" }))},
		{name: "backoff equal", toml: sup(`backoff_initial = "2s"
backoff_max = "2s"`), check: is(with(func(s *Supervision) { s.BackoffInitial, s.BackoffMax = 2*time.Second, 2*time.Second }))},
		{name: "restart unknown", toml: sup(`restart = "always"`), wantErr: []string{`[supervision] restart: "always": want permanent, transient or temporary`}},
		{name: "restart not a string", toml: sup(`restart = true`), wantErr: []string{`[supervision] restart: want a string, got boolean`}},
		{name: "max_restarts negative", toml: sup(`max_restarts = -1`), wantErr: []string{`[supervision] max_restarts: -1 is out of range`}},
		{name: "within zero", toml: sup(`within = "0s"`), wantErr: []string{`[supervision] within: "0s" must be positive`}},
		{name: "within unparsable", toml: sup(`within = "1 minute"`), wantErr: []string{`[supervision] within: "1 minute" is not a duration`}},
		{name: "within integer", toml: sup(`within = 60`), wantErr: []string{`[supervision] within: want a string, got integer`}},
		{name: "backoff_initial negative", toml: sup(`backoff_initial = "-1s"`), wantErr: []string{`[supervision] backoff_initial: "-1s" must not be negative`}},
		{name: "backoff_max below initial", toml: sup(`backoff_initial = "10s"
backoff_max = "1s"`), wantErr: []string{`[supervision] backoff_max: 1s is less than backoff_initial 10s`}},
		{name: "backoff_initial above default max", toml: sup(`backoff_initial = "31s"`), wantErr: []string{`[supervision] backoff_max: 30s is less than backoff_initial 31s`}},
		{name: "on_failure unknown", toml: sup(`on_failure = "restart"`), wantErr: []string{`[supervision] on_failure: "restart": want stay-failed or escalate`}},
		{name: "group invalid", toml: sup(`group = "G"`), wantErr: []string{`[supervision] group: invalid group name "G"`}},
		{name: "group empty", toml: sup(`group = ""`), wantErr: []string{`[supervision] group: invalid group name ""`}},
		{name: "watchdog_window zero", toml: sup(`watchdog_window = "0"`), wantErr: []string{`[supervision] watchdog_window: "0" must be positive`}},
		{name: "watchdog_windows zero", toml: sup(`watchdog_windows = 0`), wantErr: []string{`[supervision] watchdog_windows: 0 is out of range`}},
		{name: "ready_timeout negative", toml: sup(`ready_timeout = "-1ms"`), wantErr: []string{`[supervision] ready_timeout: "-1ms" must be positive`}},
		{name: "unknown key", toml: sup(`jitter = 0.1`), wantWarn: []string{`[supervision] jitter: unknown key ignored`}},
	})
}

func TestParseTopLevel(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "unknown tables and keys warn", toml: `top = 1
` + head + `
[[tool]]
name = "a"
[[tool]]
name = "b"

[[interceptor]]
event = "a.b"

[mcp_server]
id = "x"

[weird.nested.table]
k = 1
`, wantWarn: []string{`[mcp_server]: unknown table ignored`, `[[tool]]: unknown table ignored`,
			`top: unknown key ignored`, `[weird]: unknown table ignored`,
			`[[interceptor]] #1: legacy Astrid 0.3-0.5 key, ignored as by Astrid 0.8; it has no event and action strings and binds nothing`}},
		{name: "quoted unknown key", toml: "\"a b\" = 1\n" + head, wantWarn: []string{`"a b": unknown key ignored`}},
		{name: "case variant table is an error", toml: head + "\n[Limits]\nmemory_pages = 1\n", wantErr: []string{`Limits: unknown key (keys are case-sensitive: did you mean "limits"?)`}},
		{name: "case variant array table is an error", toml: head + "\n[[COMPONENT]]\nid = \"b\"\nfile = \"b.wasm\"\n", wantErr: []string{`COMPONENT: unknown key (keys are case-sensitive: did you mean "component"?)`}},
		{name: "syntax error", toml: "[package\n", wantErr: []string{"toml: line 1, column 9: expected ']' to close table name"}},
		{name: "key defined twice", toml: head + "\n[limits]\nmemory_pages = 1\nmemory_pages = 2\n", wantErr: []string{"toml: line 12, column 1: key memory_pages is already defined"}},
		{name: "table defined twice", toml: head + "\n[limits]\n[limits]\n", wantErr: []string{"toml: line 11, column 2: table limits already exists"}},
		{name: "duplicate key is a syntax error", toml: head + "\n[limits]\nmemory_pages = 1\nmemory_pages = 2\n", wantErr: []string{"toml:"}},
		{name: "many errors collected", toml: `[package]
name = "Bad!"
version = "x"

[subscribe]
"a..b" = { priority = 1 }

[limits]
memory_pages = 0

[supervision]
restart = "x"
`, wantErr: []string{`[package] name`, `[package] version`, `[[component]]: no [[component]]`, `[subscribe] "a..b": empty topic segment`,
			`[subscribe] "a..b" priority: priority without handler`, `[limits] memory_pages`, `[supervision] restart`}},
	})
}

func TestParsePaths(t *testing.T) {
	m, err := Parse([]byte(head), testPath)
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != testPath || m.Dir != "/caps/x" {
		t.Errorf("Path, Dir = %q, %q", m.Path, m.Dir)
	}
	m, err = Parse([]byte(head), "")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(m.Path) || filepath.Base(m.Path) != FileName {
		t.Errorf("Path = %q", m.Path)
	}
	m, err = Parse([]byte(head), "rel/Capsule.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(m.Dir) || !strings.HasSuffix(m.Dir, filepath.FromSlash("/rel")) {
		t.Errorf("Dir = %q", m.Dir)
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse([]byte(head+"\n[subscribe]\n\"a..b\" = \"opaque\"\n"), "/x/Capsule.toml")
	if got, want := err.Error(), `/x/Capsule.toml: [subscribe] "a..b": empty topic segment`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	var me *Error
	if !errorsAs(err, &me) || me.Key != `[subscribe] "a..b"` || me.Problem != "empty topic segment" {
		t.Errorf("Error = %+v", me)
	}
	if got := (&Error{Path: "/p", Problem: "x"}).Error(); got != "/p: x" {
		t.Errorf("keyless error = %q", got)
	}
}

// TestParseLegacyKeys: the legacy Astrid 0.3-0.5 keys are ignored as by Astrid 0.8, and each
// warning says exactly what the capsule is therefore denied and how to declare it in 0.8.
func TestParseReadyTimeoutBounded(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "at the limit", toml: head + "[supervision]\nready_timeout = \"1m\"\n", check: func(t *testing.T, m *Manifest) {
			if m.Supervision.ReadyTimeout != MaxReadyTimeout {
				t.Errorf("ReadyTimeout = %v", m.Supervision.ReadyTimeout)
			}
		}},
		{name: "over the limit", toml: head + "[supervision]\nready_timeout = \"8760h\"\n",
			wantErr: []string{"[supervision] ready_timeout: 8760h0m0s is longer than 1m0s: capsules importing from this one wait for its readiness"}},
	})
}

func TestParseLegacyKeys(t *testing.T) {
	const prefix = "legacy Astrid 0.3-0.5 key, ignored as by Astrid 0.8"
	runParseCases(t, []parseCase{
		{name: "ipc_publish denied topics", toml: head + `
[publish]
"a.*" = "opaque"
[capabilities]
ipc_publish = ["a.b", "a.b.c", "x.y", "z.*"]
`, wantWarn: []string{`[capabilities] ipc_publish: ` + prefix +
			`: the capsule will be denied publishing to "x.y", "z.*" (not allowed by [publish]); list them under [publish] to allow them`},
			check: func(t *testing.T, m *Manifest) {
				if got := m.PublishACL(); !slices.Equal(got, []string{"a.*"}) {
					t.Errorf("PublishACL = %v: the legacy key must grant nothing", got)
				}
			}},
		{name: "ipc_subscribe without [subscribe]", toml: head + "[capabilities]\nipc_subscribe = [\"events.*\"]\n",
			wantWarn: []string{`[capabilities] ipc_subscribe: ` + prefix +
				`: the capsule will be denied subscribing to "events.*" (not allowed by [subscribe]); list them under [subscribe] to allow them`},
			check: func(t *testing.T, m *Manifest) {
				if len(m.SubscribeACL()) != 0 {
					t.Errorf("SubscribeACL = %v", m.SubscribeACL())
				}
			}},
		{name: "covered by the 0.8 tables", toml: head + `
[publish]
"a.b" = "opaque"
[subscribe]
"c.*" = "opaque"
[capabilities]
ipc_publish = ["a.b"]
ipc_subscribe = ["c.d"]
`, wantWarn: []string{`[capabilities] ipc_publish: ` + prefix + `; [publish] already allows every topic it lists`,
			`[capabilities] ipc_subscribe: ` + prefix + `; [subscribe] already allows every topic it lists`}},
		{name: "empty list", toml: head + "[capabilities]\nipc_publish = []\n", wantWarn: []string{`[capabilities] ipc_publish: ` + prefix + `; it lists no topic`}},
		{name: "not a list is not an error", toml: head + "[capabilities]\nipc_publish = 3\n",
			wantWarn: []string{`[capabilities] ipc_publish: ` + prefix + `; it is not an array of strings and grants nothing`}},
		{name: "interceptors", toml: head + `
[subscribe]
"tool.done" = { handler = "on-done" }
[[interceptor]]
event = "tool.*.call"
action = "on-call"
priority = 5
[[interceptor]]
event = "tool.done"
action = "on-done"
[[interceptor]]
event = "tool.other"
action = "on-other"
`, wantWarn: []string{
			`[[interceptor]] #1: ` + prefix + `: action "on-call" will never be called for "tool.*.call"; declare [subscribe] "tool.*.call" = { handler = "on-call", priority = 5 }`,
			`[[interceptor]] #2: ` + prefix + `; [subscribe] "tool.done" already binds handler "on-done"`,
			`[[interceptor]] #3: ` + prefix + `: action "on-other" will never be called for "tool.other"; declare [subscribe] "tool.other" = { handler = "on-other", priority = 100 }`,
		}, check: func(t *testing.T, m *Manifest) {
			if got := m.Interceptors(); len(got) != 1 || got[0].Action != "on-done" {
				t.Errorf("Interceptors = %+v: the legacy table must bind nothing", got)
			}
		}},
		{name: "interceptor not a table array", toml: "interceptor = 1\n" + head,
			wantWarn: []string{`interceptor: ` + prefix + `; it is not an array of tables and binds nothing`}},
	})
}
