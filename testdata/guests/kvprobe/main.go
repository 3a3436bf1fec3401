//go:build wasip1

// Command kvprobe is a test capsule for astrid:kv@1.0.0 driven over the bus: each message on
// kvprobe.cmd runs one command through the guest SDK's guest.KV and publishes exactly one
// result on kvprobe.result. The namespace is the one of the command's principal.
//
//	{"op":"selftest"}                 every KV function, success and error paths -> {"failures":[...]}
//	{"op":"incr","key":"n","n":100}   n compare-and-set increments -> {"done":n,"retries":r,"value":v}
//	{"op":"set","key":"k","value":"v"} -> {"error":""}
//	{"op":"get","key":"k"}            -> {"value":"v","error":""} ("error":"not-found" when absent)
//	{"op":"keys","prefix":"p"}        every key with the prefix, through Keys -> {"keys":[...]}
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/astrid-actors/astrid-actors/guest"
)

func main() {}

type cmd struct {
	Op     string `json:"op"`
	Key    string `json:"key"`
	Value  string `json:"value"`
	Prefix string `json:"prefix"`
	N      int    `json:"n"`
}

type result struct {
	Op       string   `json:"op"`
	Failures []string `json:"failures,omitempty"`
	Done     int      `json:"done,omitempty"`
	Retries  int      `json:"retries,omitempty"`
	Value    string   `json:"value,omitempty"`
	Error    string   `json:"error,omitempty"`
	Keys     []string `json:"keys,omitempty"`
}

//go:wasmexport run
func run() {
	sub, err := guest.Subscribe("kvprobe.cmd")
	if err != nil {
		guest.Errorf("kvprobe: subscribe: %v", err)
		return
	}
	if err := guest.SignalReady(); err != nil {
		return
	}
	for {
		batch, err := sub.Recv(60 * time.Second)
		if errors.Is(err, guest.ErrCancelled) || errors.Is(err, guest.ErrClosed) {
			return
		}
		if err != nil {
			guest.Errorf("kvprobe: recv: %v", err)
			return
		}
		for _, m := range batch.Messages {
			var c cmd
			r := result{}
			if err := json.Unmarshal(m.Payload, &c); err != nil {
				r.Error = err.Error()
			} else {
				r = do(c)
			}
			r.Op = c.Op
			b, _ := json.Marshal(r)
			if err := guest.Publish("kvprobe.result", b); err != nil {
				guest.Errorf("kvprobe: publish: %v", err)
			}
		}
	}
}

func errName(err error) string {
	if err == nil {
		return ""
	}
	return guest.CodeOf(err).String()
}

func do(c cmd) result {
	switch c.Op {
	case "selftest":
		return result{Failures: selftest()}
	case "incr":
		return incr(c.Key, c.N)
	case "set":
		return result{Error: errName(guest.KV.Set(c.Key, []byte(c.Value)))}
	case "get":
		v, err := guest.KV.Get(c.Key)
		return result{Value: string(v), Error: errName(err)}
	case "keys":
		var r result
		for k, err := range guest.KV.Keys(c.Prefix) {
			if err != nil {
				r.Error = errName(err)
				break
			}
			r.Keys = append(r.Keys, k)
		}
		return r
	}
	return result{Error: "unknown op " + c.Op}
}

// incr adds n to the decimal counter at key with get + compare-and-set, retrying mismatches.
func incr(key string, n int) result {
	var r result
	for r.Done < n {
		old, err := guest.KV.Get(key)
		present := err == nil
		if err != nil && !errors.Is(err, guest.ErrNotFound) {
			r.Error = errName(err)
			return r
		}
		v, _ := strconv.Atoi(string(old))
		err = guest.KV.CAS(key, old, present, []byte(strconv.Itoa(v+1)))
		switch {
		case err == nil:
			r.Done++
		case errors.Is(err, guest.ErrCASMismatch):
			r.Retries++
		default:
			r.Error = errName(err)
			return r
		}
	}
	v, _ := guest.KV.Get(key)
	r.Value = string(v)
	return r
}

// selftest runs every KV function, on success and error paths, in the namespace "st/".
func selftest() []string {
	var fails []string
	check := func(what string, err error, want error) {
		if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
			fails = append(fails, fmt.Sprintf("%s: got %v, want %v", what, err, want))
		}
	}
	if _, err := guest.KV.ClearPrefix("st/"); err != nil {
		fails = append(fails, "clear: "+err.Error())
	}
	_, err := guest.KV.Get("st/missing")
	check("get missing", err, guest.ErrNotFound)
	check("set", guest.KV.Set("st/a", []byte("1")), nil)
	big := make([]byte, 5000) // larger than the SDK's first get buffer: it grows and retries
	for i := range big {
		big[i] = byte(i)
	}
	check("set big", guest.KV.Set("st/big", big), nil)
	v, err := guest.KV.Get("st/big")
	check("get big", err, nil)
	if string(v) != string(big) {
		fails = append(fails, "get big: wrong value")
	}
	check("set empty key", guest.KV.Set("", nil), guest.ErrInvalidInput)
	check("set NUL key", guest.KV.Set("st/\x00", nil), guest.ErrInvalidInput)
	check("set 257-byte key", guest.KV.Set(strings.Repeat("k", 257), nil), guest.ErrInvalidInput)
	check("set 1 MiB + 1", guest.KV.Set("st/huge", make([]byte, guest.MaxKVValueBytes+1)), guest.ErrTooLarge)
	check("cas absent on present", guest.KV.CAS("st/a", nil, false, []byte("x")), guest.ErrCASMismatch)
	check("cas wrong value", guest.KV.CAS("st/a", []byte("0"), true, []byte("x")), guest.ErrCASMismatch)
	check("cas right value", guest.KV.CAS("st/a", []byte("1"), true, []byte("2")), nil)
	check("cas create", guest.KV.CAS("st/c", nil, false, []byte("3")), nil)
	if v, _ := guest.KV.Get("st/a"); string(v) != "2" {
		fails = append(fails, "after cas st/a = "+string(v))
	}
	check("delete", guest.KV.Delete("st/c"), nil)
	check("delete missing", guest.KV.Delete("st/c"), nil)
	_, err = guest.KV.Get("st/c")
	check("get deleted", err, guest.ErrNotFound)
	for i := range 30 {
		check("set list key", guest.KV.Set(fmt.Sprintf("st/l/%02d", i), nil), nil)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := guest.KV.ListPage("st/l/", cursor, 7)
		check("list page", err, nil)
		if err != nil || pages > 10 {
			break
		}
		got = append(got, p.Keys...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(got) != 30 || got[0] != "st/l/00" || got[29] != "st/l/29" {
		fails = append(fails, fmt.Sprintf("paged list: %v", got))
	}
	n := 0
	for k, err := range guest.KV.Keys("st/") {
		check("keys", err, nil)
		if !strings.HasPrefix(k, "st/") {
			fails = append(fails, "keys: "+k)
		}
		n++
	}
	if n != 32 { // a, big, l/00..29
		fails = append(fails, fmt.Sprintf("keys walked %d, want 32", n))
	}
	_, err = guest.KV.ListPage("st/\x7f", "", 0)
	check("list invalid prefix", err, guest.ErrInvalidInput)
	cleared, err := guest.KV.ClearPrefix("st/l/")
	check("clear prefix", err, nil)
	if cleared != 30 {
		fails = append(fails, fmt.Sprintf("cleared %d, want 30", cleared))
	}
	cleared, _ = guest.KV.ClearPrefix("st/")
	if cleared != 2 {
		fails = append(fails, fmt.Sprintf("cleared the rest: %d, want 2", cleared))
	}
	return fails
}
