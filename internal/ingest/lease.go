package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// heartbeat keeps the lease of a stream alive while its poll runs, however
// long a page takes (retries included), and stops when the returned func is
// called. A lost lease cancels the poll's context: its next commit would be
// refused anyway. The store extends the lease from its own clock.
func (in *Ingester) heartbeat(ctx context.Context, st store.Stream) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(in.cfg.LeaseFor / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				err := in.cfg.Store.ExtendLease(ctx, st.ID, in.cfg.Owner, in.cfg.LeaseFor)
				if errors.Is(err, store.ErrLeaseLost) {
					cancel(err)
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// process identifies a poller's process well enough to tell, from another
// process, that it has ended. Host and PID alone cannot: containers that
// share a hostname (host networking) have separate pid namespaces, where
// "pid 57 does not exist here" proves nothing. So an owner id also carries
// the boot, the pid namespace and the process's start time, where the
// system tells them (Linux); without them a lease is left to expire.
type process struct {
	Host   string
	PID    int
	BootID string // /proc/sys/kernel/random/boot_id
	PIDNS  string // the pid namespace, e.g. "pid:[4026531836]"
	Start  string // start time in clock ticks since boot (/proc/PID/stat field 22)
}

// complete reports whether p carries everything a staleness check needs.
func (p process) complete() bool {
	return p.Host != "" && p.PID > 0 && p.BootID != "" && p.PIDNS != "" && p.Start != ""
}

// NewOwner returns a lease owner id for this process (see ownerID): serve
// gives the same one to every stage, so `opwatch status` shows what each
// replica holds.
func NewOwner() string {
	var b [4]byte
	rand.Read(b[:])
	return ownerID(selfProcess(), hex.EncodeToString(b[:]))
}

// ownerID is "host-pid-suffix", followed on systems that tell it by
// "@boot/pidns/start". The suffix tells apart Ingesters of one process.
func ownerID(p process, suffix string) string {
	id := fmt.Sprintf("%s-%d-%s", p.Host, p.PID, suffix)
	if p.complete() {
		id += "@" + p.BootID + "/" + p.PIDNS + "/" + p.Start
	}
	return id
}

// parseOwner reads what ownerID wrote; ok is false for anything else.
func parseOwner(owner string) (p process, ok bool) {
	head, ident, hasIdent := strings.Cut(owner, "@")
	// The host may contain '-': pid and suffix are the last two fields.
	i := strings.LastIndexByte(head, '-')
	if i <= 0 {
		return process{}, false
	}
	j := strings.LastIndexByte(head[:i], '-')
	if j <= 0 {
		return process{}, false
	}
	pid, err := strconv.Atoi(head[j+1 : i])
	if err != nil || pid <= 0 {
		return process{}, false
	}
	p = process{Host: head[:j], PID: pid}
	if hasIdent {
		parts := strings.Split(ident, "/")
		if len(parts) != 3 {
			return process{}, false
		}
		p.BootID, p.PIDNS, p.Start = parts[0], parts[1], parts[2]
	}
	return p, true
}

// probe looks a pid up in this process's pid namespace: whether it exists
// and, if so, its start time. An error means "cannot tell".
type probe func(pid int) (start string, exists bool, err error)

// staleOwner decides whether owner is a poller that has ended, so its leases
// can be released at once instead of at their expiry. It says yes only when
// it is sure: the owner ran on this boot of this machine, in this pid
// namespace, and its pid is gone or now names a process that started at
// another time. Anything else (another machine or container, an owner id
// without the identity, a check that fails) waits for the expiry; a lease
// released early while its owner lives would let two pollers interleave.
func staleOwner(owner string, self process, look probe) bool {
	o, ok := parseOwner(owner)
	if !ok || !o.complete() || !self.complete() {
		return false
	}
	if o.Host != self.Host || o.BootID != self.BootID || o.PIDNS != self.PIDNS {
		return false
	}
	if o.PID == self.PID && o.Start == self.Start {
		return false // this very process (another Ingester in it)
	}
	start, exists, err := look(o.PID)
	if err != nil {
		return false
	}
	return !exists || start != o.Start
}

// releaseStale ends the polls that dead local pollers left leased, recording
// that they were interrupted, so the streams can be claimed now.
func (in *Ingester) releaseStale(ctx context.Context, streams []store.Stream) {
	self := selfProcess()
	for _, st := range streams {
		if st.LeaseOwner == "" || st.LeaseOwner == in.cfg.Owner || !staleOwner(st.LeaseOwner, self, lookupProcess) {
			continue
		}
		// Due now, whatever our clock says: the dead poller had claimed
		// it, so its old schedule was already due by the store's clock.
		next := in.cfg.Now()
		if !st.NextPollAt.IsZero() && st.NextPollAt.Before(next) {
			next = st.NextPollAt
		}
		err := in.cfg.Store.FinishPoll(ctx, store.PollOutcome{
			StreamID: st.ID, LeaseOwner: st.LeaseOwner, NextPollAt: next,
			Err: "poll interrupted: the poller process ended without finishing; the next poll resumes from the stored cursor",
		})
		if err == nil {
			in.log.Info("released the lease of a poller that ended", "stream", st.ID, "owner", st.LeaseOwner)
		}
	}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// statStartTime returns field 22 (starttime) of a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted after its last ')'.
func statStartTime(stat string) (string, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return "", false
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return "", false
	}
	if _, err := strconv.ParseUint(fields[19], 10, 64); err != nil {
		return "", false
	}
	return fields[19], true
}
