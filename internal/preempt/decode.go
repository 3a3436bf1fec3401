package preempt

import (
	"errors"
	"fmt"
)

// errTruncated is a read past the end of a section or body.
var errTruncated = errors.New("unexpected end")

// reader decodes the binary format; every read is bounds-checked.
type reader struct {
	b []byte
	i int
}

func (r *reader) done() bool { return r.i >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.i {
		return nil, errTruncated
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	return p, nil
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, errors.New("integer too large")
			}
			return uint32(v), nil
		}
	}
	return 0, errors.New("integer representation too long")
}

// sleb skips a signed LEB128 of at most bits bits.
func (r *reader) sleb(bits int) (int64, error) {
	var v int64
	shift := 0
	for n := 0; n < (bits+6)/7; n++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, errors.New("integer representation too long")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.take(int(n))
	return string(b), err
}

// limits skips a table or memory type's limits (flags 0x00: min; 0x01: min max; 0x02/0x03,
// shared memories, the same with the shared bit).
func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if flags > 3 {
		return fmt.Errorf("unknown limits flags 0x%02x", flags)
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.u32()
	}
	return err
}

// blockType skips a block type: 0x40 (empty), one value type, or a type index (s33).
func (r *reader) blockType() error {
	if r.i >= len(r.b) {
		return errTruncated
	}
	switch r.b[r.i] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.i++
		return nil
	}
	v, err := r.sleb(33)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("block type %d", v)
	}
	return nil
}

func (r *reader) memarg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		return errors.New("memarg with a memory index (multi-memory is not enabled)")
	}
	_, err = r.u32()
	return err
}

// immediates skips the immediates of op (any opcode but call, ref.func and loop, which the
// caller rewrites), or fails for an opcode outside the engine's features.
func (r *reader) immediates(op byte) error {
	var err error
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// no immediates
	case op == 0x02, op == 0x04: // block, if
		err = r.blockType()
	case op == 0x0c, op == 0x0d: // br, br_if
		_, err = r.u32()
	case op == 0x0e: // br_table
		var n uint32
		if n, err = r.u32(); err == nil {
			for i := uint64(0); i <= uint64(n) && err == nil; i++ {
				_, err = r.u32()
			}
		}
	case op == 0x11: // call_indirect typeidx tableidx
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case op == 0x1c: // select t*
		var n uint32
		if n, err = r.u32(); err == nil {
			_, err = r.take(int(n))
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		_, err = r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		err = r.memarg()
	case op == 0x3f, op == 0x40: // memory.size, memory.grow
		_, err = r.byte()
	case op == 0x41:
		_, err = r.sleb(32)
	case op == 0x42:
		_, err = r.sleb(64)
	case op == 0x43:
		_, err = r.take(4)
	case op == 0x44:
		_, err = r.take(8)
	case op == 0xd0: // ref.null t
		_, err = r.byte()
	case op == 0xfc:
		err = r.misc()
	case op == 0xfd:
		err = r.simd()
	default:
		// 0x06–0x0a, 0x18/0x19/0x1f (exceptions), 0x12–0x15 (tail calls, typed function
		// references), 0xd3–0xd6, 0xfe (threads): features the engine does not enable.
		return fmt.Errorf("opcode 0x%02x is not supported (feature not enabled)", op)
	}
	return err
}

// misc skips a 0xfc instruction: saturating truncations, bulk memory and table operations.
func (r *reader) misc() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7:
		return nil
	case sub == 8: // memory.init dataidx 0x00
		if _, err = r.u32(); err == nil {
			_, err = r.byte()
		}
	case sub == 9, sub == 13, sub >= 15 && sub <= 17: // data.drop, elem.drop, table.grow/size/fill
		_, err = r.u32()
	case sub == 10: // memory.copy 0x00 0x00
		_, err = r.take(2)
	case sub == 11: // memory.fill 0x00
		_, err = r.byte()
	case sub == 12, sub == 14: // table.init elem table, table.copy dst src
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	default:
		return fmt.Errorf("opcode 0xfc %d is not supported", sub)
	}
	return err
}

// simdNoImmediate marks the SIMD opcodes (0xfd n) that exist and take no immediate: the
// opcodes wazero v1.12 decodes (internal/wasm/instruction.go, OpcodeVec*) but the memory,
// constant, shuffle and lane ones.
var simdNoImmediate = func() (s [256]bool) {
	for _, r := range [][2]int{
		{0x0e, 0x14}, {0x23, 0x53}, {0x5e, 0x93}, {0x94, 0x99}, {0x9b, 0xa1}, {0xa3, 0xa4},
		{0xa7, 0xae}, {0xb1, 0xb1}, {0xb5, 0xba}, {0xbc, 0xc1}, {0xc3, 0xc4}, {0xc7, 0xce},
		{0xd1, 0xd1}, {0xd5, 0xe1}, {0xe3, 0xed}, {0xef, 0xff},
	} {
		for op := r[0]; op <= r[1]; op++ {
			s[op] = true
		}
	}
	return s
}()

// simd skips a 0xfd instruction.
func (r *reader) simd() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 0x0b, sub == 0x5c, sub == 0x5d: // loads, store, load32/64_zero
		return r.memarg()
	case sub == 0x0c, sub == 0x0d: // v128.const, i8x16.shuffle
		_, err = r.take(16)
	case sub >= 0x15 && sub <= 0x22: // extract/replace lane
		_, err = r.byte()
	case sub >= 0x54 && sub <= 0x5b: // load/store lane
		if err = r.memarg(); err == nil {
			_, err = r.byte()
		}
	case sub < 256 && simdNoImmediate[sub]:
		return nil
	default:
		return fmt.Errorf("opcode 0xfd %d is not supported", sub)
	}
	return err
}

// writer encodes the binary format.
type writer struct{ b []byte }

func (w *writer) byte(c byte)    { w.b = append(w.b, c) }
func (w *writer) bytes(p []byte) { w.b = append(w.b, p...) }

func (w *writer) u32(v uint32) {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		w.b = append(w.b, c)
		if v == 0 {
			return
		}
	}
}

func (w *writer) s32(v int32) {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			w.b = append(w.b, c)
			return
		}
		w.b = append(w.b, c|0x80)
	}
}

func (w *writer) name(s string) {
	w.u32(uint32(len(s)))
	w.b = append(w.b, s...)
}
