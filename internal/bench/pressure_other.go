//go:build !linux

package bench

import (
	"os/exec"
	"time"
)

// setPdeathsig does nothing off Linux: the child exits when its stdin closes.
func setPdeathsig(*exec.Cmd) {}

// processCPU is not measured off Linux.
func processCPU() time.Duration { return 0 }
