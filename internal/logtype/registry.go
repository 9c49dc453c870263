package logtype

// All returns the three log types, in a stable order. Each call builds fresh
// values, so callers may keep or change them without affecting others.
func All() []*LogType {
	return []*LogType{SignInAttempt(), ItemUsage(), AuditEvent()}
}

// ByName returns the log type named name (OnePassword.SignInAttempt), or nil.
func ByName(name string) *LogType {
	switch name {
	case "OnePassword.SignInAttempt":
		return SignInAttempt()
	case "OnePassword.ItemUsage":
		return ItemUsage()
	case "OnePassword.AuditEvent":
		return AuditEvent()
	}
	return nil
}

// ByFeature returns the log type of an Events API feature (signinattempts,
// itemusages, auditevents), or nil.
func ByFeature(feature string) *LogType {
	switch feature {
	case "signinattempts":
		return SignInAttempt()
	case "itemusages":
		return ItemUsage()
	case "auditevents":
		return AuditEvent()
	}
	return nil
}

// newLogType compiles the schema once, so that Parse does not.
func newLogType(lt LogType) *LogType {
	lt.plan = compile(lt.Fields)
	return &lt
}
