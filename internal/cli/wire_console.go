package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/console"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/search"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

// mountConsole adds the console, its API and the login page to mux, and
// creates the first admin on a database without users (printing its
// one-time password to out).
func (a *app) mountConsole(ctx context.Context, mux *http.ServeMux, rules *detect.Set, triage *alert.Triage, o serveOptions) error {
	as := auth.New(auth.Config{Store: a.store, Logger: a.log, SecureCookies: o.tls.Enabled(), RenderLogin: console.RenderLogin})
	if o.publicURL != "" {
		u, err := url.Parse(o.publicURL)
		if err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
		if err := as.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
	}
	if err := as.EnsureAdmin(ctx, o.out); err != nil {
		return err
	}
	as.Mount(mux)
	return console.Mount(mux, console.Deps{
		Store:     a.store,
		Auth:      as,
		Sources:   a.sourceService(source.CheckOnline),
		Triage:    triage,
		Sender:    newSender(a.log),
		Secrets:   a.secrets,
		Rules:     rules,
		RuleDirs:  o.ruleDirs,
		Search:    indicatorSearch(search.New(a.store, nil)),
		PublicURL: o.publicURL,
		Logger:    a.log,
	})
}

// indicatorSearch adapts package search to the console's search function.
func indicatorSearch(s *search.Searcher) console.SearchFunc {
	return func(ctx context.Context, q console.IndicatorQuery) (console.IndicatorResult, error) {
		res, err := s.Search(ctx, search.Query{Indicator: q.Indicator, From: q.From, To: q.To, LogTypes: q.LogTypes, Limit: q.Limit})
		if err != nil {
			return console.IndicatorResult{}, err
		}
		return console.IndicatorResult{Kind: res.Kind, Events: res.Events, More: res.Next != ""}, nil
	}
}

// demoLogin makes sure the demo's console can be signed in to: a new
// password for "admin" at every start, printed with the URL.
func (a *app) demoLogin(ctx context.Context) (string, error) {
	as := auth.New(auth.Config{Store: a.store, Logger: a.log})
	users, err := as.Users(ctx)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Name == auth.AdminName {
			return as.ResetPassword(ctx, auth.AdminName)
		}
	}
	pw := auth.RandomPassword()
	if _, err := as.AddUser(ctx, auth.AdminName, auth.RoleAdmin, pw); err != nil {
		return "", err
	}
	return pw, nil
}

// self describes this process for `opwatch status`.
func self(owner string) store.Replica {
	host, _ := os.Hostname()
	return store.Replica{ID: owner, Host: host, PID: os.Getpid(), Version: buildVersion()}
}
