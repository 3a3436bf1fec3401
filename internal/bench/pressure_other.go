//go:build !linux

package bench

import "os/exec"

// setPdeathsig does nothing off Linux: the child exits when its stdin closes.
func setPdeathsig(*exec.Cmd) {}
