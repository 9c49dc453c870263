package onepassword

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// script serves pages keyed by the request's cursor ("" for a reset).
type script struct {
	mu    sync.Mutex
	pages map[string]func(w http.ResponseWriter, r *http.Request)
	seen  []string // cursors asked for, in order
}

func (s *script) handler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := requestBody(t, r)
		cursor, _ := body["cursor"].(string)
		s.mu.Lock()
		s.seen = append(s.seen, cursor)
		h, ok := s.pages[cursor]
		s.mu.Unlock()
		if !ok {
			t.Errorf("unexpected request for cursor %q", cursor)
			w.WriteHeader(400)
			return
		}
		h(w, r)
	}
}

func page(cursor string, hasMore bool, items ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) { writePage(w, cursor, hasMore, items...) }
}

type seenPage struct {
	Cursor  string
	HasMore bool
	Items   int
}

func TestDrain(t *testing.T) {
	tests := []struct {
		name      string
		start     Request
		pages     map[string]func(http.ResponseWriter, *http.Request)
		want      []seenPage
		wantAsked []string
	}{
		{
			name:  "single empty page",
			start: Request{Cursor: "c0"},
			pages: map[string]func(http.ResponseWriter, *http.Request){"c0": page("c0", false)},
			want:  []seenPage{{"c0", false, 0}}, wantAsked: []string{"c0"},
		},
		{
			name:  "pages until has_more is false",
			start: Request{Limit: 2},
			pages: map[string]func(http.ResponseWriter, *http.Request){
				"":   page("c1", true, `{"uuid":"1"}`, `{"uuid":"2"}`),
				"c1": page("c2", true, `{"uuid":"3"}`, `{"uuid":"4"}`),
				"c2": page("c3", false, `{"uuid":"5"}`),
			},
			want:      []seenPage{{"c1", true, 2}, {"c2", true, 2}, {"c3", false, 1}},
			wantAsked: []string{"", "c1", "c2"},
		},
		{
			name:  "empty page with has_more and a new cursor continues",
			start: Request{Cursor: "c0"},
			pages: map[string]func(http.ResponseWriter, *http.Request){
				"c0": page("c1", true),
				"c1": page("c2", false, `{"uuid":"1"}`),
			},
			want:      []seenPage{{"c1", true, 0}, {"c2", false, 1}},
			wantAsked: []string{"c0", "c1"},
		},
		{
			name:  "has_more false with a new cursor is the last page",
			start: Request{Cursor: "c0"},
			pages: map[string]func(http.ResponseWriter, *http.Request){"c0": page("c9", false)},
			want:  []seenPage{{"c9", false, 0}}, wantAsked: []string{"c0"},
		},
		{
			name:  "has_more with an empty page and the same cursor stops",
			start: Request{Cursor: "c0"},
			pages: map[string]func(http.ResponseWriter, *http.Request){
				"c0": page("c1", true, `{"uuid":"1"}`),
				"c1": page("c1", true),
			},
			want:      []seenPage{{"c1", true, 1}, {"c1", true, 0}},
			wantAsked: []string{"c0", "c1"},
		},
		{
			name:  "same cursor with items is not compared",
			start: Request{Cursor: "c0"},
			pages: map[string]func(http.ResponseWriter, *http.Request){
				"c0": page("c1", true, `{"uuid":"1"}`),
				"c1": func(w http.ResponseWriter, r *http.Request) {
					// The same cursor string, but items: keep going.
					writePage(w, "c1", false, `{"uuid":"2"}`)
				},
			},
			want:      []seenPage{{"c1", true, 1}, {"c1", false, 1}},
			wantAsked: []string{"c0", "c1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{pages: tt.pages}
			srv := serve(t, s.handler(t))
			c, _ := testClient(t, srv, nil)
			var got []seenPage
			err := c.Drain(context.Background(), ItemUsages, tt.start, func(p Page) error {
				got = append(got, seenPage{p.Cursor, p.HasMore, len(p.Items)})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("pages %v, want %v", got, tt.want)
			}
			if !slices.Equal(s.seen, tt.wantAsked) {
				t.Errorf("asked for %q, want %q", s.seen, tt.wantAsked)
			}
		})
	}
}

func TestDrainStopsOnEndlessEmptyPages(t *testing.T) {
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		writePage(w, fmt.Sprintf("c%d", n.Add(1)), true)
	})
	c, _ := testClient(t, srv, nil)
	pages := 0
	err := c.Drain(context.Background(), ItemUsages, Request{}, func(p Page) error { pages++; return nil })
	if err != nil || pages != maxEmptyPages || n.Load() != maxEmptyPages {
		t.Errorf("err %v after %d pages and %d requests, want %d", err, pages, n.Load(), maxEmptyPages)
	}
}

func TestDrainPrefetches(t *testing.T) {
	// fn of page 1 blocks until the server has been asked for page 2, which
	// only happens if Drain fetches ahead.
	asked := make(chan struct{})
	s := &script{pages: map[string]func(http.ResponseWriter, *http.Request){
		"":   page("c1", true, `{"uuid":"1"}`),
		"c1": func(w http.ResponseWriter, r *http.Request) { close(asked); writePage(w, "c2", false, `{"uuid":"2"}`) },
	}}
	srv := serve(t, s.handler(t))
	c, _ := testClient(t, srv, nil)
	var got []string
	err := c.Drain(context.Background(), ItemUsages, Request{}, func(p Page) error {
		if p.Cursor == "c1" {
			<-asked
		}
		got = append(got, string(p.Items[0]))
		return nil
	})
	if err != nil || !slices.Equal(got, []string{`{"uuid":"1"}`, `{"uuid":"2"}`}) {
		t.Errorf("err %v, items %v", err, got)
	}
}

func TestDrainFnErrorDiscardsPrefetch(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := &script{pages: map[string]func(http.ResponseWriter, *http.Request){
		"": page("c1", true, `{"uuid":"1"}`),
		// The prefetch is still in flight when fn fails.
		"c1": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			writePage(w, "c2", false, `{"uuid":"2"}`)
		},
	}}
	srv := serve(t, s.handler(t))
	c, _ := testClient(t, srv, nil)
	boom := errors.New("store is down")
	calls := 0
	err := c.Drain(context.Background(), ItemUsages, Request{}, func(p Page) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("err %v after %d calls, want fn's error after 1", err, calls)
	}
}

func TestDrainFetchErrorAfterCommit(t *testing.T) {
	s := &script{pages: map[string]func(http.ResponseWriter, *http.Request){
		"":   page("c1", true, `{"uuid":"1"}`),
		"c1": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) },
	}}
	srv := serve(t, s.handler(t))
	c, _ := testClient(t, srv, nil)
	var committed []string
	err := c.Drain(context.Background(), ItemUsages, Request{}, func(p Page) error {
		committed = append(committed, p.Cursor)
		return nil
	})
	if k, _ := KindOf(err); k != BadRequest || !slices.Equal(committed, []string{"c1"}) {
		t.Errorf("err %v, committed %v; want BadRequest after c1 was committed", err, committed)
	}
	// The first fetch failing calls fn never.
	calls := 0
	err = c.Drain(context.Background(), ItemUsages, Request{Cursor: "c1"}, func(Page) error { calls++; return nil })
	if err == nil || calls != 0 {
		t.Errorf("err %v, %d calls", err, calls)
	}
}

func TestDrainCancelled(t *testing.T) {
	s := &script{pages: map[string]func(http.ResponseWriter, *http.Request){
		"":   page("c1", true, `{"uuid":"1"}`),
		"c1": page("c2", true, `{"uuid":"2"}`),
		"c2": page("c3", false),
	}}
	srv := serve(t, s.handler(t))
	c, _ := testClient(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := c.Drain(ctx, ItemUsages, Request{}, func(p Page) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("err %v after %d calls, want context.Canceled after 1", err, calls)
	}
}
