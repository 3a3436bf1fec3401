package manifest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/astrid-actors/astrid-actors/internal/leakcheck"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

// raceEnabled is set by race_test.go: the race detector slows the parser's inner loops down
// 30 to 40 times (measured), so the time bound is scaled (the memory bound is not). The bound of the issue
// is asserted by the ordinary test run.
var raceEnabled bool

// Bounds every manifest up to MaxManifestBytes must be parsed or refused within.
const (
	parseTimeBound  = 100 * time.Millisecond
	parseAllocBound = 64 << 20
	raceTimeFactor  = 20
)

// hostileManifests are manifests built to make a TOML parser slow or hungry, each no larger
// than MaxManifestBytes. refused is the error expected ("" = must parse).
func hostileManifests() []struct {
	name, toml, refused string
} {
	pkg := "[package]\nname = \"x\"\nversion = \"1.0.0\"\n\n[[component]]\nid = \"main\"\nfile = \"x.wasm\"\n"
	fill := func(unit string, n int) string { return strings.Repeat(unit, n) }
	fitting := func(head, unit, tail string) string {
		n := (MaxManifestBytes - len(pkg) - len(head) - len(tail)) / len(unit)
		return pkg + head + fill(unit, n) + tail
	}
	// deepKeys is the worst case within the limits: MaxKeys keys, each at MaxDepth.
	var deep strings.Builder
	deep.WriteString(pkg)
	for i := 0; deep.Len() < MaxManifestBytes-200 && i < (MaxKeys-2-4)/10; i++ {
		fmt.Fprintf(&deep, "[limits.t%d.c.d.e]\n", i)
		for j := 0; j < 9; j++ {
			fmt.Fprintf(&deep, "k%d.b.c.d.e = 1\n", j)
		}
	}
	var flat strings.Builder
	flat.WriteString(pkg + "[env]\n")
	for i := 0; i < MaxKeys-7; i++ { // the package, component and env keys and headers make MaxKeys
		fmt.Fprintf(&flat, "k%d = {}\n", i)
	}
	inline := func(n int) string {
		return pkg + "[env]\nx = " + fill("{a=", n) + "1" + fill("}", n) + "\n"
	}
	return []struct{ name, toml, refused string }{
		{"10000 nested inline tables (issue 11: 31.9 s, 4.1 GB)", inline(10000), "nest deeper than 10 levels"},
		{"200000 nested inline tables, 800 KB", inline(200000), "nest deeper than 10 levels"},
		{"nested arrays up to 1 MiB", fitting("[env]\nx = ", "[", ""), "nest deeper than 10 levels"},
		{"[limits.a.a...] with 40000 parts (issue 11: 25.8 s)", pkg + "[limits" + fill(".a", 40000) + "]\n", "nest deeper than 10 levels"},
		{"dotted key with 400000 parts", pkg + "[limits]\n" + fill("a.", 400000) + "a = 1\n", "nest deeper than 10 levels"},
		{"quoted header parts", pkg + "[limits" + fill(`."a"`, 200000) + "]\n", "nest deeper than 10 levels"},
		{"keys up to 1 MiB", fitting("[env]\n", "k = {}\n", ""), "more than 1024 keys"},
		{"tables up to 1 MiB", fitting("", "[t]\n", ""), "more than 1024 keys"},
		{"array elements up to 1 MiB", fitting("[env.x]\ndefault = [", "1,", "]\n"), "more than 16384 array elements"},
		{"inline tables in an array up to 1 MiB", fitting("[env.x]\ndefault = [", "{},", "]\n"), "more than 16384 array elements"},
		{"a 1 MiB comment", fitting("", "#", "\n"), ""},
		{"a 1 MiB string", fitting("[package.metadata]\nx = \"", "a", "\"\n"), ""},
		{"a 1 MiB multi-line string of brackets", fitting("[package.metadata]\nx = '''", "[{", "'''\n"), ""},
		{"MaxKeys keys at MaxDepth", deep.String(), ""},
		{"MaxKeys flat keys in one table", flat.String(), ""},
		{"MaxArrayElements strings", pkg + "[env.x]\ndefault = [" + fill(`"`+strings.Repeat("a", 50)+`",`, MaxArrayElements) + "]\n", ""},
	}
}

// TestHostileManifestsBounded parses each hostile manifest and asserts that it is parsed or
// refused (as expected) within parseTimeBound (the best of three runs, so that a busy machine
// does not fail it; scaled under -race) and parseAllocBound bytes allocated.
func TestHostileManifestsBounded(t *testing.T) {
	timeBound := parseTimeBound
	if raceEnabled {
		timeBound *= raceTimeFactor
	}
	for _, tc := range hostileManifests() {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.toml)
			if len(data) > MaxManifestBytes {
				t.Fatalf("test manifest is %d bytes, over the cap", len(data))
			}
			best := time.Duration(1<<63 - 1)
			var alloc uint64
			for range 3 {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				start := time.Now()
				m, err := Parse(data, testPath)
				d := time.Since(start)
				runtime.ReadMemStats(&after)
				best, alloc = min(best, d), max(alloc, after.TotalAlloc-before.TotalAlloc)
				if tc.refused == "" && err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tc.refused != "" && (m != nil || err == nil || !strings.Contains(err.Error(), tc.refused)) {
					t.Fatalf("Parse = %v, want an error containing %q", err, tc.refused)
				}
				if best < timeBound/4 {
					break
				}
			}
			t.Logf("%d bytes: best %v, %.1f MiB allocated", len(data), best, float64(alloc)/(1<<20))
			if best > timeBound {
				t.Errorf("Parse took %v (best of 3), want < %v", best, timeBound)
			}
			if alloc > parseAllocBound {
				t.Errorf("Parse allocated %d bytes, want < %d", alloc, parseAllocBound)
			}
		})
	}
}

// BenchmarkParseHostile measures each hostile manifest against the baseline of the full
// example manifest (testdata/valid/full), in the same process.
func BenchmarkParseHostile(b *testing.B) {
	full := readFile(b, "testdata/valid/full/Capsule.toml")
	b.Run("baseline full example", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(full, testPath); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range hostileManifests() {
		data := []byte(tc.toml)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = Parse(data, testPath)
			}
		})
	}
}

// TestPrescan pins what the pre-scan counts: brackets, quotes and dots inside strings and
// comments are not structure; every kind of string is skipped exactly.
func TestPrescan(t *testing.T) {
	deep := func(n int) string { return "x = " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n" }
	cases := []struct {
		name, toml, wantErr string
	}{
		{"depth at the limit", deep(MaxDepth), ""},
		{"depth over the limit", deep(MaxDepth + 1), "line 1: keys, tables and values nest deeper than 10 levels"},
		{"header parts at the limit", "[" + strings.Repeat("a.", MaxDepth-1) + "a]\n", ""},
		{"header parts over the limit", "\n\n[" + strings.Repeat("a.", MaxDepth) + "a]\n", "line 3: keys, tables and values nest deeper than 10 levels"},
		{"header plus key", "[a.b.c.d.e]\nf.g.h.i.j = 1\n", ""},
		{"header plus key over", "[a.b.c.d.e]\nf.g.h.i.j.k = 1\n", "line 2: keys, tables and values nest deeper"},
		{"header plus key plus inline", "[a.b.c.d]\ne.f.g = { h = [[1]] }\n", ""},
		{"header plus key plus inline over", "[a.b.c.d]\ne.f.g = { h = [[[1]]] }\n", "nest deeper"},
		{"quoted dots are one part", `["a.b.c.d.e.f.g.h.i.j.k"]` + "\n" + `"x.y.z.w.v.u.t.s.r.q" = 1` + "\n", ""},
		{"literal quoted dots", `['a.b.c.d.e.f.g.h.i.j.k']` + "\n", ""},
		{"brackets in strings", `x = "[[[[[[[[[[[[{{{{{{{{{{"` + "\ny = '[[[[[[[[[[[[[[['\n", ""},
		{"escaped quote", `x = "\"[[[[[[[[[[[[[[[[\""` + "\n", ""},
		{"brackets in comments", "# [[[[[[[[[[[[[[[[[[[[[\nx = 1 # {{{{{{{{{{{{{{{{{\n", ""},
		{"multi-line basic", "x = \"\"\"\n[[[[[[[[[[[[[[\n\"\"[[[[[[[[[[[[[\\\"\"\"[[[[[\n\"\"\"\"\"\ny = 1\n", ""},
		{"multi-line literal", "x = '''\n{{{{{{{{{{{{{{{{{{\n'[[[[[[[[[[[[[[[[\n'''''\n[" + strings.Repeat("a.", MaxDepth) + "a]\n", "line 5: keys, tables and values nest deeper"},
		{"inline table keys", "x = { a.b.c.d.e.f.g.h.i = 1 }\n", ""},
		{"inline table keys over", "x = { a.b.c.d.e.f.g.h.i.j = 1 }\n", "nest deeper"},
		{"keys at the limit", strings.Repeat("k = 1\n", MaxKeys), ""},
		{"keys over the limit", strings.Repeat("k = 1\n", MaxKeys+1), "line 1025: more than 1024 keys"},
		{"inline keys count", "x = {" + strings.Repeat("a = 1,", MaxKeys) + "}\n", "more than 1024 keys"},
		{"array elements at the limit", "x = [" + strings.Repeat("1,", MaxArrayElements) + "]\n", ""},
		{"array elements over the limit", "x = [" + strings.Repeat("1,", MaxArrayElements+1) + "]\n", "more than 16384 array elements"},
		{"floats and dates are values", "x = [1.5, 1979-05-27T07:32:00.999Z, 07:32:00.5, -1e10]\n", ""},
		{"arrays over lines", "x = [\n  [1, 2],\n  [3, [4]],\n]\n", ""},
		{"garbage does not stall", "]]]}}}===,,,[[[\n\"unterminated\n'also\n\"\"\"never closed", ""},
		{"stray brackets count conservatively", "= = = {{{{{{{{{{{{{{{{{{{{{{{{\n", "nest deeper"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := prescan([]byte(tc.toml))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("prescan: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("prescan = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestPrescanAcceptsEveryTestManifest: no manifest of the repository trips the pre-scan.
func TestPrescanAcceptsEveryTestManifest(t *testing.T) {
	for _, path := range append(globManifests(t, "testdata"), globManifests(t, "../testdata")...) {
		if err := prescan(readFile(t, path)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// FuzzPrescan: the pre-scan terminates without panicking on any input, and Parse never
// accepts what the pre-scan refused. The seeds are every manifest of the repository and the
// tricky cases of TestPrescan (go test runs them; go test -fuzz explores further).
func FuzzPrescan(f *testing.F) {
	for _, path := range append(globManifests(f, "testdata"), globManifests(f, "../testdata")...) {
		f.Add(readFile(f, path))
	}
	for _, s := range []string{"x = \"\"\"\n\"\"\"\"\"", "x = '''a''''", "[\"a.b\".'c']\n", "x = [[{a=[{}]}]]", "\"\\", "'''", "[[[[", "a.\"b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		scanErr := prescan(data)
		if _, err := Parse(data, testPath); scanErr != nil && err == nil {
			t.Fatalf("Parse accepted what the pre-scan refused: %v", scanErr)
		}
	})
}
