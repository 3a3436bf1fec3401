package preempt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Section ids of the core binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// errCount is a vector section whose count cannot fit its bytes.
var errCount = errors.New("vector count exceeds the section")

// sectionRank is the order non-custom sections must appear in.
var sectionRank = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secGlobal: 6,
	secExport: 7, secStart: 8, secElement: 9, secDataCount: 10, secCode: 11, secData: 12,
}

type section struct {
	id      byte
	payload []byte
}

var header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// Instrument returns wasm rewritten with the countdown and its checks, with the default
// Budget. See InstrumentBudget.
func Instrument(wasm []byte) ([]byte, error) { return InstrumentBudget(wasm, Budget) }

// InstrumentBudget returns wasm rewritten so that astrid:preempt.check is called once every
// budget function entries and loop headers. The new function import is appended to the
// import section, so every defined function's index grows by one: calls, ref.func, element
// segments, exports, the start function and the name section's function, local and label
// names are renumbered. The countdown global is appended to the global section (no global
// index moves). DWARF sections (.debug_*), whose code offsets the insertion would falsify,
// are dropped; other custom sections are kept. A module importing from Module itself fails
// with ErrReserved; bytes that cannot be decoded fail with ErrMalformed.
func InstrumentBudget(wasm []byte, budget uint32) (out []byte, err error) {
	if budget == 0 || budget > 1<<30 {
		return nil, fmt.Errorf("%w: budget %d outside [1, 2^30]", ErrMalformed, budget)
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], header) {
		return nil, ErrNotModule
	}
	secs, err := splitSections(wasm[8:])
	if err != nil {
		return nil, err
	}
	secs = ensureSections(secs, secType, secImport, secGlobal)
	in := &instrumenter{budget: budget}
	// The counts the rewrite needs come from the sections before code: types, imports,
	// globals.
	for _, s := range secs {
		switch s.id {
		case secType:
			n, err := vecCount(s.payload)
			if err != nil {
				return nil, fmt.Errorf("%w: type section: %w", ErrMalformed, err)
			}
			in.checkType = n
		case secImport:
			if err := in.scanImports(s.payload); err != nil {
				return nil, err
			}
		case secGlobal:
			n, err := vecCount(s.payload)
			if err != nil {
				return nil, fmt.Errorf("%w: global section: %w", ErrMalformed, err)
			}
			in.counter = in.importedGlobals + n
		}
	}
	in.checkFunc = in.importedFuncs
	in.buildCheck()
	var w writer
	w.bytes(header)
	for _, s := range secs {
		p, keep, err := in.rewrite(s)
		if err != nil {
			return nil, err
		}
		if !keep {
			continue
		}
		w.byte(s.id)
		w.u32(uint32(len(p)))
		w.bytes(p)
	}
	return w.b, nil
}

// splitSections cuts the module body into its sections.
func splitSections(b []byte) ([]section, error) {
	r := &reader{b: b}
	var secs []section
	last := 0
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("%w: section %d size: %w", ErrMalformed, id, err)
		}
		p, err := r.take(int(size))
		if err != nil {
			// A section running past the end is refused; its count is checked against the
			// bytes that are there, as wazero's decoder reads (and allocates by) it first.
			if rest := r.b[r.i:]; isVector(id) && !countFits(rest) {
				return nil, fmt.Errorf("%w: section %d: %w (%d bytes left)", ErrMalformed, id, errCount, len(rest))
			}
			return nil, fmt.Errorf("%w: section %d: %w", ErrMalformed, id, err)
		}
		if id != secCustom {
			rank, ok := sectionRank[id]
			if !ok {
				return nil, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
			}
			if rank <= last {
				return nil, fmt.Errorf("%w: section %d out of order or repeated", ErrMalformed, id)
			}
			last = rank
			if isVector(id) && !countFits(p) {
				return nil, fmt.Errorf("%w: section %d: %w (%d bytes)", ErrMalformed, id, errCount, len(p))
			}
		}
		secs = append(secs, section{id: id, payload: p})
	}
	return secs, nil
}

// isVector reports whether the payload of a known section of this id starts with a vector
// count (all but custom, start and data count sections).
func isVector(id byte) bool {
	_, known := sectionRank[id]
	return known && id != secCustom && id != secStart && id != secDataCount
}

// countFits reports whether the vector count p starts with can be that of p: every entry takes
// a byte at least, so a larger count cannot be read (and a decoder that allocates by the count
// would run out of memory).
func countFits(p []byte) bool {
	n, err := vecCount(p)
	return err == nil && uint64(n) <= uint64(len(p))
}

// ensureSections inserts an empty vector section for each id absent from secs, where the
// section order puts it.
func ensureSections(secs []section, ids ...byte) []section {
	for _, id := range ids {
		present, at := false, len(secs)
		for i, s := range secs {
			if s.id == id {
				present = true
				break
			}
			if s.id != secCustom && sectionRank[s.id] > sectionRank[id] {
				at = i
				break
			}
		}
		if present {
			continue
		}
		secs = append(secs[:at], append([]section{{id: id, payload: []byte{0}}}, secs[at:]...)...)
	}
	return secs
}

// instrumenter holds the indices of one rewrite.
type instrumenter struct {
	budget          uint32
	importedFuncs   uint32 // function imports of the guest: indices below it do not move
	importedGlobals uint32
	checkType       uint32 // index of the () -> () type appended to the type section
	checkFunc       uint32 // index of astrid:preempt.check: the old first defined function's
	counter         uint32 // index of the countdown global
	check           []byte // the instructions inserted at function entries and loop headers
}

// fn renumbers a function index.
func (in *instrumenter) fn(idx uint32) uint32 {
	if idx >= in.importedFuncs {
		return idx + 1
	}
	return idx
}

// buildCheck assembles the inserted code:
//
//	global.get $counter
//	if
//	  global.get $counter  i32.const 1  i32.sub  global.set $counter
//	else
//	  i32.const budget  global.set $counter  call $check
//	end
//
// It is stack-neutral and self-contained, so no branch depth of the guest's code changes.
func (in *instrumenter) buildCheck() {
	var w writer
	w.byte(0x23)
	w.u32(in.counter)
	w.bytes([]byte{0x04, 0x40, 0x23})
	w.u32(in.counter)
	w.bytes([]byte{0x41, 0x01, 0x6b, 0x24})
	w.u32(in.counter)
	w.bytes([]byte{0x05, 0x41})
	w.s32(int32(in.budget))
	w.byte(0x24)
	w.u32(in.counter)
	w.byte(0x10)
	w.u32(in.checkFunc)
	w.byte(0x0b)
	in.check = w.b
}

func (in *instrumenter) scanImports(p []byte) error {
	r := &reader{b: p}
	n, err := r.u32()
	if err != nil {
		return fmt.Errorf("%w: import section: %w", ErrMalformed, err)
	}
	for i := uint32(0); i < n; i++ {
		mod, err := r.name()
		if err != nil {
			return fmt.Errorf("%w: import %d: %w", ErrMalformed, i, err)
		}
		name, err := r.name()
		if err != nil {
			return fmt.Errorf("%w: import %d: %w", ErrMalformed, i, err)
		}
		if mod == Module {
			return fmt.Errorf("%w (%s.%s)", ErrReserved, mod, name)
		}
		kind, err := r.byte()
		if err != nil {
			return fmt.Errorf("%w: import %s.%s: %w", ErrMalformed, mod, name, err)
		}
		switch kind {
		case 0x00: // function
			_, err = r.u32()
			in.importedFuncs++
		case 0x01: // table
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 0x02: // memory
			err = r.limits()
		case 0x03: // global
			if _, err = r.byte(); err == nil {
				_, err = r.byte()
			}
			in.importedGlobals++
		default:
			err = fmt.Errorf("unknown import kind 0x%02x", kind)
		}
		if err != nil {
			return fmt.Errorf("%w: import %s.%s: %w", ErrMalformed, mod, name, err)
		}
	}
	if !r.done() {
		return fmt.Errorf("%w: import section: %d trailing bytes", ErrMalformed, len(r.b)-r.i)
	}
	return nil
}

// rewrite returns a section's new payload, or keep false to drop it.
func (in *instrumenter) rewrite(s section) (p []byte, keep bool, err error) {
	switch s.id {
	case secCustom:
		r := &reader{b: s.payload}
		name, err := r.name()
		if err != nil {
			return nil, false, fmt.Errorf("%w: custom section name: %w", ErrMalformed, err)
		}
		if strings.HasPrefix(name, ".debug_") {
			return nil, false, nil
		}
		if name == "name" {
			p, err := in.rewriteNames(r.b[r.i:])
			if err != nil {
				// A malformed name section does not stop wazero (it ignores what it cannot
				// read); it cannot be renumbered, so it is dropped rather than kept wrong.
				return nil, false, nil //nolint:nilerr
			}
			var w writer
			w.name(name)
			w.bytes(p)
			return w.b, true, nil
		}
		return s.payload, true, nil
	case secType:
		p, err = appendEntry(s.payload, []byte{0x60, 0x00, 0x00})
	case secImport:
		var e writer
		e.name(Module)
		e.name(Name)
		e.byte(0x00)
		e.u32(in.checkType)
		p, err = appendEntry(s.payload, e.b)
	case secGlobal:
		p, err = in.rewriteGlobals(s.payload)
	case secExport:
		p, err = in.rewriteExports(s.payload)
	case secStart:
		r := &reader{b: s.payload}
		var idx uint32
		if idx, err = r.u32(); err == nil && !r.done() {
			err = fmt.Errorf("trailing bytes")
		}
		var w writer
		w.u32(in.fn(idx))
		p = w.b
	case secElement:
		p, err = in.rewriteElements(s.payload)
	case secCode:
		p, err = in.rewriteCode(s.payload)
	default:
		return s.payload, true, nil
	}
	if err != nil {
		if !isKnown(err) {
			err = fmt.Errorf("%w: section %d: %w", ErrMalformed, s.id, err)
		}
		return nil, false, err
	}
	return p, true, nil
}

// isKnown reports whether err already carries ErrMalformed or ErrReserved.
func isKnown(err error) bool { return errors.Is(err, ErrMalformed) || errors.Is(err, ErrReserved) }

// appendEntry appends one encoded entry to a vector section payload.
func appendEntry(p, entry []byte) ([]byte, error) {
	r := &reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	var w writer
	w.u32(n + 1)
	w.bytes(r.b[r.i:])
	w.bytes(entry)
	return w.b, nil
}

func vecCount(p []byte) (uint32, error) {
	r := &reader{b: p}
	return r.u32()
}

// rewriteVector copies the vector that is section payload p entry by entry through entry,
// which reads entry i from r and writes its new encoding to w, and refuses bytes after the
// last entry. The copy declares extra more entries than p, for the caller to append to the
// returned writer.
func rewriteVector(p []byte, extra uint32, entry func(i uint32, r *reader, w *writer) error) (*writer, error) {
	r := &reader{b: p}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	w := &writer{}
	w.u32(n + extra)
	for i := uint32(0); i < n; i++ {
		if err := entry(i, r, w); err != nil {
			return nil, err
		}
	}
	if !r.done() {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b)-r.i)
	}
	return w, nil
}

// rewriteEntries is rewriteVector without extra entries, returning the new payload.
func rewriteEntries(p []byte, entry func(i uint32, r *reader, w *writer) error) ([]byte, error) {
	w, err := rewriteVector(p, 0, entry)
	if err != nil {
		return nil, err
	}
	return w.b, nil
}

func (in *instrumenter) rewriteGlobals(p []byte) ([]byte, error) {
	w, err := rewriteVector(p, 1, func(i uint32, r *reader, w *writer) error {
		t, err := r.take(2) // value type, mutability
		if err != nil {
			return fmt.Errorf("global %d: %w", i, err)
		}
		w.bytes(t)
		if err := in.constExpr(r, w); err != nil {
			return fmt.Errorf("global %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w.bytes([]byte{0x7f, 0x01, 0x41}) // i32, mutable, i32.const
	w.s32(int32(in.budget))
	w.byte(0x0b)
	return w.b, nil
}

func (in *instrumenter) rewriteExports(p []byte) ([]byte, error) {
	return rewriteEntries(p, func(i uint32, r *reader, w *writer) error {
		name, err := r.name()
		if err != nil {
			return fmt.Errorf("export %d: %w", i, err)
		}
		kind, err := r.byte()
		if err != nil {
			return fmt.Errorf("export %q: %w", name, err)
		}
		idx, err := r.u32()
		if err != nil {
			return fmt.Errorf("export %q: %w", name, err)
		}
		if kind == 0x00 {
			idx = in.fn(idx)
		}
		w.name(name)
		w.byte(kind)
		w.u32(idx)
		return nil
	})
}

// rewriteElements renumbers the function indices of every element segment, in its eight
// encodings (flags 0–7).
func (in *instrumenter) rewriteElements(p []byte) ([]byte, error) {
	return rewriteEntries(p, func(i uint32, r *reader, w *writer) error {
		flags, err := r.u32()
		if err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
		if flags > 7 {
			return fmt.Errorf("element %d: unknown flags %d", i, flags)
		}
		w.u32(flags)
		passiveOrDeclarative, explicitTable, usesExprs := flags&1 != 0, flags&2 != 0, flags&4 != 0
		if explicitTable && !passiveOrDeclarative {
			t, err := r.u32()
			if err != nil {
				return fmt.Errorf("element %d table: %w", i, err)
			}
			w.u32(t)
		}
		if !passiveOrDeclarative {
			if err := in.constExpr(r, w); err != nil {
				return fmt.Errorf("element %d offset: %w", i, err)
			}
		}
		if flags&3 != 0 { // elemkind (0x00 funcref) or reftype
			k, err := r.byte()
			if err != nil {
				return fmt.Errorf("element %d kind: %w", i, err)
			}
			w.byte(k)
		}
		count, err := r.u32()
		if err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
		w.u32(count)
		for j := uint32(0); j < count; j++ {
			if usesExprs {
				err = in.constExpr(r, w)
			} else {
				var idx uint32
				if idx, err = r.u32(); err == nil {
					w.u32(in.fn(idx))
				}
			}
			if err != nil {
				return fmt.Errorf("element %d item %d: %w", i, j, err)
			}
		}
		return nil
	})
}

// constExpr copies one constant expression up to and including its end, renumbering
// ref.func.
func (in *instrumenter) constExpr(r *reader, w *writer) error {
	for {
		start := r.i
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			w.byte(op)
			return nil
		case 0x41: // i32.const
			_, err = r.sleb(32)
		case 0x42: // i64.const
			_, err = r.sleb(64)
		case 0x43:
			_, err = r.take(4)
		case 0x44:
			_, err = r.take(8)
		case 0x23: // global.get
			_, err = r.u32()
		case 0xd0: // ref.null
			_, err = r.byte()
		case 0xd2: // ref.func
			var idx uint32
			if idx, err = r.u32(); err == nil {
				w.byte(op)
				w.u32(in.fn(idx))
				continue
			}
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.u32(); err == nil {
				if sub != 12 {
					err = fmt.Errorf("opcode 0xfd %d in a constant expression", sub)
				} else {
					_, err = r.take(16)
				}
			}
		default:
			err = fmt.Errorf("opcode 0x%02x in a constant expression", op)
		}
		if err != nil {
			return err
		}
		w.bytes(r.b[start:r.i])
	}
}

func (in *instrumenter) rewriteCode(p []byte) ([]byte, error) {
	return rewriteEntries(p, func(i uint32, r *reader, w *writer) error {
		size, err := r.u32()
		if err != nil {
			return fmt.Errorf("function body %d: %w", i, err)
		}
		body, err := r.take(int(size))
		if err != nil {
			return fmt.Errorf("function body %d: %w", i, err)
		}
		nb, err := in.rewriteBody(body)
		if err != nil {
			return fmt.Errorf("function %d: %w", in.importedFuncs+i, err)
		}
		w.u32(uint32(len(nb)))
		w.bytes(nb)
		return nil
	})
}

// rewriteBody copies a function body, inserting the check after its locals and after every
// loop's block type, and renumbering call and ref.func.
func (in *instrumenter) rewriteBody(body []byte) ([]byte, error) {
	r := &reader{b: body}
	groups, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("locals: %w", err)
	}
	for g := uint32(0); g < groups; g++ {
		if _, err := r.u32(); err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
		if _, err := r.byte(); err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
	}
	w := writer{b: make([]byte, 0, len(body)+len(in.check)*4)}
	w.bytes(body[:r.i])
	w.bytes(in.check)
	for !r.done() {
		start := r.i
		op, _ := r.byte()
		switch op {
		case 0x10: // call
			idx, err := r.u32()
			if err != nil {
				return nil, fmt.Errorf("call at %d: %w", start, err)
			}
			w.byte(op)
			w.u32(in.fn(idx))
			continue
		case 0xd2: // ref.func
			idx, err := r.u32()
			if err != nil {
				return nil, fmt.Errorf("ref.func at %d: %w", start, err)
			}
			w.byte(op)
			w.u32(in.fn(idx))
			continue
		case 0x03: // loop
			if err := r.blockType(); err != nil {
				return nil, fmt.Errorf("loop at %d: %w", start, err)
			}
			w.bytes(r.b[start:r.i])
			w.bytes(in.check)
			continue
		}
		if err := r.immediates(op); err != nil {
			return nil, fmt.Errorf("instruction 0x%02x at %d: %w", op, start, err)
		}
		w.bytes(r.b[start:r.i])
	}
	return w.b, nil
}

// rewriteNames renumbers the name section's function names (1), local names (2) and label
// names (3); the other subsections are kept as they are.
func (in *instrumenter) rewriteNames(p []byte) ([]byte, error) {
	r := &reader{b: p}
	var w writer
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		sub, err := r.take(int(size))
		if err != nil {
			return nil, err
		}
		switch id {
		case 1:
			sub, err = in.renumberNameMap(sub, false)
		case 2, 3:
			sub, err = in.renumberNameMap(sub, true)
		}
		if err != nil {
			return nil, err
		}
		w.byte(id)
		w.u32(uint32(len(sub)))
		w.bytes(sub)
	}
	return w.b, nil
}

// renumberNameMap renumbers the function indices of a name map (idx name)* or, when
// indirect, of an indirect name map (idx ((idx name)*))*.
func (in *instrumenter) renumberNameMap(p []byte, indirect bool) ([]byte, error) {
	return rewriteEntries(p, func(_ uint32, r *reader, w *writer) error {
		idx, err := r.u32()
		if err != nil {
			return err
		}
		w.u32(in.fn(idx))
		start := r.i
		if indirect {
			m, err := r.u32()
			if err != nil {
				return err
			}
			for j := uint32(0); j < m; j++ {
				if _, err := r.u32(); err != nil {
					return err
				}
				if _, err := r.name(); err != nil {
					return err
				}
			}
		} else if _, err := r.name(); err != nil {
			return err
		}
		w.bytes(r.b[start:r.i])
		return nil
	})
}
