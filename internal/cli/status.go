package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/replica"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// statusReport is what `opwatch status` shows, and its JSON form.
type statusReport struct {
	Replicas []replicaStatus `json:"replicas"`
	Stages   []stageStatus   `json:"stages"`
	Streams  streamsStatus   `json:"streams"`
	Outbox   outboxStatus    `json:"outbox"`
}

type replicaStatus struct {
	store.Replica
	Alive   bool     `json:"alive"`
	Streams int      `json:"streams"` // stream leases it holds now
	Stages  []string `json:"stages"`
}

type stageStatus struct {
	Stage    string    `json:"stage"`
	Owner    string    `json:"owner"` // "" when nobody holds a live lease
	Until    time.Time `json:"until"`
	Position int64     `json:"position,omitempty"`
	Lag      int64     `json:"lag_events,omitempty"`
}

type streamsStatus struct {
	Total, Enabled, Held, Failing, Stopped int
}

type outboxStatus struct {
	Pending, Failed int
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := e.flags("status", "status [--format table|json]",
		"Show the opwatch replicas working on the database (every serve process heartbeats),\n"+
			"what each holds (the detect and health stages run on one replica at a time; streams\n"+
			"and notifications are leased one by one), the detect stage's lag, and the streams'\n"+
			"and outbox's state. Read-only: no key needed.")
	format := fs.String("format", "table", "output `format`: table or json")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format %q: want table or json", *format)
	}
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.ReadOnly, Logger: e.logger()})
	if errors.Is(err, store.ErrNoDatabase) {
		return noDatabase(e.db, err)
	}
	if err != nil {
		return dbError(err)
	}
	defer st.Close()
	r, err := readStatus(ctx, st, time.Now())
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printStatus(e, r)
	return nil
}

func readStatus(ctx context.Context, st store.Store, now time.Time) (statusReport, error) {
	var r statusReport
	reps, err := st.Replicas(ctx)
	if err != nil {
		return r, err
	}
	leases, err := st.StageLeases(ctx)
	if err != nil {
		return r, err
	}
	streams, err := st.Streams(ctx, "")
	if err != nil {
		return r, err
	}
	byOwner := map[string]*replicaStatus{}
	for _, rep := range reps {
		r.Replicas = append(r.Replicas, replicaStatus{Replica: rep, Alive: now.Sub(rep.SeenAt) <= replica.DefaultLease, Stages: []string{}})
	}
	for i := range r.Replicas {
		byOwner[r.Replicas[i].ID] = &r.Replicas[i]
	}
	held := map[string]stageStatus{}
	for _, l := range leases {
		if l.Until.After(now) {
			held[l.Stage] = stageStatus{Stage: l.Stage, Owner: l.Owner, Until: l.Until}
			if rs := byOwner[l.Owner]; rs != nil {
				rs.Stages = append(rs.Stages, l.Stage)
			}
		}
	}
	for _, s := range streams {
		r.Streams.Total++
		if s.Enabled {
			r.Streams.Enabled++
		}
		switch s.Status {
		case store.StreamError:
			r.Streams.Failing++
		case store.StreamStopped:
			r.Streams.Stopped++
		}
		if s.LeaseOwner != "" && s.LeaseUntil.After(now) {
			r.Streams.Held++
			if rs := byOwner[s.LeaseOwner]; rs != nil {
				rs.Streams++
			}
		}
	}
	pos, err := st.Position(ctx, detect.StageName)
	if err != nil {
		return r, err
	}
	latest, err := st.LatestSeq(ctx)
	if err != nil {
		return r, err
	}
	d := held["detect"]
	d.Stage, d.Position, d.Lag = "detect", pos, max(latest-pos, 0)
	held["detect"] = d
	if _, ok := held["health"]; !ok {
		held["health"] = stageStatus{Stage: "health"}
	}
	for _, s := range held {
		r.Stages = append(r.Stages, s)
	}
	sort.Slice(r.Stages, func(i, j int) bool { return r.Stages[i].Stage < r.Stages[j].Stage })
	dests, err := st.Destinations(ctx)
	if err != nil {
		return r, err
	}
	for _, dst := range dests {
		s, err := st.DestinationStats(ctx, dst.ID)
		if err != nil {
			return r, err
		}
		r.Outbox.Pending += s.Pending
		r.Outbox.Failed += s.Failed
	}
	return r, nil
}

func printStatus(e *env, r statusReport) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	alive := 0
	for _, rep := range r.Replicas {
		if rep.Alive {
			alive++
		}
	}
	fmt.Fprintf(w, "Replicas: %d alive of %d heard from in the last day\n", alive, len(r.Replicas))
	if len(r.Replicas) > 0 {
		fmt.Fprintln(w, "  REPLICA\tHOST\tPID\tVERSION\tSTARTED\tLAST SEEN\tHOLDS")
		for _, rep := range r.Replicas {
			holds := append([]string{}, rep.Stages...)
			if rep.Streams > 0 {
				holds = append(holds, fmt.Sprintf("%d streams", rep.Streams))
			}
			seen := roughly(time.Since(rep.SeenAt)) + " ago"
			if !rep.Alive {
				seen += " (silent)"
			}
			fmt.Fprintf(w, "  %s\t%s\t%d\t%s\t%s ago\t%s\t%s\n", safetext.Terminal(shortOwner(rep.ID)), safetext.Terminal(rep.Host), rep.PID,
				safetext.Terminal(rep.Version), roughly(time.Since(rep.StartedAt)), seen, strings.Join(holds, ", "))
		}
	}
	fmt.Fprintln(w, "Stages:")
	for _, s := range r.Stages {
		who := "not running (no replica holds it)"
		if s.Owner != "" {
			who = "on " + safetext.Terminal(shortOwner(s.Owner))
		}
		extra := ""
		if s.Stage == "detect" {
			extra = fmt.Sprintf("\tposition %d, %d events behind", s.Position, s.Lag)
		}
		fmt.Fprintf(w, "  %s\t%s%s\n", s.Stage, who, extra)
	}
	fmt.Fprintf(w, "Streams: %d (%d collected, %d being polled, %d failing, %d stopped)\n",
		r.Streams.Total, r.Streams.Enabled, r.Streams.Held, r.Streams.Failing, r.Streams.Stopped)
	fmt.Fprintf(w, "Outbox: %d notifications pending, %d failed (opwatch destinations show NAME)\n", r.Outbox.Pending, r.Outbox.Failed)
	w.Flush()
}

// shortOwner drops the process identity after '@' that owner ids carry
// for staleness checks: host-pid-suffix is what a person needs.
func shortOwner(id string) string {
	head, _, _ := strings.Cut(id, "@")
	return head
}
