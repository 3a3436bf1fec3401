package bus

import (
	"encoding/json"
	"strings"
	"testing"
)

var jsonCases = []string{
	`{"a":[1,{"b":[]},{}],"c":"d\\\"\u00e9\/"}`, `[[[]]]`, `{"a":1,}`, `{,}`, `[,1]`, `{"a":1 "b":2}`,
	`{"a"}`, `{1:2}`, `[1 2]`, `-`, `-01`, `1e`, `1e+`, `1.5e-3`, `0.0`, `00`, `"\u12"`, `"\uZZZZ"`,
	`[}`, `{]`, `]`, `}`, `"unterminated`, `tru`, `falsey`, `nullx`, "\t[1]\n", `"a\tb"`, "\"a\tb\"",
	`{}`, `[]`, `[1,2]`, `"\u00e9"`, `1e5`, `-0`, `0.5`, `true`, ` null `, `{"a":{"b":[1,"x",null]}}`,
	`01`, `{"a":}`, "\"\xff\"", `[1,]`, `nul`, `"\ud800"`, `1.`, `.5`, `{"a":1,"a":2}`, "\"\x01\"",
	`[`, ``, ` `, `{"a" 1}`, `"\x"`, `1 2`, `+1`, `Infinity`, `"` + strings.Repeat("x", 100) + `"`,
}

func TestValidJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := append(jsonCases, deep(9999), deep(10000), deep(10001), deep(200000),
		`{"a":`+deep(9998)+`}`, strings.Repeat(`{"a":`, 10001)+"1"+strings.Repeat("}", 10001))
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

// FuzzValidJSONAgreesWithEncodingJSON checks the fast validator against the standard one.
func FuzzValidJSONAgreesWithEncodingJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	b.Run("gjson", func(b *testing.B) {
		for range b.N {
			validJSON(payload128)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			json.Valid(payload128)
		}
	})
}
