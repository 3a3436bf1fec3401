package capsuletest_test

import (
	"fmt"

	"github.com/astrid-actors/astrid-actors/capsuletest"
)

// exampleT stands in for the *testing.T a real test passes to capsuletest.New.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()                      {}
func (t *exampleT) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Errorf(f string, args ...any) { fmt.Printf(f+"\n", args...) }
func (t *exampleT) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// Example loads a capsule directory, publishes to it and expects its answer; in a test, pass
// the test's t instead of exampleT.
func Example() {
	t := &exampleT{}
	defer t.done()

	h := capsuletest.New(t, capsuletest.Options{})
	h.Load("../testdata/capsules/echo") // republishes echo.in on echo.out
	out := h.Subscribe("echo.out")
	h.Publish("echo.in", `{"hello":"world"}`)
	m := out.ExpectPayloads(`{"hello":"world"}`)[0]
	fmt.Println(m.Topic, string(m.Payload), m.Principal)
	// Output: echo.out {"hello":"world"} verified(capsuletest)
}
