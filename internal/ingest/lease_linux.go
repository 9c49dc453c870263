package ingest

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// selfProcess is this process's identity, read from procfs.
func selfProcess() process {
	p := process{Host: hostname(), PID: os.Getpid()}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		p.BootID = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		p.PIDNS = ns
	}
	if start, ok, err := lookupProcess(p.PID); err == nil && ok {
		p.Start = start
	}
	// Owner ids are split on '@' and '/'; anything else would not parse.
	if strings.ContainsAny(p.BootID+p.PIDNS+p.Start, "@/") {
		p.BootID, p.PIDNS, p.Start = "", "", ""
	}
	return p
}

// lookupProcess reads pid's start time from /proc/PID/stat.
func lookupProcess(pid int) (string, bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	start, ok := statStartTime(string(b))
	if !ok {
		return "", false, errors.New("unreadable /proc stat")
	}
	return start, true, nil
}
