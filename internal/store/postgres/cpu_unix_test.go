//go:build unix

package postgres

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used (user and system): on a
// busy machine it moves far less than wall time with others' load.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
