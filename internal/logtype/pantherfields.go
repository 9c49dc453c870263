package logtype

// PantherFields returns the p_ fields opwatch fills on every event, as
// Panther names them. They are stored beside the event, never inside Raw.
func PantherFields() []Field {
	return []Field{
		{Name: "p_log_type", Type: String, Description: "The log type of the event, for example OnePassword.SignInAttempt."},
		{Name: "p_row_id", Type: String, Description: "A unique ID for the stored row: 32 lowercase hexadecimal characters."},
		{Name: "p_event_time", Type: Timestamp, Description: "The event's timestamp field in UTC, written as Panther writes times: 2024-08-16 19:18:43.784550714."},
		{Name: "p_parse_time", Type: Timestamp, Description: "When opwatch parsed the event, in UTC, written like p_event_time."},
		{Name: "p_source_id", Type: String, Description: "The ID of the opwatch source (the 1Password account and token) the event came from."},
		{Name: "p_source_label", Type: String, Description: "The name of the source the event came from, as it was when the event was stored."},
		{Name: "p_any_ip_addresses", Type: Array, Description: "The IP addresses in the event's ip indicator fields: trimmed, valid, de-duplicated and sorted. Absent when there are none."},
		{Name: "p_any_emails", Type: Array, Description: "The email addresses in the event's email indicator fields: trimmed, containing @, de-duplicated and sorted. Absent when there are none."},
	}
}
