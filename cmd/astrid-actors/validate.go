package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/astrid-actors/astrid-actors/actors"
	"github.com/astrid-actors/astrid-actors/manifest"
)

type validateOptions struct {
	cache cacheFlag
}

func newValidateCommand() *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate DIR...",
		Short: "Check the capsules under DIR... without running them",
		Long: `Discover the capsule manifests under the given directories and check each one as run would
load it, without instantiating anything:

  - the manifest: TOML syntax, every key and value, ACL topics and patterns, supervision
    settings, the component path (inside the capsule directory);
  - the component: it exists, is no larger than [limits] module_bytes (default 64 MiB, checked
    before it is read), matches its sha256 hash, and compiles as a capsule module
    (valid wasm, only imports the ABI provides with the ABI's signatures, an exported memory);
  - the combination: [subscribe] handlers need astrid-hook-trigger and cabi_realloc and no run
    loop; the module's initial memory fits [limits] memory_pages.

One line per problem ("<path>: <problem>", warnings as "<path>: warning: <problem>"), then a
summary. Exit code 1 if any error was found, 0 otherwise (warnings alone do not fail).`,
		Example: `  astrid-actors validate ./capsules
  astrid-actors validate examples testdata/capsules`,
		Args: minArgs(1, "at least one capsule directory"),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	o.cache.register(cmd)
	return cmd
}

// validation collects the problems; print writes them grouped by manifest.
type validation struct {
	errors, warns int
	manifestPaths []string
	pathByCapsule map[string]string
	problems      []problem
	seen          map[string]bool
}

type problem struct{ path, line string }

func (v *validation) add(line string) bool {
	if v.seen[line] {
		return false
	}
	v.seen[line] = true
	path, _ := v.splitPath(line)
	v.problems = append(v.problems, problem{path: path, line: line})
	return true
}

func (v *validation) errorf(format string, args ...any) {
	if v.add(oneLine(fmt.Sprintf(format, args...))) {
		v.errors++
	}
}

// warning records "<path>: warning: <rest>" for a warning that starts with a path.
func (v *validation) warning(w string) {
	path, rest := v.splitPath(w)
	line := "warning: " + oneLine(rest)
	if path != "" {
		line = path + ": " + line
	}
	if v.add(line) {
		v.warns++
	}
}

// print writes the problems, those of one manifest together, in path order (problems without
// a path last).
func (v *validation) print(w io.Writer) {
	slices.SortStableFunc(v.problems, func(a, b problem) int {
		switch {
		case a.path == b.path:
			return 0
		case a.path == "":
			return 1
		case b.path == "":
			return -1
		}
		return strings.Compare(a.path, b.path)
	})
	for _, p := range v.problems {
		fmt.Fprintln(w, p.line)
	}
}

// splitPath splits "<path>: <rest>"; path is "" when msg does not start with a path.
func (v *validation) splitPath(msg string) (path, rest string) {
	for _, p := range v.manifestPaths {
		if r, ok := strings.CutPrefix(msg, p+": "); ok {
			return p, r
		}
	}
	if i := strings.Index(msg, ": "); i > 0 && filepath.IsAbs(msg[:i]) {
		return msg[:i], msg[i+2:]
	}
	// Order warnings start with `capsule "<name>"`.
	for name, p := range v.pathByCapsule {
		if strings.HasPrefix(msg, fmt.Sprintf("capsule %q ", name)) {
			return p, msg
		}
	}
	return "", msg
}

// errorTree prints every leaf of a (joined) error.
func (v *validation) errorTree(err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			v.errorTree(e)
		}
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(line) != "" {
			v.errorf("%s", line)
		}
	}
}

func (o *validateOptions) run(cmd *cobra.Command, dirs []string) error {
	if err := checkDirs(dirs); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	ctx := context.Background()
	out := cmd.OutOrStdout()
	v := &validation{pathByCapsule: map[string]string{}, seen: map[string]bool{}}
	ms, warnings, errs := manifest.Discover(dirs...)
	ordered, orderWarnings := manifest.Order(ms)
	for _, m := range ms {
		v.manifestPaths = append(v.manifestPaths, m.Path)
		v.pathByCapsule[m.Package.Name] = m.Path
	}
	for _, err := range errs {
		v.errorTree(err)
	}
	for _, w := range warnings {
		v.warning(w)
	}
	for _, m := range ms {
		for _, w := range m.Warnings {
			v.warning(w)
		}
	}
	for _, w := range orderWarnings {
		v.warning(w)
	}

	engine, err := newEngine(ctx, &o.cache, &lineWriter{w: cmd.ErrOrStderr()})
	if err != nil {
		return err
	}
	defer engine.Close(ctx)
	var names []string
	for _, m := range ordered {
		names = append(names, m.Package.Name)
		v.checkComponent(ctx, engine, m)
	}

	// Each error of Discover is one manifest that could not be loaded (or an unreadable
	// directory).
	total := len(ms) + len(errs)
	if total == 0 && v.errors == 0 {
		v.errorf("no %s found under %s", manifest.FileName, strings.Join(dirs, ", "))
	}
	v.print(out)
	if len(names) > 0 {
		fmt.Fprintf(out, "capsules in load order: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(out, "%d manifest(s) checked: %d error(s), %d warning(s)\n", total, v.errors, v.warns)
	if v.errors > 0 {
		return fmt.Errorf("validate: %d error(s) found", v.errors)
	}
	return nil
}

// checkComponent checks what Load would do with a valid manifest: read and verify the wasm,
// compile it, build the capsule spec.
func (v *validation) checkComponent(ctx context.Context, engine *actors.Engine, m *manifest.Manifest) {
	wasm, err := m.ReadWasm()
	if err != nil {
		v.errorTree(err)
		return
	}
	file := m.Components[0].File
	mod, err := engine.Compile(ctx, wasm)
	if err != nil {
		v.errorf("%s: [[component]] #1 file: %q: %v", m.Path, file, err)
		return
	}
	spec, err := actors.SpecFromManifest(m, mod)
	if err != nil {
		msg := strings.Replace(err.Error(), fmt.Sprintf("capsule %s (%s): ", m.Package.Name, m.Path), "", 1)
		v.errorf("%s: %s", m.Path, msg)
		return
	}
	if spec.Policy != nil {
		if err := spec.Policy.Validate(); err != nil {
			v.errorf("%s: [supervision]: %v", m.Path, err)
		}
	}
	limit := m.Limits.MemoryPages
	if limit == 0 {
		limit = actors.DefaultMemoryPages
	}
	if minPages, _, _ := mod.Memory(); minPages > limit {
		v.errorf("%s: [limits] memory_pages: %q needs %d memory pages at start, the limit is %d", m.Path, file, minPages, limit)
	}
	if mod.Entry() == actors.EntryNone && len(m.Interceptors()) == 0 {
		v.warning(fmt.Sprintf("%s: %q exports no run loop (run or _start) and the manifest declares no [subscribe] handlers: the capsule will never run any code", m.Path, file))
	}
}
