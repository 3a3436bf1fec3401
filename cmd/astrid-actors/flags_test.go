package main

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/astrid-actors/astrid-actors/bus"
)

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		in, topic, payload string
		ok                 bool
	}{
		{`demo.start={}`, "demo.start", `{}`, true},
		{`a.b={"x":"y=z"}`, "a.b", `{"x":"y=z"}`, true}, // split at the first '='
		{`a=1`, "a", `1`, true},
		{`a="s"`, "a", `"s"`, true},
		{`nojson`, "", "", false},
		{`a..b={}`, "", "", false},
		{`={}`, "", "", false},
		{`a.b=`, "", "", false},
		{`a.b={`, "", "", false},
		{`a.b=x`, "", "", false},
	} {
		p, err := parsePublish(tc.in)
		if tc.ok != (err == nil) || (err == nil && (p.topic != tc.topic || string(p.payload) != tc.payload)) {
			t.Errorf("parsePublish(%q) = %q %q, %v", tc.in, p.topic, p.payload, err)
		}
		if err != nil && !isUsageError(err) {
			t.Errorf("parsePublish(%q): %v is not a usage error", tc.in, err)
		}
	}
	if !isUsageError(usagef("x")) || isUsageError(errors.New("x")) {
		t.Error("isUsageError")
	}
}

func TestEncodeMessage(t *testing.T) {
	src := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	m := &bus.Message{Seq: 7, Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Topic: "a.b",
		Payload: []byte(`{ "html": "<&>", "n": [1, 2] }`), Source: src, Principal: bus.Claimed("alice")}
	line, err := encodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":7,"topic":"a.b","payload":{"html":"<&>","n":[1,2]},"principal":{"kind":"claimed","id":"alice"},` +
		`"source_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","time":"2025-01-02T03:04:05.000000006Z"}` + "\n"
	if string(line) != want {
		t.Errorf("got  %s\nwant %s", line, want)
	}
}
