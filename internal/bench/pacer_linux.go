package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// timerfdPacer ticks with a Linux timerfd read through the Go netpoller: unlike time.Sleep
// and time.Ticker, whose resolution here is about 1 ms, it holds a 100 µs period without
// spinning a core.
type timerfdPacer struct{ f *os.File }

type itimerspec struct{ interval, value syscall.Timespec }

const clockMonotonic = 1

func newPacer(period time.Duration) (pacer, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return newTickerPacer(period), nil
	}
	its := itimerspec{interval: syscall.NsecToTimespec(int64(period)), value: syscall.NsecToTimespec(int64(period))}
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&its)), 0, 0, 0); errno != 0 {
		syscall.Close(int(fd))
		return nil, fmt.Errorf("timerfd_settime: %w", errno)
	}
	return &timerfdPacer{f: os.NewFile(fd, "bench-pacer")}, nil
}

func (p *timerfdPacer) wait() (int, error) {
	var buf [8]byte
	if _, err := p.f.Read(buf[:]); err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint64(buf[:])), nil
}

func (p *timerfdPacer) stop() { _ = p.f.Close() }

func (p *timerfdPacer) precise() bool { return true }
