package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Discover finds every capsule manifest under dirs and loads it with Load.
//
// Each dir is searched in the order given. A directory with an entry named Capsule.toml is
// a capsule directory and is not searched further: a regular Capsule.toml is loaded, any
// other kind (e.g. a symlink) is ignored with a warning. Any other directory is searched
// recursively, its entries in lexical order. Symlinked directories are not followed (a dir
// given as an argument may itself be a symlink). A dir that does not exist, is not a
// directory or cannot be read is reported in errs (CheckDir), naming it; the other dirs are
// searched regardless.
//
// A manifest that fails to load is reported in errs and skipped. When two manifests have the
// same package name, the first found wins and each later one is skipped with a warning; the
// same manifest file reached twice (overlapping dirs) is skipped silently. warnings holds
// only discovery's own findings: each returned manifest keeps its parse warnings in its
// Warnings field. The manifests are returned in discovery order.
func Discover(dirs ...string) (ms []*Manifest, warnings []string, errs []error) {
	d := &discovery{byName: map[string]*Manifest{}, files: map[string]bool{}}
	for _, dir := range dirs {
		if err := CheckDir(dir); err != nil {
			d.errs = append(d.errs, err)
			continue
		}
		d.walk(dir)
	}
	return d.ms, d.warns, d.errs
}

// CheckDir returns an error naming dir unless it is an existing directory (or a symlink to
// one): "<dir>: no such directory" (wrapping fs.ErrNotExist), "<dir>: not a directory", or
// the stat error.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Path: dir, Problem: "no such directory", Err: fs.ErrNotExist}
	case err != nil:
		return err
	case !fi.IsDir():
		return &Error{Path: dir, Problem: "not a directory"}
	}
	return nil
}

type discovery struct {
	ms     []*Manifest
	warns  []string
	errs   []error
	byName map[string]*Manifest
	files  map[string]bool // resolved manifest paths already seen
}

func (d *discovery) walk(dir string) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		d.errs = append(d.errs, err)
		return
	}
	for _, e := range entries {
		if e.Name() != FileName {
			continue
		}
		path := filepath.Join(dir, FileName)
		if !e.Type().IsRegular() {
			d.warns = append(d.warns, fmt.Sprintf("%s: ignored: not a regular file (symlinked manifests are not followed)", absPath(path)))
			return
		}
		d.load(path)
		return
	}
	for _, e := range entries {
		if e.IsDir() { // false for a symlink, even to a directory
			d.walk(filepath.Join(dir, e.Name()))
		}
	}
}

func (d *discovery) load(path string) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if d.files[real] {
			return
		}
		d.files[real] = true
	}
	m, err := Load(path)
	if err != nil {
		d.errs = append(d.errs, err)
		return
	}
	if first, dup := d.byName[m.Package.Name]; dup {
		d.warns = append(d.warns, fmt.Sprintf("%s: capsule %q ignored: already defined by %s", m.Path, m.Package.Name, first.Path))
		return
	}
	d.byName[m.Package.Name] = m
	d.ms = append(d.ms, m)
}
