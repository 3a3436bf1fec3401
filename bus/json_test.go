package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tidwall/gjson"
)

var jsonCases = []string{
	`{"a":[1,{"b":[]},{}],"c":"d\\\"\u00e9\/"}`, `[[[]]]`, `{"a":1,}`, `{,}`, `[,1]`, `{"a":1 "b":2}`,
	`{"a"}`, `{1:2}`, `[1 2]`, `-`, `-01`, `1e`, `1e+`, `1.5e-3`, `0.0`, `00`, `"\u12"`, `"\uZZZZ"`,
	`[}`, `{]`, `]`, `}`, `"unterminated`, `tru`, `falsey`, `nullx`, "\t[1]\n", `"a\tb"`, "\"a\tb\"",
	`{}`, `[]`, `[1,2]`, `"\u00e9"`, `1e5`, `-0`, `0.5`, `true`, ` null `, `{"a":{"b":[1,"x",null]}}`,
	`01`, `{"a":}`, "\"\xff\"", `[1,]`, `nul`, `"\ud800"`, `1.`, `.5`, `{"a":1,"a":2}`, "\"\x01\"",
	`[`, ``, ` `, `{"a" 1}`, `"\x"`, `1 2`, `+1`, `Infinity`, `"` + strings.Repeat("x", 100) + `"`,
	"\xff", "[\"\xc3\"]", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc0\xaf\"", "\"é\"", "\"\U0001F600\"",
	"{\"\xfe\":1}", "\xef\xbb\xbf{}",
	`{"a,b":"c:d","e]":["{x}"," [ "]}`, `["\\"]`, `["\\\""]`, `["\\\\",1]`, `"a\"b\"c"`, `["\\"1]`,
	`[1\"]`, `[1\""]`, `\"`, `[\"]"]`, "[1,\f2]", "[1\x1a2]", "[\"\x1a\"]", `[-0.0e+0]`, `[1E-0]`, `[1.0E]`,
	`[tru]`, `[truee]`, `[nulll]`, `[fals]`, `[-]`, `[0x1]`, `[1.e1]`, `[01.5]`, `[-01]`, `[1]]`, `[[1]`,
}

// wantJSON is the reference: encoding/json's grammar, and UTF-8 throughout (RFC 8259 §8.1).
func wantJSON(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }

func TestValidJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := append(jsonCases, deep(9999), deep(10000), deep(10001), deep(200000),
		`{"a":`+deep(9998)+`}`, strings.Repeat(`{"a":`, 10001)+"1"+strings.Repeat("}", 10001))
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), wantJSON([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, encoding/json + utf8 say %v", c, got, want)
		}
		if got, want := scanJSON([]byte(c)), wantJSON([]byte(c)); got != want {
			t.Errorf("scanJSON(%.40q) = %v, encoding/json + utf8 say %v", c, got, want)
		}
		checkBlockValidators(t, []byte(c))
	}
}

// FuzzValidJSONAgreesWithEncodingJSON checks the fast validator differentially against the
// reference: encoding/json.Valid and utf8.Valid.
func FuzzValidJSONAgreesWithEncodingJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	for _, shape := range jsonShapes { // every benchmark shape, one and several blocks long
		f.Add(shape.gen(128))
		f.Add(shape.gen(300))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := wantJSON(b)
		if got := validJSON(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json + utf8 say %v", b, got, want)
		}
		if got := scanJSON(b); got != want {
			t.Fatalf("scanJSON(%q) = %v, encoding/json + utf8 say %v", b, got, want)
		}
		checkBlockValidators(t, b)
	})
}

func BenchmarkValidJSON(b *testing.B) {
	b.Run("gjson", func(b *testing.B) {
		for range b.N {
			validJSON(payload128)
		}
	})
	b.Run("utf8-only", func(b *testing.B) { // the UTF-8 part of validJSON, for its share
		for range b.N {
			utf8.Valid(payload128)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			json.Valid(payload128)
		}
	})
}

// validJSONGjson is the validator before scanJSON (utf8.Valid, then gjson below the nesting
// bound, else encoding/json), kept as the benchmarks' baseline.
func validJSONGjson(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	if bytes.Count(b, []byte{'['})+bytes.Count(b, []byte{'{'}) >= maxJSONNesting {
		return json.Valid(b)
	}
	return gjson.ValidBytes(b)
}

// checkBlockValidators checks the block validator on b against the reference, with the
// portable stage 1 and (where the CPU has AVX2) the assembly one, and checks that the two stage 1
// give the same masks. The block validator sees b at every alignment of a block: the text
// itself, and shifted by each of 1..63 leading spaces when it is short.
func checkBlockValidators(t *testing.T, b []byte) {
	t.Helper()
	want := wantJSON(b)
	shifts := []int{0}
	if len(b) < 256 {
		shifts = []int{0, 1, 7, 31, 32, 33, 63}
	}
	for _, s := range shifts {
		p := append(bytes.Repeat([]byte{' '}, s), b...)
		if got := scanJSONBlocks(p, false); got != want {
			t.Fatalf("scanJSONBlocks(%q, portable) = %v, encoding/json + utf8 say %v", p, got, want)
		}
		if got := scanJSONBlocksOld(p, false); got != want {
			t.Fatalf("scanJSONBlocksOld(%q, portable) = %v, encoding/json + utf8 say %v", p, got, want)
		}
		if haveStage1Asm {
			if got := scanJSONBlocks(p, true); got != want {
				t.Fatalf("scanJSONBlocks(%q, AVX2) = %v, encoding/json + utf8 say %v", p, got, want)
			}
		}
	}
	if !haveStage1Asm {
		return
	}
	checkGrammars(t, b)
	if got, want := validUTF8(b, true), utf8.Valid(b); got != want {
		t.Fatalf("validUTF8(%q, AVX2) = %v, utf8.Valid says %v", b, got, want)
	}
	nb := (len(b) + 63) / 64
	src := make([]byte, nb*64)
	copy(src, b)
	goMasks, asmMasks := make([]blockMasks, nb), make([]blockMasks, nb)
	goNA := stage1Go(src, nb, goMasks)
	var asmNA bool
	if nb > 0 {
		asmNA = stage1AVX2(&src[0], nb, &asmMasks[0])
	}
	if goNA != asmNA {
		t.Fatalf("stage 1 of %q: non-ASCII portable %v, AVX2 %v", b, goNA, asmNA)
	}
	for k := range goMasks {
		if goMasks[k] != asmMasks[k] {
			t.Fatalf("stage 1 of %q, block %d: portable %+v, AVX2 %+v", b, k, goMasks[k], asmMasks[k])
		}
	}
	if haveStage1AVX512 && nb > 0 {
		avx512Masks := make([]blockMasks, nb)
		if na := stage1AVX512(&src[0], nb, &avx512Masks[0]); na != goNA {
			t.Fatalf("stage 1 of %q: non-ASCII portable %v, AVX-512 %v", b, goNA, na)
		}
		for k := range goMasks {
			if goMasks[k] != avx512Masks[k] {
				t.Fatalf("stage 1 of %q, block %d: portable %+v, AVX-512 %+v", b, k, goMasks[k], avx512Masks[k])
			}
		}
	}
}

// TestValidJSONMutatedShapes checks the validators on payloads of every benchmark shape with
// one to three bytes replaced, deleted or inserted (JSON's special bytes, controls, non-ASCII
// and UTF-8 fragments), at positions on both sides of 64-byte block boundaries: a deterministic
// complement to the fuzz target, whose corpus starts from short texts.
func TestValidJSONMutatedShapes(t *testing.T) {
	alphabet := []byte("\"\\{}[]:, \t\n\r0123456789-+.eEtrufalsn/bu\x00\x0c\x1a\x1f\x7f\x80\xbf\xc3\xe2\xed\xf0\xff")
	rng := rand.New(rand.NewPCG(15, 2))
	for _, shape := range jsonShapes {
		for _, size := range []int{128, 1 << 10} {
			orig := shape.gen(size)
			for range 300 {
				p := bytes.Clone(orig)
				for range 1 + rng.IntN(3) {
					i := rng.IntN(len(p))
					if rng.IntN(2) == 0 { // near a block boundary
						i = min(len(p)-1, max(0, (i&^63)+rng.IntN(5)-2))
					}
					c := alphabet[rng.IntN(len(alphabet))]
					switch rng.IntN(3) {
					case 0:
						p[i] = c
					case 1:
						p = append(p[:i], p[i+1:]...)
					default:
						p = append(p[:i], append([]byte{c}, p[i:]...)...)
					}
					if len(p) == 0 {
						p = append(p, c)
					}
				}
				if got, want := validJSON(p), wantJSON(p); got != want {
					t.Fatalf("validJSON(%q) = %v, encoding/json + utf8 say %v", p, got, want)
				}
				checkBlockValidators(t, p)
			}
		}
	}
}

// TestValidUTF8AVX2 checks the AVX2 UTF-8 validator against utf8.Valid on every pair of bytes,
// and on three- and four-byte sequences of every lead with continuation bytes at the edges of
// their ranges, each at every offset around a 32-byte block boundary and at the text's end.
func TestValidUTF8AVX2(t *testing.T) {
	if !haveStage1Asm {
		t.Skip("no AVX2 here: validUTF8 is utf8.Valid")
	}
	edges := []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff}
	var seqs [][]byte
	for c0 := range 256 {
		for c1 := range 256 {
			seqs = append(seqs, []byte{byte(c0), byte(c1)})
		}
	}
	for c0 := 0xc0; c0 < 0x100; c0++ {
		for _, c1 := range edges {
			for _, c2 := range edges {
				seqs = append(seqs, []byte{byte(c0), c1, c2})
				for _, c3 := range edges {
					if c0 >= 0xf0 { // four-byte leads (and the invalid F5–FF)
						seqs = append(seqs, []byte{byte(c0), c1, c2, c3})
					}
				}
			}
		}
	}
	buf := make([]byte, 0, 128)
	for _, seq := range seqs {
		for _, off := range []int{0, 28, 29, 30, 31, 32, 61} {
			buf = append(append(buf[:0], bytes.Repeat([]byte{'a'}, off)...), seq...)
			for _, p := range [][]byte{buf, append(buf, "bc"...)} {
				if got, want := validUTF8(p, true), utf8.Valid(p); got != want {
					t.Fatalf("validUTF8(%q, AVX2) = %v, utf8.Valid says %v", p, got, want)
				}
			}
		}
	}
}

// TestPublishValidatesLargePayloads checks Publish with payloads on the block validator's path
// (≥ minBlockScan bytes): each shape is delivered whole, and each broken copy of it is refused
// with ErrInvalidPayload naming the topic, and delivers nothing.
func TestPublishValidatesLargePayloads(t *testing.T) {
	b := newBus(t, Options{})
	s := subscribe(t, b, "big")
	for _, shape := range jsonShapes {
		p := shape.gen(1 << 10)
		if _, err := b.Publish("big", p, uuid.Nil, System()); err != nil {
			t.Fatalf("%s: %v", shape.name, err)
		}
		if got := drainAll(s); len(got) != 1 || !bytes.Equal(got[0].Payload, p) {
			t.Fatalf("%s: %d messages delivered, want the payload once", shape.name, len(got))
		}
		for _, broken := range [][]byte{
			p[:len(p)-1],                                       // an unclosed container
			append(bytes.Clone(p), ','),                        // trailing garbage
			append([]byte{'['}, p[1:]...),                      // '[' closed by '}' (or unbalanced)
			bytes.Replace(p, []byte(`"`), []byte("\"\x01"), 3), // control bytes in strings
			append(bytes.Clone(p[:len(p)-1]), "\xff]"...),      // a non-ASCII byte outside strings
		} {
			if wantJSON(broken) {
				continue // the mutation happened to keep it valid (e.g. '[' for an array)
			}
			_, err := b.Publish("big", broken, uuid.Nil, System())
			if !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), `"big"`) {
				t.Fatalf("%s, %.40q…: err %v, want ErrInvalidPayload naming the topic", shape.name, broken, err)
			}
		}
		if got := drainAll(s); len(got) != 0 {
			t.Fatalf("%s: %d invalid payloads delivered", shape.name, len(got))
		}
	}
}

// checkGrammars checks grammarAVX2 against grammarGo on the masks of b (padded with spaces):
// both stop, or both leave the same state and the same checks.
func checkGrammars(t *testing.T, b []byte) {
	t.Helper()
	nb := (len(b) + 63) / 64
	if nb == 0 {
		return
	}
	src := bytes.Repeat([]byte{' '}, nb*64)
	copy(src, b)
	masks := make([]blockMasks, nb)
	stage1Go(src, nb, masks)
	goState, asmState := blockState{cValueNext: 1}, blockState{cValueNext: 1}
	goChecks, asmChecks := make([]blockChecks, nb), make([]blockChecks, nb)
	grammarGo(masks, &goState, goChecks)
	grammarAVX2(&masks[0], nb, &asmState, &asmChecks[0])
	if goState.deep != 0 || goState.bad != 0 && asmState.deep != 0 {
		if asmState.deep == 0 && asmState.bad == 0 {
			t.Fatalf("grammar of %q: portable stops (%+v), AVX2 goes on (%+v)", b, goState, asmState)
		}
		return
	}
	if (goState.bad != 0) != (asmState.bad != 0) {
		t.Fatalf("grammar of %q: portable bad %x, AVX2 %x", b, goState.bad, asmState.bad)
	}
	if goState.bad != 0 {
		return
	}
	if goState != asmState {
		t.Fatalf("grammar of %q: portable state %+v, AVX2 %+v", b, goState, asmState)
	}
	for k := range goChecks {
		if goChecks[k] != asmChecks[k] {
			t.Fatalf("grammar of %q, block %d: portable checks %+v, AVX2 %+v", b, k, goChecks[k], asmChecks[k])
		}
	}
}

// TestBlockValidatorNesting checks the block validators where their bracket stack ends (62 to
// 65 deep, where they hand the text to scanJSON) and with brackets that do not match (of the
// other kind, or closing at top level), each at every offset in a 64-byte block.
func TestBlockValidatorNesting(t *testing.T) {
	var texts []string
	for _, d := range []int{1, 2, 62, 63, 64, 65, 130} {
		arr := strings.Repeat("[", d) + strings.Repeat("]", d)
		obj := strings.Repeat(`{"k":[`, d/2) + `1` + strings.Repeat("]}", d/2)
		texts = append(texts, arr, obj, arr[:len(arr)-1], arr+"]", "["+arr[1:len(arr)-1]+"}",
			strings.Replace(obj, "]", "}", 1), strings.Replace(obj, "}", "]", 1), obj+",1", "]"+arr, arr+","+arr)
	}
	for _, text := range texts {
		for s := range 64 {
			p := []byte(strings.Repeat(" ", s) + text + strings.Repeat(" ", 64))
			want := wantJSON(p)
			if got := validJSON(p); got != want {
				t.Fatalf("validJSON(%q) = %v, encoding/json + utf8 say %v", p, got, want)
			}
			if got := scanJSONBlocks(p, false); got != want {
				t.Fatalf("scanJSONBlocks(%q, portable) = %v, encoding/json + utf8 say %v", p, got, want)
			}
			if haveStage1Asm {
				if got := scanJSONBlocks(p, true); got != want {
					t.Fatalf("scanJSONBlocks(%q, AVX2) = %v, encoding/json + utf8 say %v", p, got, want)
				}
				checkGrammars(t, p)
			}
		}
	}
}

// TestBlockValidatorScalarsAcrossBlocks checks numbers and literals, valid and not, across the
// edge of two blocks (in one chunk of blocks and between two: 1024 bytes), ending on either
// side of it and at the end of the text, inside an array and alone.
func TestBlockValidatorScalarsAcrossBlocks(t *testing.T) {
	scalars := []string{"0", "-0", "7", "12", "-1.5", "123456.789", "01", "-01", "1.", "1.e5", "1e5", "1E+5",
		"2.5e-3", "-", "+1", "0x1", "1x", "1..2", "1e", "1e+", "true", "tru", "truex", "false", "fals", "null",
		"nul", "nulll", "t", "-0.0e+0"}
	for _, sc := range scalars {
		for _, edge := range []int{64, 128, 1024} {
			for pad := edge - len(sc) - 2; pad <= edge+1; pad++ {
				for _, p := range [][]byte{
					[]byte("[" + strings.Repeat(" ", pad) + sc + "," + sc + "]" + strings.Repeat(" ", 200)),
					[]byte(strings.Repeat(" ", pad+1) + sc),
					[]byte(strings.Repeat(" ", pad+1) + sc + strings.Repeat(" ", 300)),
				} {
					want := wantJSON(p)
					if got := validJSON(p); got != want {
						t.Fatalf("validJSON(%q) = %v, encoding/json + utf8 say %v", p, got, want)
					}
					if got := scanJSONBlocks(p, false); got != want {
						t.Fatalf("scanJSONBlocks(%q, portable) = %v, encoding/json + utf8 say %v", p, got, want)
					}
				}
			}
		}
	}
}

// TestBlockValidatorLongStrings checks strings spanning whole blocks (the grammar's fast path
// for them) with one byte at positions about each block edge made a control byte, a backslash
// (an escape of the next byte), a quote or a non-ASCII byte, up to and past a chunk of blocks.
func TestBlockValidatorLongStrings(t *testing.T) {
	for _, n := range []int{300, 1100} {
		orig := []byte(`{"k":"` + strings.Repeat("x", n) + `"}`)
		for i := 6; i < len(orig)-2; i++ {
			if i%64 > 2 && i%64 < 61 {
				continue
			}
			for _, c := range []byte{0x01, '\\', '"', 0xe9, 'n'} {
				p := bytes.Clone(orig)
				p[i] = c
				want := wantJSON(p)
				if got := validJSON(p); got != want {
					t.Fatalf("validJSON(%q) = %v, encoding/json + utf8 say %v", p, got, want)
				}
				checkBlockValidators(t, p)
			}
		}
	}
}
