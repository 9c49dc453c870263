//go:build !linux

package ingest

import (
	"errors"
	"os"
)

// selfProcess is this process's identity. Without procfs there is no way
// to be sure that another poller has ended (its pid may live in another
// container), so the identity stays incomplete and leases expire instead.
func selfProcess() process { return process{Host: hostname(), PID: os.Getpid()} }

func lookupProcess(int) (string, bool, error) {
	return "", false, errors.New("process lookup is not supported here")
}
