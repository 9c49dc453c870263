package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// Pull drains every stream of the given sources (all when empty) once, until
// caught up, whatever their schedule: `opwatch pull`. Stopped streams are
// tried too, since the operator asked; streams that are not collected (not
// enabled) are not, and their Results say NotCollected. It returns one Result
// per stream, and an error naming every stream that failed.
func (in *Ingester) Pull(ctx context.Context, sourceIDs []string) ([]Result, error) {
	var streams []store.Stream
	if len(sourceIDs) == 0 {
		sourceIDs = []string{""}
	}
	for _, id := range sourceIDs {
		ss, err := in.cfg.Store.Streams(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		streams = append(streams, ss...)
	}
	in.releaseStale(ctx, streams)
	results := make([]Result, len(streams))
	var wg sync.WaitGroup
	slots := make(chan struct{}, in.cfg.Concurrency)
	for i, st := range streams {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if !st.Enabled {
				results[i] = Result{Stream: st, NotCollected: true}
				return
			}
			claimed, err := in.cfg.Store.ClaimStream(ctx, st.ID, in.cfg.Owner, in.cfg.LeaseFor)
			if err != nil {
				results[i] = Result{Stream: st, Err: fmt.Errorf("claim the stream: %w", err)}
				return
			}
			results[i] = in.Poll(ctx, claimed, false)
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			name := r.Source
			if name == "" {
				name = "source " + r.Stream.SourceID
			}
			errs = append(errs, fmt.Errorf("%s %s: %w", name, r.Stream.LogType, r.Err))
		}
	}
	return results, errors.Join(errs...)
}

// Progress reports a backfill's advance for one log type.
type Progress struct {
	LogType  string
	Pages    int
	Events   int       // events read (new and already stored)
	Inserted int       // new events
	At       time.Time // timestamp of the last event read: the position in the window
	Done     bool
	Err      error
}

// Backfill re-reads the window [since, until) of the source's streams with a
// reset cursor, alongside the live cursor, which it never touches. Events
// already stored are absorbed by the unique key. progress is called after
// every page, from several goroutines (one per log type). Streams that are
// not collected are left out.
func (in *Ingester) Backfill(ctx context.Context, src store.Source, since, until time.Time, progress func(Progress)) ([]Result, error) {
	streams, err := in.cfg.Store.Streams(ctx, src.ID)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	streams = slices.DeleteFunc(streams, func(st store.Stream) bool { return !st.Enabled })
	sc, err := in.client(ctx, src)
	if err != nil {
		return nil, err
	}
	in.warnInsecure(in.log.With("source", src.Name), sc.client)
	if progress == nil {
		progress = func(Progress) {}
	}
	results := make([]Result, len(streams))
	var wg sync.WaitGroup
	for i, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = in.backfillStream(ctx, sc, src, st, since, until, progress)
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Stream.LogType, r.Err))
		}
	}
	return results, errors.Join(errs...)
}

func (in *Ingester) backfillStream(ctx context.Context, sc sourceClient, src store.Source, st store.Stream,
	since, until time.Time, progress func(Progress)) Result {
	res := Result{Stream: st, Source: src.Name}
	lt := logtype.ByName(st.LogType)
	if lt == nil {
		res.Err = fmt.Errorf("unknown log type %q", st.LogType)
		return res
	}
	feature := onepassword.Feature(lt.Feature)
	client := sc.client
	if !client.Claims().Has(feature) {
		res.Err = lacksFeature(client, feature, lt.Name)
		progress(Progress{LogType: lt.Name, Done: true, Err: res.Err})
		return res
	}
	p := Progress{LogType: lt.Name}
	req := onepassword.Request{Limit: in.cfg.PageLimit, StartTime: since, EndTime: until}
	err := client.Drain(ctx, feature, req, func(page onepassword.Page) error {
		now := in.cfg.Now()
		events, quarantine := in.normalize(lt, src, sc.account, page.Items, now)
		cr, err := in.cfg.Store.InsertEvents(ctx, st.ID, events, quarantine)
		if err != nil {
			return err
		}
		res.Pages++
		res.Inserted += cr.Inserted
		res.Duplicates += cr.Duplicates
		res.Quarantine += cr.Quarantined
		in.observePage(src.Name, lt.Name, cr)
		p.Pages++
		p.Events += len(page.Items)
		p.Inserted += cr.Inserted
		for _, ev := range events {
			if ev.EventTime.After(p.At) {
				p.At = ev.EventTime
			}
		}
		progress(p)
		return nil
	})
	res.Err = err
	p.Done, p.Err = true, err
	progress(p)
	return res
}
