package bus

// validJSON reports whether b is one JSON text as RFC 8259 defines it: one value, accepted
// exactly when encoding/json.Valid accepts it, and valid UTF-8 as a whole (encoding/json.Valid
// alone accepts invalid UTF-8 inside strings, e.g. "\xff" in quotes; ABI §3 does not).
// It is scanJSON (jsonscan.go): one pass, no recursion, string bodies skipped 8 bytes at a
// time; FuzzValidJSONAgreesWithEncodingJSON keeps it in agreement with the reference, and
// RATIONALE.md ("Payload validation") has the measurements against gjson and encoding/json.
func validJSON(b []byte) bool { return scanJSON(b) }
