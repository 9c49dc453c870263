package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// app is what most verbs need: the store, the token box and a logger.
type app struct {
	store   store.Store
	secrets *secret.Box
	log     *slog.Logger
	dbPath  string
}

func (a *app) Close() error { return a.store.Close() }

// open opens the database at e.db (creating and migrating it), the key that
// seals tokens, and syncs the log-type views.
func (e *env) open(ctx context.Context) (*app, error) {
	log := e.logger()
	st, err := sqlite.Open(ctx, e.db, sqlite.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", e.db, err)
	}
	box, err := secret.Load(e.getenv, keyFile(e.db))
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := st.SyncViews(ctx, Views()); err != nil {
		st.Close()
		return nil, fmt.Errorf("create log-type views: %w", err)
	}
	return &app{store: st, secrets: box, log: log, dbPath: e.db}, nil
}

// keyFile is where the token key lives unless OPWATCH_SECRET_KEY is set:
// beside the database, named after it.
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
