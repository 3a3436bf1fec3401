package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// corpusDir holds realistic manifests in Astrid's own layout (modelled on published Astrid
// capsules of 0.3 to 0.10), one capsule directory each.
const corpusDir = "../testdata/manifests/astrid"

// TestAstridCorpus loads every manifest of the corpus: each is accepted with exactly the
// listed warnings (and config), or refused with exactly the listed errors. Every directory
// must be listed.
func TestAstridCorpus(t *testing.T) {
	const legacy = "legacy Astrid 0.3-0.5 key, ignored as by Astrid 0.8"
	const stringType = `is not a type Astrid documents (text, secret, select, array): it is a text field, as in Astrid`
	cases := map[string]struct {
		refused  []string
		warnings []string
		config   map[string]string
	}{
		"llm-provider": {warnings: []string{
			"[capabilities] net: capability net is not supported by this runtime and grants nothing",
			`[capabilities] ipc_publish: ` + legacy + `: the capsule will be denied publishing to "llm.v1.stream.provider", ` +
				`"llm.v1.response.describe", "llm.v1.response.describe.*" (not allowed by [publish]); list them under [publish] to allow them`,
			`[env] model type: "string" ` + stringType,
			`[env] temperature type: "string" ` + stringType,
		}, config: map[string]string{"model": "large-1"}},
		"cli-uplink": {warnings: []string{"[[uplink]]: unknown table ignored"},
			config: map[string]string{"allowed_user_ids": ""}},
		"hook-bridge-legacy": {warnings: []string{
			`[capabilities] ipc_publish: ` + legacy + `: the capsule will be denied publishing to "hook.v1.result.*" (not allowed by [publish])`,
			`[[interceptor]] #1: ` + legacy + `: action "on_session_created" will never be called for "astrid.v1.lifecycle.session_created"; ` +
				`declare [subscribe] "astrid.v1.lifecycle.session_created" = { handler = "on_session_created", priority = 100 }`,
			`[[interceptor]] #2: ` + legacy + `: action "on_tool_call_started" will never be called for "astrid.v1.lifecycle.tool_call_started"; ` +
				`declare [subscribe] "astrid.v1.lifecycle.tool_call_started" = { handler = "on_tool_call_started", priority = 10 }`,
		}, config: map[string]string{}},
		"session-legacy": {warnings: []string{
			`[capabilities] ipc_publish: ` + legacy + `; [publish] already allows every topic it lists`,
			`[capabilities] ipc_subscribe: ` + legacy + `; [subscribe] already allows every topic it lists`,
			`[[interceptor]] #1: ` + legacy + `; [subscribe] "session.v1.append" already binds handler "handle_append"`,
			`[[interceptor]] #2: ` + legacy + `: action "handle_get_messages" will never be called for "session.v1.request.get_messages"`,
		}, config: map[string]string{}},
		"model-router": {warnings: []string{
			`[env] max_retries type: "integer" ` + stringType,
			`[env] region type: "string" ` + stringType,
		}, config: map[string]string{"provider": "openai", "fallback_model": "small-1", "region": "eu", "max_retries": "3",
			"blocked_models": `["legacy-1","legacy-2"]`}},
		"memory-store": {warnings: []string{
			"[[context_file]]: unknown table ignored", "[[skill]]: unknown table ignored", "[[tool]]: unknown table ignored",
		}, config: map[string]string{"retention_days": "30"}},
		"github-mcp-only": {refused: []string{"[[component]]: no [[component]] declared: this runtime runs WebAssembly components only, " +
			"so a capsule without one (e.g. an MCP-only capsule) has nothing to run here"}},
		"telegram-0.10": {refused: []string{`[package] astrid-version: requirement ">=0.10.0" is not satisfied by this runtime (compatible with Astrid 0.8.0)`}},
	}
	dirs, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		name := d.Name()
		seen[name] = true
		tc, ok := cases[name]
		if !ok {
			t.Errorf("%s/%s has no expectation", corpusDir, name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			path, _ := filepath.Abs(filepath.Join(corpusDir, name, FileName))
			m, err := Load(path)
			if tc.refused != nil {
				if m != nil {
					t.Errorf("Load returned a manifest with an error")
				}
				checkErrors(t, err, path, tc.refused)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			checkWarnings(t, m.Warnings, path, tc.warnings)
			if got := m.Config(); !reflect.DeepEqual(got, tc.config) {
				t.Errorf("Config = %v, want %v", got, tc.config)
			}
			if _, err := m.ReadWasm(); err != nil {
				t.Errorf("ReadWasm: %v", err)
			}
		})
	}
	for name := range cases {
		if !seen[name] {
			t.Errorf("case %s has no directory under %s", name, corpusDir)
		}
	}
}

// TestAstridCorpusEnvTypes: the corpus covers every env type real capsules use.
func TestAstridCorpusEnvTypes(t *testing.T) {
	types := map[string]bool{}
	for _, path := range globManifests(t, corpusDir) {
		m, err := Load(path)
		if err != nil {
			continue
		}
		for _, e := range m.Env {
			types[e.Type] = true
		}
	}
	for _, want := range []string{"string", "integer", "text", "secret", "select", "array"} {
		if !types[want] {
			t.Errorf("no accepted corpus manifest has an [env] entry of type %q", want)
		}
	}
}
