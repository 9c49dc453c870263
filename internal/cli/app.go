package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// app is what most verbs need: the store, the key that seals tokens (nil
// when it could not be loaded for a read), the source service and a logger.
type app struct {
	store   store.Store
	secrets *secret.Box
	noKey   error // why secrets is nil: names the key file looked for
	sources *source.Service
	log     *slog.Logger
	db      string
}

func (a *app) Close() error { return a.store.Close() }

// newApp wraps an open store.
func newApp(st store.Store, log *slog.Logger, db string) (*app, error) {
	return &app{store: st, log: log, db: db}, nil
}

// keyPolicy says whether opening may create the key that seals tokens.
type keyPolicy int

const (
	// keyIfEmpty creates a key only for a database that holds no source
	// yet: a key created beside sealed tokens could never open them.
	keyIfEmpty keyPolicy = iota
	// keyCreate creates one whatever the database holds (`source update
	// --token-file` replacing a token sealed with a lost key).
	keyCreate
	// keyOptional loads the key if there is one and goes on without it.
	keyOptional
)

// openWrite opens the database for a verb that changes it (a new database
// is created at the current schema; an older one is refused until
// `opwatch migrate`), loads the key and keeps the log-type views in place.
func (e *env) openWrite(ctx context.Context, mode engine.Mode, kp keyPolicy) (*app, error) {
	log := e.logger()
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: mode, Logger: log})
	if err != nil {
		return nil, dbError(err)
	}
	a, err := newApp(st, log, e.db)
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := e.loadKey(ctx, a, kp); err != nil {
		st.Close()
		return nil, err
	}
	if err := st.SyncViews(ctx, Views()); err != nil {
		st.Close()
		return nil, fmt.Errorf("create log-type views: %w", err)
	}
	return a, nil
}

// openRead opens the database read-only: nothing is created, migrated or
// written, and no key is needed (it is used when present, to show what
// tokens say).
func (e *env) openRead(ctx context.Context) (*app, error) {
	log := e.logger()
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.ReadOnly, Logger: log})
	if err != nil {
		return nil, dbError(err)
	}
	a, err := newApp(st, log, e.db)
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := e.loadKey(ctx, a, keyOptional); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

func (e *env) loadKey(ctx context.Context, a *app, kp keyPolicy) error {
	path := e.keyPath()
	// A lost key is replaced only where opwatch keeps it: a key file named
	// explicitly that does not exist is a mistake, not a loss.
	create := kp == keyCreate && e.keyFile == ""
	if kp == keyIfEmpty {
		srcs, err := a.store.ListSources(ctx)
		if err != nil {
			return err
		}
		dests, err := a.store.Destinations(ctx)
		if err != nil {
			return err
		}
		// Destinations' secrets are sealed with the same key.
		create = len(srcs) == 0 && len(dests) == 0
	}
	box, err := secret.Load(e.getenv, path, create && path != "")
	switch {
	case err == nil:
		a.secrets = box
	case kp == keyOptional && errors.Is(err, secret.ErrNoKey):
		a.log.Debug("no key: tokens cannot be opened", "err", err)
		a.noKey = err
	default:
		return err
	}
	var b source.Box
	if a.secrets != nil {
		b = a.secrets
	}
	a.sources = source.New(a.store, source.Options{Box: b, Logger: a.log, Names: config.FlagName})
	return nil
}

// keyMissing is the error of a verb that needs the key the app opened
// without: what it looked for, and how to recover.
func (a *app) keyMissing(what string) error {
	if a.noKey != nil {
		return fmt.Errorf("cannot open %s: %w", what, a.noKey)
	}
	return fmt.Errorf("cannot open %s: %w", what, secret.ErrNoKey)
}

// sourceService is the app's source service with another way of checking
// new tokens (--no-check; configurations applied at start).
func (a *app) sourceService(check source.Check) *source.Service {
	var b source.Box
	if a.secrets != nil {
		b = a.secrets
	}
	return source.New(a.store, source.Options{Box: b, Logger: a.log, Names: config.FlagName, Check: check})
}

// keyPath is the key file: --key-file, else beside a local database, named
// after it; "" for a server database (the key must then come from
// OPWATCH_SECRET_KEY or --key-file, so that replicas share one).
func (e *env) keyPath() string {
	if e.keyFile != "" {
		return e.keyFile
	}
	if !engine.Local(e.db) {
		return ""
	}
	return keyFile(e.db)
}

// userAgent names opwatch and its version to the Events API ("devel" for a
// build without one: a User-Agent version cannot hold parentheses).
func userAgent() string {
	return "opwatch/" + strings.Trim(buildVersion(), "()")
}

// dbError words the store's open errors for people.
func dbError(err error) error {
	switch {
	case errors.Is(err, store.ErrSchemaOutdated):
		return fmt.Errorf("%w: back it up, then run `opwatch migrate` (or start `opwatch serve --migrate`)", err)
	case errors.Is(err, store.ErrNoDatabase):
		return fmt.Errorf("%w (check --db or OPWATCH_DB; `opwatch source add` or `opwatch migrate` creates one)", err)
	case errors.Is(err, store.ErrSchemaNewer):
		return fmt.Errorf("%w: use the opwatch that wrote it, or a newer one", err)
	}
	return err
}

// keyFile is where the token key of a local database lives: beside it,
// named after it.
func keyFile(db string) string {
	dir, base := filepath.Split(db)
	return filepath.Join(dir, strings.TrimSuffix(base, filepath.Ext(base))+".key")
}

// Views describes one SQL view per log type from the log types' schemas:
// the p_ columns, then every top-level field.
func Views() []store.View {
	var views []store.View
	for _, lt := range logtype.All() {
		v := store.View{Name: lt.Table, LogType: lt.Name}
		for _, f := range lt.Fields {
			v.Columns = append(v.Columns, store.ViewColumn{Name: f.Name, Kind: columnKind(f.Type)})
		}
		views = append(views, v)
	}
	return views
}

func columnKind(t logtype.FieldType) string {
	switch t {
	case logtype.BigInt, logtype.Boolean:
		return "integer"
	case logtype.Float:
		return "float"
	case logtype.Timestamp:
		return "timestamp"
	case logtype.Object, logtype.Array:
		return "json"
	}
	return "string"
}
