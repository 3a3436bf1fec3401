package manifest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// mk parses a manifest named name with extra tables appended.
func mk(t *testing.T, name, extra string) *Manifest {
	t.Helper()
	m, err := Parse([]byte(capsuleTOML(name, "x.wasm", extra)), "/caps/"+name+"/Capsule.toml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func exports(pairs ...string) string {
	var b strings.Builder
	b.WriteString("\n[exports]\n")
	for i := 0; i < len(pairs); i += 2 {
		fmt.Fprintf(&b, "%q = %q\n", pairs[i], pairs[i+1])
	}
	return b.String()
}

func imports(pairs ...string) string {
	var b strings.Builder
	b.WriteString("\n[imports]\n")
	for i := 0; i < len(pairs); i += 2 {
		fmt.Fprintf(&b, "%q = %q\n", pairs[i], pairs[i+1])
	}
	return b.String()
}

func TestOrder(t *testing.T) {
	type spec struct{ name, extra string }
	cases := []struct {
		name     string
		capsules []spec // discovery order
		want     []string
		wantWarn []string
	}{
		{name: "empty", capsules: nil, want: nil},
		{name: "independent keep discovery order", capsules: []spec{{"c", ""}, {"a", ""}, {"b", ""}}, want: []string{"c", "a", "b"}},
		{name: "diamond", capsules: []spec{
			{"d", imports("x:b", "^1", "x:c", "^1")},
			{"c", imports("x:a", "^1") + "\n[exports.x]\nc = \"1.0.0\"\n"},
			{"b", imports("x:a", "^1") + "\n[exports.x]\nb = \"1.0.0\"\n"},
			{"a", exports("x:a", "1.0.0")},
		}, want: []string{"a", "c", "b", "d"}},
		{name: "diamond in order", capsules: []spec{
			{"a", exports("x:a", "1.0.0")},
			{"b", imports("x:a", "^1") + "\n[exports.x]\nb = \"1.0.0\"\n"},
			{"c", imports("x:a", "^1") + "\n[exports.x]\nc = \"1.0.0\"\n"},
			{"d", imports("x:b", "^1", "x:c", "^1")},
		}, want: []string{"a", "b", "c", "d"}},
		{name: "chain reversed", capsules: []spec{
			{"c", imports("x:b", "*")},
			{"b", imports("x:a", "*") + "\n[exports.x]\nb = \"0.1.0\"\n"},
			{"a", exports("x:a", "0.1.0")},
		}, want: []string{"a", "b", "c"}},
		{name: "cycle falls back to discovery order", capsules: []spec{
			{"d", imports("x:a", "^1")},
			{"c", ""},
			{"b", imports("x:a", "^1") + exports("x:b", "1.0.0")},
			{"a", imports("x:b", "^1") + exports("x:a", "1.0.0")},
		}, want: []string{"c", "b", "a", "d"}, wantWarn: []string{`import cycle among capsules "b", "a": they are loaded in discovery order`}},
		{name: "three-cycle", capsules: []spec{
			{"a", imports("x:c", "1") + exports("x:a", "1.0.0")},
			{"b", imports("x:a", "1") + exports("x:b", "1.0.0")},
			{"c", imports("x:b", "1") + exports("x:c", "1.0.0")},
		}, want: []string{"a", "b", "c"}, wantWarn: []string{`import cycle among capsules "a", "b", "c"`}},
		{name: "missing provider", capsules: []spec{
			{"b", imports("astrid:session", "^1.0")},
			{"a", ""},
		}, want: []string{"b", "a"}, wantWarn: []string{`capsule "b" imports astrid:session ^1.0 but no capsule exports it`}},
		{name: "optional missing provider is silent", capsules: []spec{
			{"b", "\n[imports]\n\"astrid:session\" = { version = \"^1.0\", optional = true }\n"},
		}, want: []string{"b"}},
		{name: "optional present provider orders", capsules: []spec{
			{"b", "\n[imports]\n\"x:a\" = { version = \"^1.0\", optional = true }\n"},
			{"a", exports("x:a", "1.0.0")},
		}, want: []string{"a", "b"}},
		{name: "version mismatch is missing", capsules: []spec{
			{"b", imports("x:a", "^1.0")},
			{"a", exports("x:a", "2.0.0")},
		}, want: []string{"b", "a"}, wantWarn: []string{`capsule "b" imports x:a ^1.0 but no export satisfies it ("a" exports 2.0.0)`}},
		{name: "prerelease does not satisfy caret", capsules: []spec{
			{"b", imports("x:a", "^1.0")},
			{"a", exports("x:a", "1.1.0-beta")},
		}, want: []string{"b", "a"}, wantWarn: []string{`no export satisfies it ("a" exports 1.1.0-beta)`}},
		{name: "namespace must match", capsules: []spec{
			{"b", imports("y:a", "*")},
			{"a", exports("x:a", "1.0.0")},
		}, want: []string{"b", "a"}, wantWarn: []string{`capsule "b" imports y:a * but no capsule exports it`}},
		{name: "every satisfying provider comes first", capsules: []spec{
			{"p2", exports("x:s", "1.5.0")},
			{"c", imports("x:s", "^1.0")},
			{"p1", exports("x:s", "1.2.0")},
			{"p3", exports("x:s", "2.0.0")},
		}, want: []string{"p2", "p1", "c", "p3"}},
		{name: "own export does not satisfy", capsules: []spec{
			{"a", imports("x:a", "^1") + exports("x:a", "1.0.0")},
		}, want: []string{"a"}, wantWarn: []string{`capsule "a" imports x:a ^1 but no capsule exports it`}},
		{name: "uplink first", capsules: []spec{
			{"a", ""},
			{"u1", "\n[capabilities]\nuplink = true\n"},
			{"b", ""},
			{"u2", "\n[capabilities]\nuplink = true\n" + exports("x:u", "1.0.0")},
		}, want: []string{"u1", "u2", "a", "b"}},
		{name: "uplink provider first", capsules: []spec{
			{"c", imports("x:u", "1")},
			{"u", "\n[capabilities]\nuplink = true\n" + exports("x:u", "1.0.0")},
		}, want: []string{"u", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ms []*Manifest
			for _, s := range tc.capsules {
				ms = append(ms, mk(t, s.name, s.extra))
			}
			got, warns := Order(ms)
			if !slices.Equal(names(got), tc.want) {
				t.Errorf("Order = %v, want %v", names(got), tc.want)
			}
			checkWarnings(t, warns, "", tc.wantWarn)
			if len(got) != len(ms) {
				t.Errorf("Order returned %d manifests for %d", len(got), len(ms))
			}
		})
	}
}

// TestOrderRespectsEdges checks on a larger acyclic graph that every satisfied import's
// providers come before the importer.
func TestOrderRespectsEdges(t *testing.T) {
	const n = 30
	var ms []*Manifest
	for i := n - 1; i >= 0; i-- {
		extra := exports(fmt.Sprintf("n:c%d", i), "1.0.0")
		var imps []string
		for j := range i {
			if (i*7+j*3)%5 == 0 {
				imps = append(imps, fmt.Sprintf("n:c%d", j), "^1")
			}
		}
		if len(imps) > 0 {
			extra += imports(imps...)
		}
		ms = append(ms, mk(t, fmt.Sprintf("c%d", i), extra))
	}
	got, warns := Order(ms)
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	pos := map[string]int{}
	for i, m := range got {
		pos[m.Package.Name] = i
	}
	for _, m := range ms {
		for _, imp := range m.Imports {
			if pos[imp.Name] >= pos[m.Package.Name] {
				t.Errorf("%s placed at %d, before its provider %s at %d", m.Package.Name, pos[m.Package.Name], imp.Name, pos[imp.Name])
			}
		}
	}
}

// TestOrderHandBuilt orders manifests that were not parsed: only Requirement and Version set.
func TestOrderHandBuilt(t *testing.T) {
	a := &Manifest{Package: Package{Name: "a"}, Exports: []Export{{Namespace: "x", Name: "a", Version: "1.2.0"}}}
	b := &Manifest{Package: Package{Name: "b"}, Imports: []Import{{Namespace: "x", Name: "a", Requirement: "1.1"}}}
	got, warns := Order([]*Manifest{b, a})
	if !slices.Equal(names(got), []string{"a", "b"}) || len(warns) != 0 {
		t.Errorf("Order = %v, %q", names(got), warns)
	}
}

// Providers lists, per capsule, the other capsules whose exports satisfy one of its imports.
func TestProviders(t *testing.T) {
	ms := []*Manifest{
		mk(t, "d", imports("x:b", "^1", "x:c", "^1")),
		mk(t, "c", imports("x:a", "^1")+"\n[exports.x]\nc = \"1.0.0\"\n"),
		mk(t, "b", imports("x:a", "^1", "x:none", "^1")+"\n[exports.x]\nb = \"1.0.0\"\n"),
		mk(t, "a", exports("x:a", "1.0.0")),
		mk(t, "old", imports("x:a", "^2")),
		mk(t, "self", imports("x:s", "^1")+exports("x:s", "1.0.0")),
	}
	got := Providers(ms)
	if want := [][]int{{1, 2}, {3}, {3}, nil, nil, nil}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("providers %v, want %v", got, want)
	}
}
