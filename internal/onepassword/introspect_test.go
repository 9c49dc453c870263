package onepassword

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestIntrospect(t *testing.T) {
	tests := []struct {
		name      string
		v2Status  int
		v2Body    string
		v1Body    string
		want      Introspection
		wantPaths []string
		wantKind  ErrorKind
	}{
		{
			name:   "v2",
			v2Body: `{"uuid":"INT","issued_at":"2025-09-01T10:00:00.5Z","features":["itemusages","newfeature"],"account_uuid":"ACC","extra":1}`,
			want: Introspection{UUID: "INT", IssuedAt: time.Date(2025, 9, 1, 10, 0, 0, 5e8, time.UTC),
				Features: []Feature{ItemUsages, "newfeature"}, AccountUUID: "ACC"},
			wantPaths: []string{"/api/v2/auth/introspect"},
		},
		{
			name:      "v1 fallback on 404",
			v2Status:  404,
			v1Body:    `{"UUID":"INT","IssuedAt":"2021-06-11T16:32:50-03:00","Features":["signinattempts"]}`,
			want:      Introspection{UUID: "INT", IssuedAt: time.Date(2021, 6, 11, 19, 32, 50, 0, time.UTC), Features: []Feature{SignInAttempts}},
			wantPaths: []string{"/api/v2/auth/introspect", "/api/auth/introspect"},
		},
		{
			name:      "unreadable issue time is left zero",
			v2Body:    `{"uuid":"INT","issued_at":"yesterday","features":[]}`,
			want:      Introspection{UUID: "INT", Features: []Feature{}},
			wantPaths: []string{"/api/v2/auth/introspect"},
		},
		{name: "401 is not retried", v2Status: 401, wantKind: Unauthorized, wantPaths: []string{"/api/v2/auth/introspect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var paths []string
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				paths = append(paths, r.URL.Path)
				if r.Method != http.MethodGet {
					t.Errorf("method %s", r.Method)
				}
				switch r.URL.Path {
				case "/api/v2/auth/introspect":
					if tt.v2Status != 0 {
						w.WriteHeader(tt.v2Status)
						return
					}
					w.Write([]byte(tt.v2Body))
				case "/api/auth/introspect":
					w.Write([]byte(tt.v1Body))
				default:
					w.WriteHeader(404)
				}
			})
			c, _ := testClient(t, srv, nil)
			got, err := c.Introspect(context.Background())
			if !slices.Equal(paths, tt.wantPaths) {
				t.Errorf("paths %v, want %v", paths, tt.wantPaths)
			}
			if tt.wantKind != 0 {
				if k, _ := KindOf(err); k != tt.wantKind {
					t.Fatalf("err = %v, want kind %v", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.UUID != tt.want.UUID || !got.IssuedAt.Equal(tt.want.IssuedAt) || !slices.Equal(got.Features, tt.want.Features) || got.AccountUUID != tt.want.AccountUUID {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
