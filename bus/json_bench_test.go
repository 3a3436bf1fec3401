package bus

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonShape is one shape of payload for the validation benchmarks and the fuzz seeds.
type jsonShape struct {
	name string
	gen  func(size int) []byte // a valid payload of about size bytes

}

// jsonShapes are realistic payload shapes, each generated at about size bytes (never more
// than size+100) and valid JSON:
//   - string: the bench scenario's payload, an object with one long plain ASCII string;
//   - records: an array of small objects (short keys, integers, decimals, booleans, a short
//     non-ASCII string): the token-dense case;
//   - numbers: an array of integers and floats with exponents;
//   - nested: objects and arrays nested 8 deep, with small leaves;
//   - unicode: an object of strings in Cyrillic, CJK and emoji (2–4-byte UTF-8);
//   - escapes: strings dense in escapes (\n, \", \\, \u00e9, \ud83d\ude00);
//   - pretty: records indented as json.MarshalIndent writes them (whitespace-heavy).
var jsonShapes = []jsonShape{
	{"string", func(size int) []byte {
		return []byte(`{"kind":"bench","pad":"` + strings.Repeat("x", max(size-25, 0)) + `"}`)
	}},
	{"records", func(size int) []byte {
		return jsonArray(size, func(i int) string {
			return fmt.Sprintf(`{"id":%d,"name":"user-%d","score":%d.5,"ok":true,"tags":["a","bé"]}`, i, i, i*7)
		})
	}},
	{"numbers", func(size int) []byte {
		return jsonArray(size, func(i int) string {
			switch i % 4 {
			case 0:
				return fmt.Sprint(i * 7919)
			case 1:
				return fmt.Sprintf("-%d.%03d", i, i%1000)
			case 2:
				return fmt.Sprintf("%d.25e-%d", i%10, i%300)
			}
			return "0"
		})
	}},
	{"nested", func(size int) []byte {
		return jsonArray(size, func(i int) string {
			return fmt.Sprintf(`{"a":{"b":[{"c":{"d":[%d,{"e":[null,{"f":"g"}]}]}}]},"h":[[[]]],"i":{}}`, i)
		})
	}},
	{"unicode", func(size int) []byte {
		return jsonArray(size, func(i int) string {
			return fmt.Sprintf(`{"ru":"Привет, мир %d","zh":"你好世界，我们的消息","emoji":"😀🚀✨ ok"}`, i)
		})
	}},
	{"escapes", func(size int) []byte {
		return jsonArray(size, func(i int) string {
			return fmt.Sprintf(`"line %d\n\t\"quoted\" C:\\path\\x caf\u00e9 \ud83d\ude00\/"`, i)
		})
	}},
	{"pretty", func(size int) []byte {
		return jsonArray(size, func(i int) string {
			return fmt.Sprintf("\n  {\n    \"id\": %d,\n    \"name\": \"user-%d\",\n    \"ok\": false\n  }", i, i)
		})
	}},
}

// jsonArray returns a JSON array of item(0), item(1), … of about size bytes.
func jsonArray(size int, item func(int) string) []byte {
	var s strings.Builder
	s.WriteByte('[')
	for i := 0; ; i++ {
		it := item(i)
		if i > 0 && s.Len()+len(it)+2 > size {
			break
		}
		if i > 0 {
			s.WriteByte(',')
		}
		s.WriteString(it)
	}
	s.WriteByte(']')
	return []byte(s.String())
}

// benchSizes are the payload sizes of BenchmarkValidJSONShapes: the 128-byte default of the
// bench and the ≥ 1 KiB sizes of issue 15's 2 GB/s requirement.
var benchSizes = []int{128, 1 << 10, 4 << 10, 64 << 10}

// BenchmarkValidJSONShapes measures validJSON on every shape and size, against the reference
// (encoding/json.Valid + utf8.Valid), utf8.Valid alone and a copy (memmove) of the same bytes in
// the same run: compare the ratios, not the absolute GB/s, on a loaded machine. Besides MB/s
// over wall time, each reports cpu-GB/s over the thread's CPU time (Linux), which other
// processes on a shared machine disturb much less.
func BenchmarkValidJSONShapes(b *testing.B) {
	for _, shape := range jsonShapes {
		for _, size := range benchSizes {
			p := shape.gen(size)
			if !validJSON(p) || !wantJSON(p) {
				b.Fatalf("%s %d: invalid payload %.80q", shape.name, size, p)
			}
			dst := make([]byte, len(p))
			for _, v := range []struct {
				name string
				f    func([]byte) bool
			}{
				{"validJSON", validJSON},
				{"blocks-old", func(p []byte) bool {
					return len(p) >= minBlockScan && haveStage1Asm && scanJSONBlocksOld(p, true) || (len(p) < minBlockScan || !haveStage1Asm) && scanJSON(p)
				}},
				{"scanJSON", scanJSON},
				{"blocks-portable", func(p []byte) bool { return scanJSONBlocks(p, false) }},
				{"encoding-json+utf8", wantJSON},
				{"gjson+utf8", validJSONGjson},
				{"utf8", utf8.Valid},
				{"copy", func(p []byte) bool { return copy(dst, p) == len(p) }},
			} {
				b.Run(fmt.Sprintf("%s/%d/%s", shape.name, size, v.name), func(b *testing.B) {
					runtime.LockOSThread() // for threadCPUTime
					defer runtime.UnlockOSThread()
					b.SetBytes(int64(len(p)))
					b.ReportAllocs()
					t0 := threadCPUTime()
					for range b.N {
						v.f(p)
					}
					if d := threadCPUTime() - t0; t0 != 0 && d > 0 {
						b.ReportMetric(float64(len(p))*float64(b.N)/float64(d), "cpu-GB/s")
					}
				})
			}
		}
	}
}

// TestJSONShapesAreValid checks each benchmark shape is what it says at every size: valid JSON
// (so the benchmarks measure the accepting path), within 100 bytes of the size, and of the
// kind named (non-ASCII for unicode, escapes for escapes).
func TestJSONShapesAreValid(t *testing.T) {
	for _, shape := range jsonShapes {
		for _, size := range benchSizes {
			p := shape.gen(size)
			if !json.Valid(p) || !utf8.Valid(p) {
				t.Fatalf("%s %d: not valid JSON: %.80q", shape.name, size, p)
			}
			if !validJSON(p) {
				t.Errorf("%s %d: validJSON rejects it", shape.name, size)
			}
			checkBlockValidators(t, p)
			if len(p) < size/2 || len(p) > size+100 {
				t.Errorf("%s %d: %d bytes", shape.name, size, len(p))
			}
		}
	}
}

// BenchmarkStage1 measures stage 1 alone on 64 KiB of records, with AVX2 and with AVX-512BW,
// over the same bytes (cpu-GB/s as in BenchmarkValidJSONShapes).
func BenchmarkStage1(b *testing.B) {
	p := jsonShapes[1].gen(64 << 10)
	nb := len(p) / 64
	masks := make([]blockMasks, nb)
	for _, v := range []struct {
		name string
		ok   bool
		f    func(*byte, int, *blockMasks) bool
	}{{"avx2", haveStage1Asm, stage1AVX2}, {"avx512", haveStage1AVX512, stage1AVX512}} {
		b.Run(v.name, func(b *testing.B) {
			if !v.ok {
				b.Skip("not on this CPU")
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.SetBytes(int64(nb * 64))
			t0 := threadCPUTime()
			for range b.N {
				v.f(&p[0], nb, &masks[0])
			}
			if d := threadCPUTime() - t0; t0 != 0 && d > 0 {
				b.ReportMetric(float64(nb*64)*float64(b.N)/float64(d), "cpu-GB/s")
			}
		})
	}
}
