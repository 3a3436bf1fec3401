package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// capsule writes dir/Capsule.toml for a capsule named name with an existing x.wasm.
func capsule(t *testing.T, dir, name, extra string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, FileName), capsuleTOML(name, "x.wasm", extra))
	writeFile(t, filepath.Join(dir, "x.wasm"), "wasm")
}

func names(ms []*Manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Package.Name)
	}
	return out
}

func TestDiscoverTree(t *testing.T) {
	tmp := t.TempDir()
	root1 := filepath.Join(tmp, "principal")
	root2 := filepath.Join(tmp, "workspace")
	outside := filepath.Join(tmp, "outside")

	capsule(t, filepath.Join(root1, "a"), "a", "")
	capsule(t, filepath.Join(root1, "a", "vendor", "inner"), "inner", "") // inside a capsule: not searched
	capsule(t, filepath.Join(root1, "Zed"), "zed", "")                    // uppercase sorts before lowercase
	capsule(t, filepath.Join(root1, "group", "b"), "b", "")
	capsule(t, filepath.Join(root1, "group", "deeper", "x", "y", "c"), "c", "\n[[tool]]\nname = \"t\"\n")
	writeFile(t, filepath.Join(root1, "broken", FileName), "[package\n")
	capsule(t, filepath.Join(root1, "dup-of-a"), "a", "")
	// component escapes through a symlink
	writeFile(t, filepath.Join(root1, "escape", FileName), capsuleTOML("escape", "x.wasm", ""))
	writeFile(t, filepath.Join(outside, "x.wasm"), "evil")
	symlink(t, filepath.Join(outside, "x.wasm"), filepath.Join(root1, "escape", "x.wasm"))
	// component escapes with ..
	writeFile(t, filepath.Join(root1, "dotdot", FileName), capsuleTOML("dotdot", "../outside.wasm", ""))
	// hash ok and hash mismatch: both are discovered, ReadWasm decides
	writeFile(t, filepath.Join(root1, "hash-ok", FileName), capsuleTOML("hash-ok", "x.wasm", "hash = \""+sha("wasm")+"\"\n"))
	writeFile(t, filepath.Join(root1, "hash-ok", "x.wasm"), "wasm")
	writeFile(t, filepath.Join(root1, "hash-bad", FileName), capsuleTOML("hash-bad", "x.wasm", "hash = \""+sha("other")+"\"\n"))
	writeFile(t, filepath.Join(root1, "hash-bad", "x.wasm"), "wasm")
	// a symlinked directory holding a capsule is not followed
	capsule(t, filepath.Join(outside, "linked"), "linked", "")
	symlink(t, filepath.Join(outside, "linked"), filepath.Join(root1, "linked"))
	// a symlinked manifest is ignored with a warning
	symlink(t, filepath.Join(outside, "linked", FileName), filepath.Join(root1, "symfile", FileName))
	// second root: a duplicate of b (first root wins) and a new capsule
	capsule(t, filepath.Join(root2, "b"), "b", "")
	capsule(t, filepath.Join(root2, "e"), "e", "")

	ms, warns, errs := Discover(root1, filepath.Join(tmp, "does-not-exist"), root2, filepath.Join(root1, "group"))

	if got, want := names(ms), []string{"zed", "a", "b", "c", "hash-bad", "hash-ok", "e"}; !slices.Equal(got, want) {
		// lexical order in root1: Zed, a, broken, dotdot, dup-of-a, escape, group/b, group/deeper/..., hash-bad, hash-ok, ...
		t.Errorf("discovered %v, want %v", got, want)
	}
	abs := func(p string) string { return filepath.Join(p, FileName) }
	checkWarnings(t, warns, "", []string{
		abs(filepath.Join(root1, "dup-of-a")) + `: capsule "a" ignored: already defined by ` + abs(filepath.Join(root1, "a")),
		abs(filepath.Join(root1, "symfile")) + ": ignored: not a regular file",
		abs(filepath.Join(root2, "b")) + `: capsule "b" ignored: already defined by ` + abs(filepath.Join(root1, "group", "b")),
	})
	var errText []string
	for _, e := range errs {
		errText = append(errText, e.Error())
	}
	checkWarnings(t, errText, "", []string{
		abs(filepath.Join(root1, "broken")) + ": toml:",
		abs(filepath.Join(root1, "dotdot")) + `: [[component]] #1 file: "../outside.wasm" escapes the capsule directory`,
		abs(filepath.Join(root1, "escape")) + `: [[component]] #1 file: "x.wasm" resolves to`,
		filepath.Join(tmp, "does-not-exist") + ": no such directory",
	})

	byName := map[string]*Manifest{}
	for _, m := range ms {
		byName[m.Package.Name] = m
	}
	if _, err := byName["hash-ok"].ReadWasm(); err != nil {
		t.Errorf("hash-ok ReadWasm: %v", err)
	}
	if _, err := byName["hash-bad"].ReadWasm(); err == nil || !strings.Contains(err.Error(), "does not match: expected "+sha("other")+", actual "+sha("wasm")) {
		t.Errorf("hash-bad ReadWasm = %v", err)
	}
	// a manifest's own warnings stay in its Warnings, they are not repeated by Discover
	if m := byName["c"]; len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "[[tool]]: unknown table ignored") {
		t.Errorf("c.Warnings = %q", m.Warnings)
	}
}

func TestDiscoverDirIsCapsule(t *testing.T) {
	dir := t.TempDir()
	capsule(t, dir, "solo", "")
	capsule(t, filepath.Join(dir, "sub"), "sub", "")
	ms, warns, errs := Discover(dir)
	if got := names(ms); !slices.Equal(got, []string{"solo"}) || len(warns) != 0 || len(errs) != 0 {
		t.Errorf("Discover = %v, %q, %v", got, warns, errs)
	}
}

func TestDiscoverOrderOfDirs(t *testing.T) {
	tmp := t.TempDir()
	capsule(t, filepath.Join(tmp, "one", "x"), "same", "")
	capsule(t, filepath.Join(tmp, "two", "x"), "same", "")
	for _, tc := range []struct{ first, second string }{{"one", "two"}, {"two", "one"}} {
		ms, warns, errs := Discover(filepath.Join(tmp, tc.first), filepath.Join(tmp, tc.second))
		if len(ms) != 1 || len(errs) != 0 || len(warns) != 1 {
			t.Fatalf("Discover = %v, %q, %v", names(ms), warns, errs)
		}
		if want := filepath.Join(tmp, tc.first, "x", FileName); ms[0].Path != want {
			t.Errorf("winner %s, want %s", ms[0].Path, want)
		}
		if !strings.Contains(warns[0], filepath.Join(tmp, tc.second)) {
			t.Errorf("warning %q does not name the loser", warns[0])
		}
	}
}

func TestDiscoverEdgeCases(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	writeFile(t, file, "x")
	ms, warns, errs := Discover(filepath.Join(tmp, "missing"), file)
	if len(ms) != 0 || len(warns) != 0 || len(errs) != 2 ||
		errs[0].Error() != filepath.Join(tmp, "missing")+": no such directory" || !errors.Is(errs[0], fs.ErrNotExist) ||
		errs[1].Error() != file+": not a directory" {
		t.Errorf("Discover = %v, %q, %v", names(ms), warns, errs)
	}
	ms, warns, errs = Discover()
	if ms != nil || warns != nil || errs != nil {
		t.Errorf("Discover() = %v, %q, %v", ms, warns, errs)
	}
	// the same tree twice, and a symlinked root: each file is loaded once, silently
	capsule(t, filepath.Join(tmp, "caps", "a"), "a", "")
	symlink(t, filepath.Join(tmp, "caps"), filepath.Join(tmp, "caps-link"))
	ms, warns, errs = Discover(filepath.Join(tmp, "caps"), filepath.Join(tmp, "caps"), filepath.Join(tmp, "caps-link"))
	if got := names(ms); !slices.Equal(got, []string{"a"}) || len(warns) != 0 || len(errs) != 0 {
		t.Errorf("Discover = %v, %q, %v", got, warns, errs)
	}
	// an unreadable subdirectory (skipped when running as root, which can read anything)
	if os.Geteuid() != 0 {
		locked := filepath.Join(tmp, "locked")
		capsule(t, filepath.Join(locked, "inner"), "inner", "")
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		_, _, errs = Discover(tmp)
		if len(errs) != 1 {
			t.Errorf("errs = %v", errs)
		}
	}
}
