package emulator

import (
	"testing"
	"time"
)

func TestParseBody(t *testing.T) {
	t0 := time.Date(2021, 6, 11, 19, 32, 50, 0, time.UTC)
	tests := []struct {
		body    string
		want    pageRequest
		wantErr bool
	}{
		{body: `{}`, want: pageRequest{limit: 100}},
		{body: ` { "limit": 1000 } `, want: pageRequest{limit: 1000}},
		{body: `{"limit":1}`, want: pageRequest{limit: 1}},
		{body: `{"limit":1e2}`, want: pageRequest{limit: 100}},
		{body: `{"limit":null}`, want: pageRequest{limit: 100}},
		{body: `{"start_time":"2021-06-11T16:32:50-03:00"}`, want: pageRequest{limit: 100, start: t0, hasStart: true}},
		{body: `{"start_time":"2021-06-11T19:32:50Z","end_time":"2021-06-11T19:32:50.000Z"}`,
			want: pageRequest{limit: 100, start: t0, hasStart: true, end: t0, hasEnd: true}},
		{body: `{"start_time":"2021-06-11T19:32:50-00:00"}`, want: pageRequest{limit: 100, start: t0, hasStart: true}},
		// RFC 3339 allows lowercase t and z.
		{body: `{"start_time":"2021-06-11t19:32:50z","end_time":"2021-06-11t16:32:50.000-03:00"}`,
			want: pageRequest{limit: 100, start: t0, hasStart: true, end: t0, hasEnd: true}},
		{body: `{ "cursor": "abc" }`, want: pageRequest{cursor: "abc"}},
		// The cursor wins over reset fields, even invalid ones.
		{body: `{"cursor":"abc","limit":5000,"start_time":"yesterday"}`, want: pageRequest{cursor: "abc"}},
		// An empty or null cursor is no cursor.
		{body: `{"cursor":"","limit":5}`, want: pageRequest{limit: 5}},
		{body: `{"cursor":null}`, want: pageRequest{limit: 100}},
		{body: `{"unknown":true,"limit":7}`, want: pageRequest{limit: 7}},

		{body: ``, wantErr: true},
		{body: `   `, wantErr: true},
		{body: `null`, wantErr: true},
		{body: `[]`, wantErr: true},
		{body: `"cursor"`, wantErr: true},
		{body: `limit=100`, wantErr: true},
		{body: `{"limit":100`, wantErr: true},
		{body: `{"limit":100} trailing`, wantErr: true},
		{body: `{"limit":0}`, wantErr: true},
		{body: `{"limit":-1}`, wantErr: true},
		{body: `{"limit":1001}`, wantErr: true},
		{body: `{"limit":1.5}`, wantErr: true},
		{body: `{"limit":"100"}`, wantErr: true},
		{body: `{"limit":1e400}`, wantErr: true},
		{body: `{"start_time":"2021-06-11"}`, wantErr: true},
		{body: `{"start_time":"2021-06-11 19:32:50"}`, wantErr: true},
		{body: `{"start_time":1623439970}`, wantErr: true},
		{body: `{"end_time":"now"}`, wantErr: true},
		{body: `{"start_time":"2021-06-12T00:00:00Z","end_time":"2021-06-11T00:00:00Z"}`, wantErr: true},
		{body: `{"cursor":42}`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseBody([]byte(tt.body))
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseBody(%s) = %+v, want an error", tt.body, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseBody(%s): %v", tt.body, err)
			continue
		}
		if got.cursor != tt.want.cursor || got.limit != tt.want.limit || got.hasStart != tt.want.hasStart ||
			got.hasEnd != tt.want.hasEnd || !got.start.Equal(tt.want.start) || !got.end.Equal(tt.want.end) {
			t.Errorf("parseBody(%s) = %+v, want %+v", tt.body, got, tt.want)
		}
	}
}

func TestWindowDefaults(t *testing.T) {
	now := time.Date(2025, 7, 28, 19, 0, 0, 0, time.UTC)
	end := now.Add(-5 * time.Hour)
	tests := []struct {
		name      string
		req       pageRequest
		wantStart time.Time
		wantEnd   int64
		wantHas   bool
	}{
		{"nothing: one hour back, open-ended", pageRequest{}, now.Add(-time.Hour), 0, false},
		{"end only: one hour before end", pageRequest{end: end, hasEnd: true}, end.Add(-time.Hour), end.UnixNano(), true},
		{"old start: clamped to 120 days", pageRequest{start: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), hasStart: true},
			now.Add(-120 * 24 * time.Hour), 0, false},
		{"start kept", pageRequest{start: end, hasStart: true}, end, 0, false},
	}
	for _, tt := range tests {
		s, e, has := tt.req.window(now)
		if s != tt.wantStart.UnixNano() || e != tt.wantEnd || has != tt.wantHas {
			t.Errorf("%s: window = %v, %d, %v; want %v, %d, %v", tt.name,
				time.Unix(0, s).UTC(), e, has, tt.wantStart, tt.wantEnd, tt.wantHas)
		}
	}
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"limit":1000,"start_time":"2020-01-01T00:00:00Z"}`, `{ "cursor": "x" }`,
		`{"limit":1e2,"end_time":"2021-06-11T16:32:50-03:00"}`, `[`, `{"limit":-0}`,
		`{"start_time":"2021-06-11t16:32:50.5z"}`} {
		f.Add([]byte(s))
	}
	now := time.Date(2025, 7, 28, 19, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseBody(body)
		if err != nil || req.cursor != "" {
			return
		}
		if req.limit < 1 || req.limit > maxLimit {
			t.Fatalf("accepted limit %d", req.limit)
		}
		if s, e, has := req.window(now); has && req.hasStart && s > e && req.start.After(now.Add(-retention)) {
			t.Fatalf("accepted a window that ends before it starts: %v", req)
		}
	})
}
