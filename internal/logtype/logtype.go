// Package logtype holds the three 1Password log types as Panther names them
// (OnePassword.SignInAttempt, OnePassword.ItemUsage, OnePassword.AuditEvent):
// their schemas, which the code, the docs and the console all read, and the
// parsing and validation that turn a raw Events API object into an Event.
package logtype

import "time"

// FieldType is a schema value type, as in Panther's schemas.
type FieldType string

// Field types used by the 1Password schemas.
const (
	String    FieldType = "string"
	Timestamp FieldType = "timestamp"
	BigInt    FieldType = "bigint"
	Float     FieldType = "float"
	Boolean   FieldType = "boolean"
	Object    FieldType = "object"
	Array     FieldType = "array"
)

// Field is one field of a schema.
type Field struct {
	Name        string
	Type        FieldType
	Required    bool
	Indicator   string // "email" or "ip": the value is copied into p_any_emails / p_any_ip_addresses
	Description string
	Since       string  // API version or spec that added the field ("v2", "1.2.0"); empty if always there
	Fields      []Field // members of an object
}

// LogType is one log type.
type LogType struct {
	Name         string // OnePassword.SignInAttempt
	Table        string // onepassword_signinattempt: the SQL view's name
	Feature      string // the Events API feature and endpoint: signinattempts
	Description  string
	ReferenceURL string
	Fields       []Field

	plan *plan // Fields compiled for Parse; nil when built without newLogType
}

// Event is a parsed, validated event.
type Event struct {
	UUID   string
	Time   time.Time // timestamp, in UTC
	Raw    []byte    // the object exactly as received
	IPs    []string  // indicator values: trimmed, valid IPs, de-duplicated, sorted
	Emails []string  // indicator values: trimmed, containing "@", de-duplicated, sorted
}

// ValidationError says why an event cannot be stored as its log type. Such
// an event is quarantined with Error() as the reason.
type ValidationError struct {
	Field  string // dotted path, e.g. "timestamp" or "client.ip_address"; empty for the whole object
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}
