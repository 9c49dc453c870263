package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// part is one long-lived piece of `serve` (ingest now; detect, deliver,
// health and web as they join).
type part struct {
	name string
	run  func(ctx context.Context) error
}

// runGroup runs parts together until ctx ends or one of them returns: the
// first to fail (or to stop on its own) stops the others. Shutdown is
// ordered: parts are stopped one at a time in the order given, each
// finishing before the next is told to stop, so that a stage downstream
// still takes what an upstream one committed while stopping.
func runGroup(ctx context.Context, log *slog.Logger, parts []part) error {
	type exit struct {
		i   int
		err error
	}
	exits := make(chan exit, len(parts))
	cancels := make([]context.CancelFunc, len(parts))
	for i, p := range parts {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i] = cancel
		go func() {
			err := p.run(pctx)
			exits <- exit{i, err}
		}()
	}
	done := make([]bool, len(parts))
	var first error
	record := func(x exit) {
		done[x.i] = true
		if x.err != nil && !errors.Is(x.err, context.Canceled) {
			log.Error("part failed", "part", parts[x.i].name, "err", x.err)
			if first == nil {
				first = fmt.Errorf("%s: %w", parts[x.i].name, x.err)
			}
		}
	}
	select {
	case <-ctx.Done():
	case x := <-exits:
		record(x)
		if x.err == nil {
			log.Info("part stopped; stopping the others", "part", parts[x.i].name)
		}
	}
	for i := range parts {
		cancels[i]()
		for !done[i] {
			record(<-exits)
		}
	}
	return first
}
