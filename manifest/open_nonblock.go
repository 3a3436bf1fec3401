//go:build unix || windows

package manifest

import "syscall"

// openNonBlock is the flag that keeps an open of a FIFO or device from waiting.
const openNonBlock = syscall.O_NONBLOCK
