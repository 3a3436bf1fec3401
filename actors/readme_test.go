package actors_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/bus"
)

// Example_embedding is the README's "embed the runtime" snippet, which TestREADMESnippets
// compares with this body (between the README markers, with "../testdata" read as
// "testdata": the README's program runs from the repository root, the example from actors/).
func Example_embedding() {
	// README begin
	ctx := context.Background()
	cache := filepath.Join(os.TempDir(), "astrid-cache") // compiled code, kept across runs
	rt, err := actors.New(ctx, actors.Options{Engine: actors.EngineOptions{CacheDir: cache}})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)

	// Lifecycle events: crashed, restarted, failed, health.failed, capsules_loaded (docs/events.md).
	events, err := rt.Events(ctx)
	if err != nil {
		log.Fatal(err)
	}

	// Load every Capsule.toml under a directory, in dependency order, and wait until they are
	// ready. A directory that does not exist or holds no loadable capsule is an error.
	report, err := rt.Load(ctx, "../testdata/capsules/echo") // echo.in -> echo.out
	if err != nil {
		log.Fatal(err)
	}
	if len(report.Started) == 0 {
		log.Fatalf("no capsule started: %v", report.Errors)
	}
	ev := <-events
	fmt.Println(ev.Topic, ev.Capsules)

	out, err := rt.Subscribe(ctx, "echo.out")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := rt.Publish(ctx, "echo.in", []byte(`{"hello":"world"}`), bus.Verified("alice")); err != nil {
		log.Fatal(err)
	}
	batch, err := out.Recv(ctx, 5*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range batch.Messages {
		fmt.Printf("%s from %v\n", m.Payload, m.Principal)
	}
	for _, st := range rt.Capsules() {
		fmt.Println(st.ID, st.State, "restarts", st.Restarts)
	}
	// README end

	// Output:
	// astrid.v1.capsules_loaded [echo]
	// {"hello":"world"} from verified(alice)
	// echo ready restarts 0
}

// codeBlocks returns the fenced code blocks of a markdown file whose info string is lang.
func codeBlocks(t *testing.T, file, lang string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```"+lang:
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// exampleBody returns the lines between the README markers of this file, one tab less indented.
func exampleBody(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	begin := strings.Index(s, "\t// README begin\n")
	end := strings.Index(s, "\t// README end\n")
	if begin < 0 || end < begin {
		t.Fatal("README markers not found in readme_test.go")
	}
	var lines []string
	for _, line := range strings.Split(s[begin+len("\t// README begin\n"):end], "\n") {
		lines = append(lines, strings.TrimPrefix(line, "\t"))
	}
	return strings.ReplaceAll(strings.Join(lines, "\n"), `"../testdata/`, `"testdata/`)
}

// TestREADMESnippets keeps the README's Go code compiled and run: the embedding snippet is
// Example_embedding, the guest snippet is examples/echo/main.go (built and run by TestExamples).
func TestREADMESnippets(t *testing.T) {
	blocks := codeBlocks(t, "../README.md", "go")
	var embed, guest int
	for _, b := range blocks {
		switch {
		case strings.Contains(b, "actors.New("):
			embed++
			if want := exampleBody(t); b != want {
				t.Errorf("README's embedding snippet differs from Example_embedding in actors/readme_test.go:\n--- README\n%s--- example\n%s", b, want)
			}
		case strings.Contains(b, "//go:wasmexport run"):
			guest++
			src, err := os.ReadFile("../examples/echo/main.go")
			if err != nil {
				t.Fatal(err)
			}
			if b != string(src) {
				t.Errorf("README's guest snippet differs from examples/echo/main.go:\n--- README\n%s--- examples/echo/main.go\n%s", b, src)
			}
		default:
			t.Errorf("README Go block is neither the embedding example nor examples/echo (add it to a test):\n%s", b)
		}
	}
	if embed != 1 || guest != 1 {
		t.Errorf("README has %d embedding and %d guest snippets, want 1 of each", embed, guest)
	}
}
