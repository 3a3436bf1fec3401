package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// head is a valid [package] plus [[component]] that inline cases append to.
const head = `
[package]
name = "x"
version = "1.0.0"

[[component]]
id = "main"
file = "x.wasm"
`

const testPath = "/caps/x/Capsule.toml"

// errList flattens an errors.Join tree into its leaves.
func errList(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, errList(e)...)
		}
		return out
	}
	return []error{err}
}

// checkErrors asserts that err holds exactly len(want) errors, the i-th containing want[i],
// each naming path.
func checkErrors(t *testing.T, err error, path string, want []string) {
	t.Helper()
	got := errList(err)
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i, e := range got {
		if !strings.Contains(e.Error(), want[i]) {
			t.Errorf("error %d = %q, want it to contain %q", i, e, want[i])
		}
		if !strings.HasPrefix(e.Error(), path+": ") {
			t.Errorf("error %d = %q does not start with the path %q", i, e, path)
		}
		var me *Error
		if errors.As(e, &me) && me.Path != path {
			t.Errorf("error %d: Path = %q, want %q", i, me.Path, path)
		}
	}
}

// checkWarnings asserts that warns holds exactly len(want) warnings, the i-th containing
// want[i], each naming path.
func checkWarnings(t *testing.T, warns []string, path string, want []string) {
	t.Helper()
	if len(warns) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(warns), len(want), strings.Join(warns, "\n"))
	}
	for i, w := range warns {
		if !strings.Contains(w, want[i]) {
			t.Errorf("warning %d = %q, want it to contain %q", i, w, want[i])
		}
		if path != "" && !strings.HasPrefix(w, path+": ") {
			t.Errorf("warning %d = %q does not start with the path %q", i, w, path)
		}
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// readFile returns the contents of path or fails the test.
func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// globManifests returns every Capsule.toml under root.
func globManifests(tb testing.TB, root string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == FileName && !d.IsDir() {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
