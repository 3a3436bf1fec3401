package manifest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Order returns the load order of ms (given in discovery order):
//
//  1. Dependencies: a capsule that exports ns:name at a version satisfying another capsule's
//     import of ns:name comes before that importer. When several capsules satisfy one import,
//     all of them come first. A capsule never satisfies its own import.
//  2. Ties keep discovery order: among the capsules whose providers are all placed, the
//     earliest in ms comes next.
//  3. Capsules on an import cycle (a strongly connected group) are reported in a warning and
//     placed together in discovery order, where the group as a whole would go.
//  4. Finally the uplink capsules ([capabilities] uplink = true) are moved to the front,
//     keeping their relative order (they have no imports, so no dependency is broken).
//
// A non-optional import that no capsule satisfies produces a warning (also when a capsule
// exports the interface at a version that does not satisfy the requirement); the importer
// is still ordered and loaded.
func Order(ms []*Manifest) (ordered []*Manifest, warnings []string) {
	n := len(ms)
	succ, warnings := dependencies(ms)

	comp, comps := scc(succ)
	// Kahn's algorithm over the condensation; the ready group containing the earliest
	// capsule goes next. comps[i] lists its members in ascending (discovery) order.
	indeg := make([]int, len(comps))
	csucc := make([][]int, len(comps))
	cedge := map[[2]int]bool{}
	for p := range succ {
		for _, c := range succ[p] {
			a, b := comp[p], comp[c]
			if a != b && !cedge[[2]int{a, b}] {
				cedge[[2]int{a, b}] = true
				csucc[a] = append(csucc[a], b)
				indeg[b]++
			}
		}
	}
	done := make([]bool, len(comps))
	order := make([]int, 0, n)
	for range comps {
		next := -1
		for g := range comps {
			if !done[g] && indeg[g] == 0 && (next < 0 || comps[g][0] < comps[next][0]) {
				next = g
			}
		}
		done[next] = true
		for _, b := range csucc[next] {
			indeg[b]--
		}
		order = append(order, comps[next]...)
		if len(comps[next]) > 1 {
			names := make([]string, len(comps[next]))
			for i, x := range comps[next] {
				names[i] = fmt.Sprintf("%q", ms[x].Package.Name)
			}
			warnings = append(warnings, fmt.Sprintf("import cycle among capsules %s: they are loaded in discovery order",
				strings.Join(names, ", ")))
		}
	}

	ordered = make([]*Manifest, 0, n)
	for _, i := range order {
		if ms[i].Capabilities.Uplink {
			ordered = append(ordered, ms[i])
		}
	}
	for _, i := range order {
		if !ms[i].Capabilities.Uplink {
			ordered = append(ordered, ms[i])
		}
	}
	return ordered, warnings
}

// Providers returns, for each manifest of ms by index, the indexes (ascending) of the other
// manifests whose exports satisfy one of its imports, optional ones included: the capsules
// that Order places before it (except on an import cycle).
func Providers(ms []*Manifest) [][]int {
	succ, _ := dependencies(ms)
	out := make([][]int, len(ms))
	for p, cs := range succ {
		for _, c := range cs {
			out[c] = append(out[c], p)
		}
	}
	return out
}

// dependencies returns the dependency graph of ms: succ[p] lists the capsules importing what
// p exports (at a satisfying version), and the warnings for unsatisfied imports.
func dependencies(ms []*Manifest) (succ [][]int, warnings []string) {
	succ = make([][]int, len(ms))
	edge := map[[2]int]bool{}
	for c, m := range ms {
		for _, imp := range m.Imports {
			req := importConstraint(imp)
			found := false
			var others []string
			for p, pm := range ms {
				if p == c {
					continue
				}
				for _, ex := range pm.Exports {
					if ex.Namespace != imp.Namespace || ex.Name != imp.Name {
						continue
					}
					if v := exportVersion(ex); req != nil && v != nil && req.Check(v) {
						found = true
						if !edge[[2]int{p, c}] {
							edge[[2]int{p, c}] = true
							succ[p] = append(succ[p], c)
						}
					} else {
						others = append(others, fmt.Sprintf("%q exports %s", pm.Package.Name, ex.Version))
					}
				}
			}
			switch {
			case found || imp.Optional:
			case len(others) > 0:
				warnings = append(warnings, fmt.Sprintf("capsule %q imports %s:%s %s but no export satisfies it (%s)",
					m.Package.Name, imp.Namespace, imp.Name, imp.Requirement, strings.Join(others, ", ")))
			default:
				warnings = append(warnings, fmt.Sprintf("capsule %q imports %s:%s %s but no capsule exports it",
					m.Package.Name, imp.Namespace, imp.Name, imp.Requirement))
			}
		}
	}
	return succ, warnings
}

func importConstraint(imp Import) *semver.Constraints {
	if imp.Constraint != nil {
		return imp.Constraint
	}
	c, _ := ParseRequirement(imp.Requirement)
	return c
}

func exportVersion(ex Export) *semver.Version {
	if ex.SemVer != nil {
		return ex.SemVer
	}
	v, _ := semver.StrictNewVersion(ex.Version)
	return v
}

// scc returns the strongly connected components of the graph (Tarjan): comp[v] is the
// component of node v, and comps lists each component's nodes in ascending order.
func scc(succ [][]int) (comp []int, comps [][]int) {
	n := len(succ)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp = make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range succ[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var members []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = len(comps)
				members = append(members, w)
				if w == v {
					break
				}
			}
			slices.Sort(members)
			comps = append(comps, members)
		}
	}
	for v := range n {
		if index[v] < 0 {
			visit(v)
		}
	}
	return comp, comps
}
