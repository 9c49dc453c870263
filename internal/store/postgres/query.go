package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/opwatch/opwatch/internal/store"
)

// maxValueBytes caps the length of any value a query returns, as the SQLite
// engine does: string_agg over the lake fails instead of growing opwatch.
// The server itself bounds a query's memory (work_mem, then temporary
// files), and rows are handed out as they come.
const maxValueBytes = 32 << 20

// queryWords are the statements Query runs: those that only read and
// return rows. writeWords are refused before anything reaches the server.
var (
	queryWords = map[string]bool{"SELECT": true, "WITH": true, "VALUES": true, "TABLE": true, "EXPLAIN": true, "(": true}
	writeWords = map[string]bool{
		"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "CREATE": true, "DROP": true, "ALTER": true,
		"TRUNCATE": true, "GRANT": true, "REVOKE": true, "COPY": true, "VACUUM": true, "ANALYZE": true, "ANALYSE": true,
		"CLUSTER": true, "REINDEX": true, "COMMENT": true, "SECURITY": true, "REFRESH": true, "IMPORT": true, "LOCK": true,
		"DO": true, "CALL": true, "SET": true, "RESET": true, "BEGIN": true, "START": true, "COMMIT": true, "END": true,
		"ABORT": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true, "PREPARE": true, "EXECUTE": true,
		"DEALLOCATE": true, "DECLARE": true, "FETCH": true, "MOVE": true, "CLOSE": true, "LISTEN": true, "NOTIFY": true,
		"UNLISTEN": true, "LOAD": true, "DISCARD": true, "CHECKPOINT": true, "REASSIGN": true, "SHOW": true,
	}
)

// Query runs one read-only statement as the lake role (see setupLake):
//
//  1. only a statement that reads (SELECT, WITH, VALUES, TABLE, EXPLAIN) is
//     sent at all; anything else is refused with store.ErrReadOnly, or
//     with PostgreSQL's own syntax error;
//  2. it runs in a READ ONLY transaction that is always rolled back, with
//     a statement_timeout from ctx's deadline;
//  3. it runs inside opwatch_lake_query, a SECURITY DEFINER function owned
//     by the lake role: every table it reads (also through dynamic SQL,
//     such as query_to_xml) is checked against the role's grants, which
//     leave out the secret columns, and the role cannot be changed there;
//  4. the connection's session-level advisory locks are released after,
//     the only state a rolled-back read can leave behind.
//
// The statement is first described (parsed, not run) to learn its columns,
// which the function's call must declare.
func (s *Store) Query(ctx context.Context, query string, row func(columns []string, values []any) error) error {
	stmt, more := splitStatement(query)
	if more {
		return errors.New("it holds more than one statement: run one statement at a time")
	}
	if strings.TrimSpace(stmt) == "" || leadingWord(stmt) == "" {
		return errors.New("the statement is empty")
	}
	word := leadingWord(stmt)
	if writeWords[word] {
		return deniedError(fmt.Sprintf("%s is not a query: only SELECT, WITH, VALUES, TABLE and EXPLAIN run here", word))
	}
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline && time.Until(deadline) <= 0 {
		return fmt.Errorf("stopped at its time limit: %w", context.DeadlineExceeded)
	}
	c, err := s.lake.Acquire(ctx)
	if err != nil {
		return queryError(ctx, err)
	}
	conn := c.Conn()
	begin := "BEGIN READ ONLY"
	if hasDeadline {
		ms := max(time.Until(deadline).Milliseconds(), 1)
		begin += "; SET LOCAL statement_timeout = " + strconv.FormatInt(ms, 10)
	}
	defer func() {
		// With a fresh context: the caller's may be done, and the lock
		// release must happen before the connection serves anyone else.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.PgConn().Exec(cctx, "ROLLBACK; SELECT pg_advisory_unlock_all()").ReadAll(); err != nil {
			conn.PgConn().Close(cctx)
		}
		c.Release()
	}()
	if _, err := conn.PgConn().Exec(ctx, begin).ReadAll(); err != nil {
		return queryError(ctx, err)
	}
	desc, err := conn.PgConn().Prepare(ctx, "", stmt, nil)
	if err != nil {
		return queryError(ctx, err)
	}
	if !queryWords[word] {
		// PostgreSQL parsed it, and it is no query.
		return deniedError(fmt.Sprintf("%s is not a query: only SELECT, WITH, VALUES, TABLE and EXPLAIN run here", word))
	}
	cols := make([]string, len(desc.Fields))
	for i, f := range desc.Fields {
		cols[i] = f.Name
	}
	if len(cols) == 0 {
		// SELECT INTO (which would make a table) among others.
		return errors.New("the statement returns no columns: name the columns to read")
	}
	outer, err := lakeCall(ctx, conn, desc.Fields)
	if err != nil {
		return queryError(ctx, err)
	}
	rows, err := conn.Query(ctx, outer, stmt)
	if err != nil {
		return queryError(ctx, err)
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	n := 0
	for rows.Next() {
		n++
		raw, err := rows.Values()
		if err != nil {
			return queryError(ctx, err)
		}
		for i, v := range raw {
			vals[i] = plain(v)
		}
		if err := row(cols, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return queryError(ctx, err)
	}
	if n == 0 {
		return row(cols, nil) // the columns of an empty result
	}
	return nil
}

// lakeCall is the statement that runs the user's ($1) through
// opwatch_lake_query, declaring the columns it was described with, and
// turning each into a value Query hands out: numbers, booleans and times
// as they are, text and bytea capped at maxValueBytes, arrays as JSON
// text, anything else as its text.
func lakeCall(ctx context.Context, conn *pgx.Conn, fields []pgconn.FieldDescription) (string, error) {
	oids := make([]int64, len(fields))
	mods := make([]int32, len(fields))
	for i, f := range fields {
		oids[i], mods[i] = int64(f.DataTypeOID), f.TypeModifier
	}
	rows, err := conn.Query(ctx, `SELECT format_type(t.oid, u.m), t.typcategory::text, t.typtype = 'p'
		FROM unnest($1::bigint[], $2::int4[]) WITH ORDINALITY AS u(o, m, i) JOIN pg_type t ON t.oid = u.o::oid ORDER BY u.i`,
		oids, mods)
	if err != nil {
		return "", err
	}
	type colType struct {
		name, category string
		pseudo         bool
	}
	types, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (colType, error) {
		var t colType
		err := r.Scan(&t.name, &t.category, &t.pseudo)
		return t, err
	})
	if err != nil {
		return "", err
	}
	if len(types) != len(fields) {
		return "", errors.New("a column's type is unknown to the server")
	}
	capped := func(expr, typ string) string {
		return "CASE WHEN octet_length(" + expr + ") > " + strconv.Itoa(maxValueBytes) +
			" THEN opwatch_value_too_big()::" + typ + " ELSE " + expr + " END"
	}
	sel := make([]string, len(fields))
	def := make([]string, len(fields))
	for i, f := range fields {
		if types[i].pseudo {
			return "", fmt.Errorf("column %q is of type %s, which a query cannot return here: cast it (%s::text)",
				f.Name, types[i].name, f.Name)
		}
		c := "c" + strconv.Itoa(i+1)
		def[i] = c + " " + types[i].name
		switch f.DataTypeOID {
		case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID, pgtype.Float4OID, pgtype.Float8OID,
			pgtype.NumericOID, pgtype.BoolOID, pgtype.TimestamptzOID, pgtype.TimestampOID:
			sel[i] = c
		case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.QCharOID:
			sel[i] = capped(c+"::text", "text")
		case pgtype.ByteaOID:
			sel[i] = capped(c, "bytea")
		default:
			if types[i].category == "A" {
				sel[i] = capped("to_json("+c+")::text", "text")
			} else {
				sel[i] = capped(c+"::text", "text")
			}
		}
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM opwatch_lake_query($1) AS t(" + strings.Join(def, ", ") + ")", nil
}

// plain turns a decoded value into int64, float64, string or nil, as the
// SQLite engine hands them out; times in Panther's lake format.
func plain(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, string:
		return v
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case []byte:
		return string(x)
	case time.Time:
		return lakeTime(x)
	case pgtype.Numeric:
		return numericValue(x)
	}
	return fmt.Sprint(v)
}

// numericValue is a whole numeric (sum, count of a bigint) as int64 when it
// fits, any other as float64.
func numericValue(n pgtype.Numeric) any {
	if !n.Valid {
		return nil
	}
	if n.NaN {
		return math.NaN()
	}
	if n.InfinityModifier == pgtype.Infinity {
		return math.Inf(1)
	}
	if n.InfinityModifier == pgtype.NegativeInfinity {
		return math.Inf(-1)
	}
	if n.Exp >= 0 && n.Int != nil {
		if i, err := n.Int64Value(); err == nil && i.Valid {
			return i.Int64
		}
	}
	f, err := n.Float64Value()
	if err != nil || !f.Valid {
		return nil
	}
	return f.Float64
}

// queryError says why a query stopped.
func queryError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("stopped at its time limit: %w", ctxErr)
		}
		return fmt.Errorf("%w", ctxErr)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%w", err)
	}
	switch pe.Code {
	case "57014": // query_canceled: the statement_timeout set from ctx's deadline
		if _, ok := ctx.Deadline(); ok {
			return fmt.Errorf("stopped at its time limit: %w", context.DeadlineExceeded)
		}
	case "42501": // insufficient_privilege
		if strings.HasPrefix(pe.Message, "permission denied for table") {
			return deniedError(pe.Message + ": queries may read every table but the secrets (a source's token, a destination's " +
				"secret, a stream's cursor, password, session and API token hashes); name the columns you need")
		}
		return deniedError(pe.Message)
	case "25006": // read_only_sql_transaction
		return fmt.Errorf("%w (%s)", store.ErrReadOnly, pe.Message)
	case "54000": // program_limit_exceeded: opwatch_value_too_big, among others
		return fmt.Errorf("%s", pe.Message)
	case "42883": // undefined_function
		if strings.Contains(pe.Message, "opwatch_lake_query") {
			return errors.New("queries cannot run: the role they run as is not set up; run opwatch migrate")
		}
	}
	return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
}

// deniedError refuses a statement: it is store.ErrReadOnly for errors.Is,
// with its own words (the statement may well have been read-only).
type deniedError string

func (e deniedError) Error() string { return string(e) }
func (e deniedError) Unwrap() error { return store.ErrReadOnly }
