package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateBrokenManifest(t *testing.T) {
	t.Parallel()
	dir := demoCapsules(t)
	broken := filepath.Join(dir, "broken", "Capsule.toml")
	writeFile(t, broken, "[package]\nname = \"broken\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"x.wasm\"\n[publish]\n\"a..b\" = \"opaque\"\n")
	res := cli(t, "validate", dir)
	if res.code != exitFailure {
		t.Fatalf("want exit code 1: %v", res)
	}
	if !strings.Contains(res.stdout, broken+`: [publish] "a..b": empty topic segment`) {
		t.Errorf("stdout must name the file and the key:\n%s", res.stdout)
	}
	// A missing component file is an error, as in the runtime's Load, naming the file.
	if want := broken + `: [[component]] #1 file: "x.wasm" does not exist (no file ` + filepath.Join(dir, "broken", "x.wasm") + ")"; !strings.Contains(res.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
	}
	if !strings.Contains(res.stdout, "4 manifest(s) checked: 2 error(s), 0 warning(s)") {
		t.Errorf("summary:\n%s", res.stdout)
	}
	oneStderrLine(t, res, "validate: 2 error(s) found")

	res = cli(t, "validate", dir, filepath.Join(dir, "nope"))
	if res.code != exitFailure {
		t.Fatalf("missing directory: want exit code 1: %v", res)
	}
	oneStderrLine(t, res, filepath.Join(dir, "nope")+": no such directory")
}

func TestValidateComponentProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad, err := os.ReadFile(repoFile("testdata/wat/badimport.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	echo, err := os.ReadFile(repoFile("testdata/wat/echo.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a", "bad.wasm"), string(bad))
	writeFile(t, filepath.Join(dir, "a", "Capsule.toml"), "[package]\nname = \"a\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"bad.wasm\"\n[frobnicate]\nx = 1\n")
	writeFile(t, filepath.Join(dir, "b", "echo.wasm"), string(echo))
	writeFile(t, filepath.Join(dir, "b", "Capsule.toml"), "[package]\nname = \"b\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"echo.wasm\"\n[subscribe]\n\"x.y\" = { handler = \"h\" }\n")
	writeFile(t, filepath.Join(dir, "c", "echo.wasm"), string(echo))
	writeFile(t, filepath.Join(dir, "c", "Capsule.toml"), "[package]\nname = \"c\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"echo.wasm\"\nhash = \"sha256:"+strings.Repeat("0", 64)+"\"\n")
	res := cli(t, "validate", dir)
	if res.code != exitFailure {
		t.Fatalf("want exit code 1: %v", res)
	}
	for _, want := range []string{
		filepath.Join(dir, "a", "Capsule.toml") + `: [[component]] #1 file: "bad.wasm": invalid capsule module: imports env.whatever`,
		filepath.Join(dir, "a", "Capsule.toml") + `: warning: [frobnicate]: unknown table ignored`,
		filepath.Join(dir, "b", "Capsule.toml") + `: a run-loop capsule cannot have interceptor handlers`,
		filepath.Join(dir, "c", "Capsule.toml") + `: [[component]] #1 hash: "echo.wasm" does not match`,
		"3 manifest(s) checked: 3 error(s), 1 warning(s)",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
}

func TestValidateGoodDirs(t *testing.T) {
	t.Parallel()
	res := cli(t, "validate", "demo", repoFile("testdata/capsules/echo"), repoFile("testdata/capsules/relay"),
		repoFile("testdata/capsules/interceptor"))
	if res.code != 0 {
		t.Fatalf("want exit code 0: %v", res)
	}
	if !strings.Contains(res.stdout, "capsules in load order: crashy, ping, pong, echo, relay, interceptor") ||
		!strings.Contains(res.stdout, "6 manifest(s) checked: 0 error(s), 0 warning(s)") || res.stderr != "" {
		t.Errorf("output: %v", res)
	}

	// Warnings alone do not fail.
	dir := demoCapsules(t)
	toml := filepath.Join(dir, "pong", "Capsule.toml")
	data, err := os.ReadFile(toml)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, toml, string(data)+"\n[frobnicate]\nx = 1\n")
	res = cli(t, "validate", dir)
	if res.code != 0 || !strings.Contains(res.stdout, toml+": warning: [frobnicate]") {
		t.Errorf("a warning alone: want exit code 0: %v", res)
	}

	res = cli(t, "validate", t.TempDir())
	if res.code != exitFailure || !strings.Contains(res.stdout, "no Capsule.toml found") {
		t.Errorf("empty directory: want exit code 1: %v", res)
	}
}

// TestHugeModuleRefusedByStat: a 2 GiB sparse .wasm is refused by validate and inspect from
// its size alone (issue 11: it cost 2.1 GB RSS and 5.7 s before).
func TestHugeModuleRefusedByStat(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "huge")
	writeFile(t, filepath.Join(dir, "Capsule.toml"), "[package]\nname = \"huge\"\nversion = \"1.0.0\"\n[[component]]\nid = \"main\"\nfile = \"huge.wasm\"\n")
	wasm := filepath.Join(dir, "huge.wasm")
	f, err := os.Create(wasm)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(2 << 30)
	f.Close()
	if err != nil {
		t.Skipf("sparse file: %v", err)
	}
	res := cli(t, "validate", dir)
	want := filepath.Join(dir, "Capsule.toml") + ": [[component]] #1 file: " + wasm +
		": module file too large: 2147483648 bytes, the limit is 67108864 (raise it with [limits] module_bytes)"
	if res.code != exitFailure || !strings.Contains(res.stdout, want) {
		t.Errorf("validate: want %q: %v", want, res)
	}
	res = cli(t, "inspect", wasm)
	if res.code != exitFailure {
		t.Fatalf("inspect: %v", res)
	}
	oneStderrLine(t, res, "module file too large: 2147483648 bytes, the limit is 67108864")
}
