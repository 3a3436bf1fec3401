package bus

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// maxFastJSONNesting is encoding/json's nesting limit. A payload with fewer opening brackets
// cannot nest deeper, so gjson's recursive validator stays shallow and agrees with
// encoding/json; a payload with more is checked by encoding/json's iterative validator, which
// also rejects nesting deeper than the limit (and a hostile 1 MiB of '[' cannot grow a deep
// recursion).
const maxFastJSONNesting = 10000

// validJSON reports whether b is one JSON text as RFC 8259 defines it: one value, accepted
// exactly when encoding/json.Valid accepts it, and valid UTF-8 as a whole (encoding/json.Valid
// alone accepts invalid UTF-8 inside strings, e.g. "\xff" in quotes; ABI §3 does not).
// gjson's validator is about three times faster than encoding/json's on the 128-byte payloads
// of the performance targets; FuzzValidJSONAgreesWithEncodingJSON keeps the two in agreement.
func validJSON(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	if bytes.Count(b, []byte{'['})+bytes.Count(b, []byte{'{'}) >= maxFastJSONNesting {
		return json.Valid(b)
	}
	return gjson.ValidBytes(b)
}
