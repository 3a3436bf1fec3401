// Command build builds the example capsules: for every directory under examples/ holding a
// Capsule.toml and a Go main package, it runs
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/<name>/<name>.wasm ./examples/<name>
//
// which is the module its Capsule.toml names. Run it from anywhere inside the module:
//
//	go run ./examples/build            # every example
//	go run ./examples/build ping pong  # some of them
//	go run ./examples/build -q         # no progress lines
//
// It prints a line per capsule as it goes, with the time it took. The first GOOS=wasip1 build
// on a machine compiles the Go standard library for wasm, which takes a minute or more on a
// small machine; later builds take about a second each. The .wasm files are ignored by git.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	quiet := flag.Bool("q", false, "print nothing but errors")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./examples/build [-q] [NAME...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	progress := io.Writer(os.Stderr)
	if *quiet {
		progress = io.Discard
	}
	if err := run(flag.Args(), progress); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

func run(names []string, progress io.Writer) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("run it inside the astrid-actors module (go run ./examples/build)")
	}
	root := filepath.Dir(gomod)
	if len(names) == 0 {
		if names, err = examples(filepath.Join(root, "examples")); err != nil {
			return err
		}
	}
	start := time.Now()
	for i, name := range names {
		dir := filepath.Join("examples", name)
		if _, err := os.Stat(filepath.Join(root, dir, "Capsule.toml")); err != nil {
			return fmt.Errorf("%s: not an example capsule: %w", dir, err)
		}
		target := filepath.Join(dir, name+".wasm")
		note := ""
		if i == 0 {
			note = " (the first GOOS=wasip1 build compiles the Go standard library for wasm: a minute or more)"
		}
		fmt.Fprintf(progress, "[%d/%d] %s%s\n", i+1, len(names), target, note)
		t0 := time.Now()
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", target, "./"+filepath.ToSlash(dir))
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o %s ./%s: %v\n%s", target, dir, err, buf.Bytes())
		}
		fmt.Fprintf(progress, "      done in %v\n", time.Since(t0).Round(100*time.Millisecond))
	}
	fmt.Fprintf(progress, "built %d example capsule(s) in %v\n", len(names), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// examples lists the example directories: those with a Capsule.toml and a main.go.
func examples(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		_, errToml := os.Stat(filepath.Join(dir, e.Name(), "Capsule.toml"))
		_, errMain := os.Stat(filepath.Join(dir, e.Name(), "main.go"))
		if errToml == nil && errMain == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no example capsules under %s", dir)
	}
	return names, nil
}
