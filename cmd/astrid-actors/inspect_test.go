package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestInspectText(t *testing.T) {
	t.Parallel()
	res := cli(t, "inspect", repoFile("testdata/wat/echo.wasm"))
	if res.code != 0 {
		t.Fatalf("inspect: %v", res)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^size\s+385 bytes$`),
		regexp.MustCompile(`(?m)^sha256\s+[0-9a-f]{64}$`),
		regexp.MustCompile(`(?m)^entry\s+run$`),
		regexp.MustCompile(`(?m)^memory\s+min 2 pages \(128 KiB\), no max`),
		regexp.MustCompile(`(?m)^  astrid:ipc@1\.0\.0$`),
		regexp.MustCompile(`(?m)^    subscription-recv\s+\(i32, i64, i32, i32, i32\) -> \(i32\)\s+provided$`),
		regexp.MustCompile(`(?m)^    signal-ready\s+\(\) -> \(i32\)\s+provided$`),
		regexp.MustCompile(`(?m)^  run\s+function\s+\(\) -> \(\)$`),
		regexp.MustCompile(`(?m)^interceptors\s+astrid-hook-trigger no, cabi_realloc no$`),
		regexp.MustCompile(`(?m)^ABI\s+compatible with capsule ABI 1\.0\.0: run-loop capsule \(run\)$`),
	} {
		if !want.MatchString(res.stdout) {
			t.Errorf("output lacks %v:\n%s", want, res.stdout)
		}
	}

	res = cli(t, "inspect", repoFile("testdata/wat/badimport.wasm"))
	if res.code != exitFailure || !regexp.MustCompile(`(?m)^    whatever\s+\(\) -> \(\)\s+unknown$`).MatchString(res.stdout) ||
		!strings.Contains(res.stdout, "NOT compatible") {
		t.Errorf("badimport: %v", res)
	}
	oneStderrLine(t, res, `imports env.whatever from module "env"`)

	res = cli(t, "inspect", repoFile("README.md"))
	if res.code != exitFailure || res.stdout != "" {
		t.Errorf("not wasm: %v", res)
	}
	oneStderrLine(t, res, "not a WebAssembly module")

	// 33 bytes declaring 3·10⁹ imports: wazero's decoder would allocate by that count and take
	// the process's memory; inspect refuses them as the engine does (found by FuzzInstrument).
	huge := filepath.Join(t.TempDir(), "huge.wasm")
	if err := os.WriteFile(huge, []byte("\x00asm\x01\x00\x00\x00\x02!\xc7\xc7\xc7\xc7\x03\x01\x01\x05\x03\x01\x00\x01\a\x10\x02\x06memory\x02\x00\x03run\x00\x01\n\x0f\x01\r\x00\x10\x00\x1aA\xc0\x84=(\x02\x00\x1ao"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = cli(t, "inspect", huge)
	if res.code != exitFailure || res.stdout != "" {
		t.Errorf("implausible import count: %v", res)
	}
	oneStderrLine(t, res, "not a WebAssembly module")
}

func TestInspectJSON(t *testing.T) {
	t.Parallel()
	res := cli(t, "inspect", "--json", repoFile("testdata/wat/intercept.wasm"))
	if res.code != 0 {
		t.Fatalf("inspect: %v", res)
	}
	var rep inspectReport
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%v:\n%s", err, res.stdout)
	}
	if !rep.Compatible || rep.Entry != "none" || !rep.Interceptor.HookTrigger || !rep.Interceptor.Realloc ||
		rep.Memory == nil || rep.Memory.Min != 2 || rep.Memory.Max != nil || len(rep.SHA256) != 64 || rep.ABIVersion != "1.0.0" {
		t.Errorf("report: %+v", rep)
	}
	modules := map[string]int{}
	for _, g := range rep.Imports {
		for _, f := range g.Functions {
			modules[g.Module]++
			if f.Status != importProvided {
				t.Errorf("%s.%s: %s", g.Module, f.Name, f.Status)
			}
		}
	}
	if modules["astrid:ipc@1.0.0"] == 0 || modules["astrid:sys@1.0.0"] == 0 {
		t.Errorf("imports: %+v", rep.Imports)
	}

	res = cli(t, "inspect", "--json", repoFile("testdata/wat/badimport.wasm"))
	if res.code != exitFailure {
		t.Fatalf("badimport: %v", res)
	}
	rep = inspectReport{}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Compatible || len(rep.Problems) == 0 || len(rep.Imports) != 1 || rep.Imports[0].Module != "env" ||
		rep.Imports[0].Functions[0].Status != importUnknown {
		t.Errorf("badimport report: %+v", rep)
	}
}
