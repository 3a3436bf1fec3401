// Package kvtest is the conformance suite of kv.Store: every store implementation runs it
// (internal/kvstore's bbolt store, internal/kvjet's JetStream store) and must show exactly the
// same semantics — key rules, quota, CAS, byte-ordered paging, namespaces kept apart.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/astrid-actors/astrid-actors/kv"
)

// Opener returns a fresh, empty store for one test; the suite does not close it (register
// the close with t.Cleanup).
type Opener func(t *testing.T) kv.Store

var ctx = context.Background()

// pagingKeys is the number of keys testPagingAcross10000Keys writes (Options.PagingKeys).
var pagingKeys = 10_000

// Options tune the suite for a store whose writes are slow (a replicated one).
type Options struct {
	// PagingKeys is the number of keys the paging test writes and lists (default 10 000; at
	// least 3 000, so that every page limit still spans several full pages).
	PagingKeys int
}

// Run runs every conformance test as a subtest of t, each on a store from open.
func Run(t *testing.T, open Opener) { RunWith(t, open, Options{}) }

// RunWith is Run with options.
func RunWith(t *testing.T, open Opener, opts Options) {
	pagingKeys = 10_000
	if opts.PagingKeys > 0 {
		pagingKeys = max(opts.PagingKeys, 3_000)
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"Operations", testOperations},
		{"KeyAndValueRules", testKeyAndValueRules},
		{"Quota", testQuota},
		{"PagingAcross10000Keys", testPagingAcross10000Keys},
		{"ListCursor", testListCursor},
		{"NamespacesAreDisjoint", testNamespacesAreDisjoint},
		{"CASRace", testCASRace},
		{"ConcurrentQuota", testConcurrentQuota},
		{"LargeValues", testLargeBatches},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func testOperations(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:a"}
	mustSet := func(k, v string) {
		t.Helper()
		if err := s.Set(ctx, ns, k, []byte(v)); err != nil {
			t.Fatalf("set %q: %v", k, err)
		}
	}
	if _, err := s.Get(ctx, ns, "missing"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	mustSet("a", "1")
	mustSet("a", "22") // replace
	mustSet("b", "")   // empty values are values
	if v, err := s.Get(ctx, ns, "a"); err != nil || string(v) != "22" {
		t.Fatalf("get a = %q, %v", v, err)
	}
	if v, err := s.Get(ctx, ns, "b"); err != nil || len(v) != 0 {
		t.Fatalf("get b = %q, %v; want present and empty", v, err)
	}
	if u, _ := s.Usage(ctx, ns); u != 1+2+1 {
		t.Fatalf("usage %d, want 4", u)
	}
	if err := s.Delete(ctx, ns, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ns, "a"); err != nil {
		t.Fatalf("deleting a missing key: %v, want nil", err)
	}
	if u, _ := s.Usage(ctx, ns); u != 1 {
		t.Fatalf("usage after delete %d, want 1", u)
	}

	cas := []struct {
		name          string
		expected      string
		expectPresent bool
		value         string
		want          error
		after         string // value of "c" afterwards ("" with absent)
		absent        bool
	}{
		{name: "absent expected present", expected: "x", expectPresent: true, value: "1", want: kv.ErrCASMismatch, absent: true},
		{name: "create when absent", value: "1", after: "1"},
		{name: "absent expected but present", value: "2", want: kv.ErrCASMismatch, after: "1"},
		{name: "wrong value", expected: "0", expectPresent: true, value: "2", want: kv.ErrCASMismatch, after: "1"},
		{name: "right value", expected: "1", expectPresent: true, value: "2", after: "2"},
	}
	for _, c := range cas {
		err := s.CAS(ctx, ns, "c", []byte(c.expected), c.expectPresent, []byte(c.value))
		if !errors.Is(err, c.want) {
			t.Fatalf("%s: cas = %v, want %v", c.name, err, c.want)
		}
		v, err := s.Get(ctx, ns, "c")
		if c.absent {
			if !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("%s: get = %q, %v; want absent", c.name, v, err)
			}
			continue
		}
		if err != nil || string(v) != c.after {
			t.Fatalf("%s: get = %q, %v; want %q", c.name, v, err, c.after)
		}
	}

	for _, k := range []string{"p/1", "p/2", "p/3", "q"} {
		mustSet(k, "v")
	}
	n, err := s.ClearPrefix(ctx, ns, "p/")
	if err != nil || n != 3 {
		t.Fatalf("clear p/ = %d, %v; want 3", n, err)
	}
	page, err := s.List(ctx, ns, "", "", 0)
	if err != nil || strings.Join(page.Keys, ",") != "b,c,q" || page.More {
		t.Fatalf("list after clear = %+v, %v", page, err)
	}
	n, err = s.ClearPrefix(ctx, ns, "")
	if err != nil || n != 3 {
		t.Fatalf("clear all = %d, %v; want 3", n, err)
	}
	if u, _ := s.Usage(ctx, ns); u != 0 {
		t.Fatalf("usage after clearing everything %d, want 0", u)
	}
}

func testKeyAndValueRules(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:a"}
	cases := []struct {
		name string
		key  string
		size int
		want error
	}{
		{"empty key", "", 1, kv.ErrInvalidKey},
		{"256 bytes", strings.Repeat("k", 256), 1, nil},
		{"257 bytes", strings.Repeat("k", 257), 1, kv.ErrInvalidKey},
		{"NUL", "a\x00b", 1, kv.ErrInvalidKey},
		{"newline", "a\nb", 1, kv.ErrInvalidKey},
		{"DEL", "a\x7f", 1, kv.ErrInvalidKey},
		{"C1 control", "a\u0085", 1, kv.ErrInvalidKey},
		{"invalid UTF-8", "a\xff", 1, kv.ErrInvalidKey},
		{"multibyte", "clé/日本", 1, nil},
		{"value 1 MiB", "big", kv.MaxValueBytes, nil},
		{"value 1 MiB + 1", "big", kv.MaxValueBytes + 1, kv.ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Set(ctx, ns, c.key, make([]byte, c.size))
			if !errors.Is(err, c.want) {
				t.Fatalf("set = %v, want %v", err, c.want)
			}
			_, gerr := s.Get(ctx, ns, c.key)
			if c.want == nil && gerr != nil {
				t.Fatalf("get after set: %v", gerr)
			}
			if errors.Is(c.want, kv.ErrInvalidKey) && !errors.Is(gerr, kv.ErrInvalidKey) {
				t.Fatalf("get of an invalid key = %v, want ErrInvalidKey", gerr)
			}
		})
	}
}

func testQuota(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:q", QuotaBytes: 100}
	if err := s.Set(ctx, ns, "k1", make([]byte, 48)); err != nil { // 50
		t.Fatal(err)
	}
	if err := s.Set(ctx, ns, "k2", make([]byte, 48)); err != nil { // 100: exactly full
		t.Fatal(err)
	}
	if err := s.Set(ctx, ns, "k3", nil); !errors.Is(err, kv.ErrQuota) {
		t.Fatalf("set over quota = %v, want ErrQuota", err)
	}
	if err := s.CAS(ctx, ns, "k3", nil, false, nil); !errors.Is(err, kv.ErrQuota) {
		t.Fatalf("cas over quota = %v, want ErrQuota", err)
	}
	if _, err := s.Get(ctx, ns, "k3"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a refused set left the key: %v", err)
	}
	if err := s.Set(ctx, ns, "k1", make([]byte, 10)); err != nil { // shrinking is fine
		t.Fatal(err)
	}
	if err := s.Set(ctx, ns, "k3", make([]byte, 36)); err != nil { // 12+50+38 = 100
		t.Fatal(err)
	}
	// Another namespace has its own quota.
	other := kv.Namespace{Name: "default:capsule:r", QuotaBytes: 100}
	if err := s.Set(ctx, other, "k1", make([]byte, 98)); err != nil {
		t.Fatal(err)
	}
	// A namespace over a lowered quota can still shrink but not grow.
	lowered := kv.Namespace{Name: ns.Name, QuotaBytes: 10}
	if err := s.Set(ctx, lowered, "k3", make([]byte, 37)); !errors.Is(err, kv.ErrQuota) {
		t.Fatalf("growing over a lowered quota = %v", err)
	}
	if err := s.Set(ctx, lowered, "k3", make([]byte, 1)); err != nil {
		t.Fatalf("shrinking over a lowered quota = %v", err)
	}
}

func testPagingAcross10000Keys(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:p"}
	n := pagingKeys
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 { // concurrent writers: group commit keeps every one
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if err := s.Set(ctx, ns, fmt.Sprintf("item/%05d", i), []byte{byte(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Set(ctx, ns, "other", nil); err != nil { // outside the prefix, sorts after it
		t.Fatal(err)
	}
	for _, limit := range []int{0, 1, 999, 1024, 5000} {
		var got []string
		cursor, pages := "", 0
		for {
			page, err := s.List(ctx, ns, "item/", cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Keys) > kv.PageLimit(limit) {
				t.Fatalf("limit %d: page of %d keys", limit, len(page.Keys))
			}
			got = append(got, page.Keys...)
			pages++
			if !page.More {
				break
			}
			cursor = page.Keys[len(page.Keys)-1]
		}
		if len(got) != n {
			t.Fatalf("limit %d: %d keys in %d pages, want %d", limit, len(got), pages, n)
		}
		for i, k := range got {
			if k != fmt.Sprintf("item/%05d", i) {
				t.Fatalf("limit %d: key %d = %q: not in byte order or missing", limit, i, k)
			}
		}
	}
}

func testListCursor(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:c"}
	for _, k := range []string{"a", "b/1", "b/2", "b/3", "c"} {
		if err := s.Set(ctx, ns, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		prefix, cursor string
		limit          int
		want           string
		more           bool
	}{
		{"b/", "", 2, "b/1,b/2", true},
		{"b/", "b/2", 2, "b/3", false},
		{"b/", "b/25", 0, "b/3", false}, // a cursor that is not a key
		{"b/", "a", 0, "b/1,b/2,b/3", false},
		{"b/", "z", 0, "", false},
		{"", "b/3", 0, "c", false},
		{"b/3", "", 1, "b/3", false}, // the page is full but nothing remains
		{"x", "", 0, "", false},
	}
	for _, c := range cases {
		page, err := s.List(ctx, ns, c.prefix, c.cursor, c.limit)
		if err != nil || strings.Join(page.Keys, ",") != c.want || page.More != c.more {
			t.Errorf("list(%q, %q, %d) = %v more=%v, %v; want %s more=%v", c.prefix, c.cursor, c.limit, page.Keys, page.More, err, c.want, c.more)
		}
	}
	if _, err := s.List(ctx, ns, "\x00", "", 0); !errors.Is(err, kv.ErrInvalidKey) {
		t.Errorf("control character in prefix: %v", err)
	}
}

// testNamespacesAreDisjoint writes hostile keys — namespace separators, other namespaces'
// names, every byte the rules allow — and checks that no namespace sees another's keys.
func testNamespacesAreDisjoint(t *testing.T, open Opener) {
	s := open(t)
	a := kv.Namespace{Name: kv.NamespaceName("default", "a")}
	ab := kv.Namespace{Name: kv.NamespaceName("default", "a:b")} // not a valid capsule id, but the store must not care
	b := kv.Namespace{Name: kv.NamespaceName("default", "b")}
	hostile := []string{
		"x", ":capsule:b/x", "default:capsule:b", "../b/x", "b:x", "/", ":", "\u2028",
		strings.Repeat(":", 256), "default:capsule:a:b", "%2e%2e",
	}
	for _, k := range hostile {
		if err := s.Set(ctx, a, k, []byte("a")); err != nil {
			t.Fatalf("set %q: %v", k, err)
		}
		if err := s.Set(ctx, ab, k, []byte("ab")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, b, "x", []byte("b")); err != nil {
		t.Fatal(err)
	}
	for _, k := range hostile {
		if v, err := s.Get(ctx, a, k); err != nil || string(v) != "a" {
			t.Fatalf("a/%q = %q, %v", k, v, err)
		}
		if v, err := s.Get(ctx, ab, k); err != nil || string(v) != "ab" {
			t.Fatalf("a:b/%q = %q, %v", k, v, err)
		}
	}
	if page, _ := s.List(ctx, b, "", "", 0); strings.Join(page.Keys, ",") != "x" {
		t.Fatalf("b lists %v, want only its own key", page.Keys)
	}
	if n, _ := s.ClearPrefix(ctx, a, ""); n != uint64(len(hostile)) {
		t.Fatalf("clearing a deleted %d keys, want %d", n, len(hostile))
	}
	if v, err := s.Get(ctx, b, "x"); err != nil || string(v) != "b" {
		t.Fatalf("b/x after clearing a = %q, %v", v, err)
	}
	if page, _ := s.List(ctx, ab, "", "", 0); len(page.Keys) != len(hostile) {
		t.Fatalf("a:b lost keys when a was cleared: %v", page.Keys)
	}
}

// testCASRace runs compare-and-set increments from many goroutines: every increment that
// returned ok is counted exactly once.
func testCASRace(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:race"}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	mismatches := 0
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				old, err := s.Get(ctx, ns, "n")
				present := err == nil
				if err != nil && !errors.Is(err, kv.ErrNotFound) {
					t.Error(err)
					return
				}
				n, _ := strconv.Atoi(string(old))
				err = s.CAS(ctx, ns, "n", old, present, []byte(strconv.Itoa(n+1)))
				switch {
				case err == nil:
					done++
				case errors.Is(err, kv.ErrCASMismatch):
					mu.Lock()
					mismatches++
					mu.Unlock()
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	v, err := s.Get(ctx, ns, "n")
	if err != nil || string(v) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %q, %v; want %d", v, err, workers*each)
	}
	t.Logf("%d increments, %d mismatches retried", workers*each, mismatches)
}

// testLargeBatches: concurrent sets of 1 MiB values (the largest allowed) are all stored whole.
func testLargeBatches(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:big", QuotaBytes: 1 << 30}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if err := s.Set(ctx, ns, fmt.Sprintf("k%02d", i), bytes.Repeat([]byte{byte(i)}, kv.MaxValueBytes)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 6 {
		v, err := s.Get(ctx, ns, fmt.Sprintf("k%02d", i))
		if err != nil || len(v) != kv.MaxValueBytes || v[0] != byte(i) || v[len(v)-1] != byte(i) {
			t.Fatalf("k%02d: %d bytes, %v", i, len(v), err)
		}
	}
	if u, _ := s.Usage(ctx, ns); u != 6*(3+kv.MaxValueBytes) {
		t.Fatalf("usage %d", u)
	}
}

func testClosed(t *testing.T, open Opener) {
	s := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ns := kv.Namespace{Name: "n"}
	if err := s.Set(ctx, ns, "k", nil); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("set after close: %v", err)
	}
	if _, err := s.Get(ctx, ns, "k"); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// testConcurrentQuota races writers of distinct keys against one small quota: the namespace
// never ends over it, and its usage is exactly the sum of what was stored.
func testConcurrentQuota(t *testing.T, open Opener) {
	s := open(t)
	ns := kv.Namespace{Name: "default:capsule:cq", QuotaBytes: 1000}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				err := s.Set(ctx, ns, fmt.Sprintf("w%d/%02d", w, i), make([]byte, 45)) // 50 bytes
				if err != nil && !errors.Is(err, kv.ErrQuota) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	page, err := s.List(ctx, ns, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.Usage(ctx, ns)
	if len(page.Keys) != 20 || u != 1000 {
		t.Fatalf("%d keys stored, usage %d; want exactly 20 keys of 50 bytes filling the quota of 1000", len(page.Keys), u)
	}
	if n, err := s.ClearPrefix(ctx, ns, "w"); err != nil || n != 20 {
		t.Fatalf("clear = %d, %v", n, err)
	}
	if u, _ := s.Usage(ctx, ns); u != 0 {
		t.Fatalf("usage after clear %d", u)
	}
}
