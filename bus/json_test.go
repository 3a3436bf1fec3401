package bus

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

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
	}
}

// FuzzValidJSONAgreesWithEncodingJSON checks the fast validator differentially against the
// reference: encoding/json.Valid and utf8.Valid.
func FuzzValidJSONAgreesWithEncodingJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := wantJSON(b)
		if got := validJSON(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json + utf8 say %v", b, got, want)
		}
		if got := scanJSON(b); got != want {
			t.Fatalf("scanJSON(%q) = %v, encoding/json + utf8 say %v", b, got, want)
		}
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
