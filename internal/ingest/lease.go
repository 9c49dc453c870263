package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// heartbeat keeps the lease of a stream alive while its poll runs, however
// long a page takes (retries included), and stops when the returned func is
// called. A lost lease cancels the poll's context: its next commit would be
// refused anyway.
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
				err := in.cfg.Store.ExtendLease(ctx, st.ID, in.cfg.Owner, in.cfg.Now().Add(in.cfg.LeaseFor))
				if errors.Is(err, store.ErrLeaseLost) {
					cancel(err)
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// ownerPrefix is the part of an owner id that names this host; the rest
// is the pid and a random suffix.
func ownerID(host string, pid int, suffix string) string {
	return fmt.Sprintf("%s-%d-%s", host, pid, suffix)
}

// staleOwner reports whether owner is a poller of this host whose process
// no longer exists: after a crash (kill -9) its leases can be released at
// once instead of waiting for them to expire. A reused pid only makes us
// wait for the expiry, never steal a live lease.
func staleOwner(owner string) bool {
	host, _ := os.Hostname()
	rest, ok := strings.CutPrefix(owner, host+"-")
	if !ok {
		return false
	}
	pidText, _, ok := strings.Cut(rest, "-")
	if !ok {
		return false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// releaseStale ends the polls that dead local pollers left leased, recording
// that they were interrupted, so the streams can be claimed now.
func (in *Ingester) releaseStale(ctx context.Context, streams []store.Stream) {
	now := in.cfg.Now()
	for _, st := range streams {
		if st.LeaseOwner == "" || st.LeaseOwner == in.cfg.Owner || !st.LeaseUntil.After(now) || !staleOwner(st.LeaseOwner) {
			continue
		}
		err := in.cfg.Store.FinishPoll(ctx, store.PollOutcome{
			StreamID: st.ID, LeaseOwner: st.LeaseOwner, At: now, NextPollAt: now,
			Err: "poll interrupted: the poller process (" + st.LeaseOwner + ") ended without finishing; resumed from the stored cursor",
		})
		if err == nil {
			in.log.Info("released the lease of a poller that died", "stream", st.ID, "owner", st.LeaseOwner)
		}
	}
}
