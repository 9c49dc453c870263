package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// MappingOCSF writes the events as OCSF Identity & Access Management
// events: Authentication for sign-in attempts, Account Change or Entity
// Management for audit events, Entity Management for item usages.
const MappingOCSF = "ocsf"

// OCSFVersion is the OCSF schema version the mapping follows
// (metadata.version). 1.4.0 is the first with actor on every IAM class.
const OCSFVersion = "1.4.0"

// OCSF numbers the mapping uses.
const (
	ocsfCategoryIAM      = 3
	ocsfAccountChange    = 3001
	ocsfAuthentication   = 3002
	ocsfEntityManagement = 3004

	ocsfUnknown = 0  // activity, status, type: not reported
	ocsfOther   = 99 // reported, but not one of OCSF's values; the *_name or type says which
)

var ocsfClassNames = map[int]string{
	ocsfAccountChange:    "Account Change",
	ocsfAuthentication:   "Authentication",
	ocsfEntityManagement: "Entity Management",
}

// ocsfValue is an OCSF enum value (an activity_id, an os.type_id) and its caption.
type ocsfValue struct {
	id      int
	caption string
}

// Audit actions on a user or service account (Account Change, 3001).
// Actions not listed here are Other (99) with activity_name = the action.
var accountChangeActions = map[string]ocsfValue{
	"create":   {1, "Create"},
	"activate": {2, "Enable"},
	"reactive": {2, "Enable"},
	"changemp": {3, "Password Change"},
	"beginr":   {4, "Password Reset"}, // account recovery begun
	"completr": {4, "Password Reset"}, // and completed
	"suspend":  {5, "Disable"},
	"delete":   {6, "Delete"},
	"enblmfa":  {10, "MFA Factor Enable"},
	"disblmfa": {11, "MFA Factor Disable"},
}

// Audit actions on any other object (Entity Management, 3004). OCSF 1.4's
// Entity Management has Create, Read, Update, Delete; the rest is Other.
var entityActions = map[string]ocsfValue{
	"create":   {1, "Create"},
	"view":     {2, "Read"},
	"export":   {2, "Read"},
	"update":   {3, "Update"},
	"updatea":  {3, "Update"},
	"patch":    {3, "Update"},
	"role":     {3, "Update"},
	"convert":  {3, "Update"},
	"trename":  {3, "Update"},
	"changeks": {3, "Update"},
	"replace":  {3, "Update"},
	"updatduo": {3, "Update"},
	"updatfw":  {3, "Update"},
	"uisas":    {3, "Update"},
	"chngasso": {3, "Update"},
	"chngdsso": {3, "Update"},
	"chngpsso": {3, "Update"},
	"delete":   {4, "Delete"},
	"purge":    {4, "Delete"},
	"delshare": {4, "Delete"},
}

// Item usage actions (Entity Management on the item). Every action that
// shows, copies, fills, exports or fetches the item's secrets is a Read.
var itemUsageActions = map[string]ocsfValue{
	"server-create":       {1, "Create"},
	"reveal":              {2, "Read"},
	"secure-copy":         {2, "Read"},
	"fill":                {2, "Read"},
	"export":              {2, "Read"},
	"server-fetch":        {2, "Read"},
	"select-sso-provider": {2, "Read"},
	"server-update":       {3, "Update"},
}

// Sign-in categories. Elastic's pipeline counts the same two as successes.
var signInStatus = map[string]int{
	"success":                   1,
	"firewall_reported_success": 1,
	"credentials_failed":        2,
	"mfa_failed":                2,
	"sso_failed":                2,
	"modern_version_failed":     2,
	"firewall_failed":           2,
}

var ocsfStatusNames = map[int]string{ocsfUnknown: "Unknown", 1: "Success", 2: "Failure", ocsfOther: "Other"}

// OCSF os.type_id by 1Password's client.os_name (lower case).
var ocsfOSTypes = map[string]ocsfValue{
	"windows": {100, "Windows"},
	"linux":   {200, "Linux"},
	"android": {201, "Android"},
	"macosx":  {300, "macOS"},
	"macos":   {300, "macOS"},
	"ios":     {301, "iOS"},
	"ipados":  {302, "iPadOS"},
	"solaris": {400, "Solaris"},
}

// The Events API feature each log type comes from (metadata.log_name).
var ocsfLogNames = map[string]string{
	"OnePassword.SignInAttempt": "signinattempts",
	"OnePassword.ItemUsage":     "itemusages",
	"OnePassword.AuditEvent":    "auditevents",
}

// ocsfFields are the event columns of the OCSF mapping. All three log types
// share them (a column a class does not use stays null), so that one
// table, or a union by name, reads every OCSF export.
func ocsfFields() []*node {
	str := func(name string) *node { return leaf(name, logtype.String) }
	num := func(name string) *node { return leaf(name, logtype.BigInt) }
	user := func(name string) *node {
		return group(name, str("uid"), str("name"), str("full_name"), str("email_addr"), str("type"), num("type_id"),
			group("account", str("uid")))
	}
	return []*node{
		num("activity_id"), str("activity_name"), num("category_uid"), str("category_name"),
		num("class_uid"), str("class_name"), num("type_uid"), str("type_name"),
		num("severity_id"), str("severity"), num("status_id"), str("status"), str("status_code"), str("status_detail"),
		num("time"), leaf("time_dt", logtype.Timestamp),
		group("metadata", str("uid"), str("version"), group("product", str("name"), str("vendor_name")),
			str("log_name"), str("event_code"), str("original_time"), num("logged_time"), leaf("profiles", logtype.Array)),
		user("user"),
		group("actor", str("app_name"), user("user")),
		group("src_endpoint", str("ip"), group("location", str("city"), str("country"), str("region"),
			leaf("lat", logtype.Float), leaf("long", logtype.Float))),
		group("device", str("uid"), num("type_id"), str("type"),
			group("os", str("name"), str("version"), num("type_id"), str("type"))),
		group("session", str("uid"), num("created_time")),
		group("service", str("name")),
		leaf("is_mfa", logtype.Boolean),
		group("entity", str("uid"), str("type"), str("version")),
		str("unmapped"), str("raw_data"),
	}
}

// NewOCSFTable builds the OCSF table of lt: the OCSF columns (ocsfFields),
// then the p_ fields and p_raw.
func NewOCSFTable(lt *logtype.LogType) (*Table, error) {
	if _, ok := ocsfLogNames[lt.Name]; !ok {
		return nil, fmt.Errorf("no OCSF mapping for log type %s", lt.Name)
	}
	return newTable(lt.Name, lt.Table+"_ocsf", ocsfFields(), ocsfDoc)
}

// ocsfEvent is the decoded event being mapped. Each value the mapping
// writes is taken out of it, so what is left is exactly the unmapped part.
type ocsfEvent struct{ obj map[string]any }

func nonEmptyString(v any) bool { s, ok := v.(string); return ok && s != "" }

func isFloat(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseFloat(string(n), 64)
	return err == nil
}

func isInt(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}

// take removes the value at the dotted path and returns it when accept
// likes it; otherwise it leaves it in place (unmapped). An object emptied
// by the removal goes too.
func (e *ocsfEvent) take(path string, accept func(any) bool) (any, bool) {
	if e.obj == nil {
		return nil, false
	}
	var rec func(m map[string]any, keys []string) (any, bool)
	rec = func(m map[string]any, keys []string) (any, bool) {
		v, ok := m[keys[0]]
		if !ok {
			return nil, false
		}
		if len(keys) == 1 {
			if !accept(v) {
				return nil, false
			}
			delete(m, keys[0])
			return v, true
		}
		sub, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		got, ok := rec(sub, keys[1:])
		if ok && len(sub) == 0 {
			delete(m, keys[0])
		}
		return got, ok
	}
	return rec(e.obj, strings.Split(path, "."))
}

func (e *ocsfEvent) str(path string) (string, bool) {
	v, ok := e.take(path, nonEmptyString)
	s, _ := v.(string)
	return s, ok
}

// peek is the non-empty string at path, left in place.
func (e *ocsfEvent) peek(path string) (string, bool) {
	s, ok := get(e.obj, path).(string)
	return s, ok && s != ""
}

// put sets m[k] to v unless v is absent (nil, or an empty object).
func put(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case map[string]any:
		if len(x) == 0 {
			return
		}
	}
	m[k] = v
}

func (e *ocsfEvent) putStr(m map[string]any, k, path string) {
	if s, ok := e.str(path); ok {
		m[k] = s
	}
}

func ocsfNum(i int) json.Number { return json.Number(strconv.Itoa(i)) }

// user maps a 1Password user: details is the object with name and email
// (and, in v2, user_type and user_account_uuid); uidPath, typePath and
// accountPath name fields outside it that take precedence.
func (e *ocsfEvent) user(details, uidPath, typePath, accountPath string) map[string]any {
	u := map[string]any{}
	if uidPath != "" {
		e.putStr(u, "uid", uidPath)
	}
	// details.uuid repeats the uid: taken when it agrees (or is the only one).
	if s, ok := e.peek(details + ".uuid"); ok && (u["uid"] == nil || u["uid"] == s) {
		e.str(details + ".uuid")
		u["uid"] = s
	}
	if s, ok := e.str(details + ".name"); ok {
		u["name"], u["full_name"] = s, s // 1Password's name is the person's full name
	}
	e.putStr(u, "email_addr", details+".email")
	// The type is normalised (user → 1 User), so the source's value is
	// left in unmapped as well.
	typ, ok := "", false
	if typePath != "" {
		typ, ok = e.peek(typePath)
	}
	if !ok {
		typ, ok = e.peek(details + ".user_type")
	}
	if ok {
		if typ == "user" {
			u["type_id"], u["type"] = ocsfNum(1), "User"
		} else { // external_user (MSP), or a type OCSF has no value for
			u["type_id"], u["type"] = ocsfNum(ocsfOther), typ
		}
	}
	acct := map[string]any{}
	if accountPath != "" {
		e.putStr(acct, "uid", accountPath)
	}
	if len(acct) == 0 {
		e.putStr(acct, "uid", details+".user_account_uuid")
	}
	put(u, "account", acct)
	return u
}

// srcEndpoint maps the IP at ipPath and 1Password's location. country, when
// set, is a path preferred over location.country (a sign-in's top-level
// ISO 3166 code); the one not used stays unmapped.
func (e *ocsfEvent) srcEndpoint(ipPath, country string) map[string]any {
	ep := map[string]any{}
	e.putStr(ep, "ip", ipPath)
	loc := map[string]any{}
	e.putStr(loc, "city", "location.city")
	e.putStr(loc, "region", "location.region")
	if country != "" {
		e.putStr(loc, "country", country)
	}
	if loc["country"] == nil {
		e.putStr(loc, "country", "location.country")
	}
	if v, ok := e.take("location.latitude", isFloat); ok {
		loc["lat"] = v
	}
	if v, ok := e.take("location.longitude", isFloat); ok {
		loc["long"] = v
	}
	put(ep, "location", loc)
	return ep
}

// device maps the client's operating system and the device UUID at uidPath
// (audit events). 1Password says nothing of the device's kind: type_id 0.
func (e *ocsfEvent) device(uidPath string) map[string]any {
	d := map[string]any{}
	if uidPath != "" {
		e.putStr(d, "uid", uidPath)
	}
	os := map[string]any{}
	if name, ok := e.str("client.os_name"); ok {
		os["name"] = name
		t, known := ocsfOSTypes[strings.ToLower(strings.ReplaceAll(name, " ", ""))]
		if !known {
			t = ocsfValue{ocsfOther, name}
		}
		os["type_id"], os["type"] = ocsfNum(t.id), t.caption
	}
	e.putStr(os, "version", "client.os_version")
	put(d, "os", os)
	if len(d) == 0 {
		return nil
	}
	d["type_id"], d["type"] = ocsfNum(ocsfUnknown), "Unknown"
	return d
}

// activity is act's entry in table: 0 Unknown when the event has no action,
// 99 Other (activity_name = the action) when OCSF has no value for it.
func activity(table map[string]ocsfValue, act string, has bool) (id int, name, caption string) {
	if !has {
		return ocsfUnknown, "Unknown", "Unknown"
	}
	if a, ok := table[act]; ok {
		return a.id, a.caption, a.caption
	}
	return ocsfOther, act, "Other"
}

// ocsfDoc is the OCSF document of one event.
func ocsfDoc(ev *store.StoredEvent, obj map[string]any) map[string]any {
	e := &ocsfEvent{obj: obj}
	doc := map[string]any{
		"category_uid": ocsfNum(ocsfCategoryIAM), "category_name": "Identity & Access Management",
		"severity_id": ocsfNum(1), "severity": "Informational",
		"time": json.Number(strconv.FormatInt(ev.EventTime.UnixMilli(), 10)), "time_dt": ev.EventTime.UTC().Format(time.RFC3339Nano),
		"raw_data": string(ev.Raw),
	}
	meta := map[string]any{
		"version": OCSFVersion, "product": map[string]any{"name": "1Password", "vendor_name": "1Password"},
		"log_name": ocsfLogNames[ev.LogType], "logged_time": json.Number(strconv.FormatInt(ev.ParseTime.UnixMilli(), 10)),
	}
	e.putStr(meta, "uid", "uuid")
	// The source's time as sent (nanoseconds and offset kept); time and
	// time_dt are p_event_time, which the store read from it.
	e.putStr(meta, "original_time", "timestamp")
	profiles := []string{"datetime"}

	class, status := ocsfEntityManagement, 1 // audit events and item usages record what was done
	var actID int
	var actName, actCaption string
	switch ev.LogType {
	case "OnePassword.SignInAttempt":
		class = ocsfAuthentication
		actID, actName, actCaption = 1, "Logon", "Logon"
		status = ocsfUnknown
		if cat, ok := e.str("category"); ok {
			doc["status_code"] = cat
			status = ocsfOther
			if s, known := signInStatus[cat]; known {
				status = s
			}
		}
		typ, hasType := e.str("type")
		if hasType {
			doc["status_detail"] = typ
		}
		switch {
		case typ == "mfa_ok" || (doc["status_code"] == "mfa_failed" && hasType && typ != "mfa_missing"):
			doc["is_mfa"] = true
		case typ == "credentials_ok" || typ == "mfa_missing":
			doc["is_mfa"] = false
		}
		put(doc, "user", e.user("target_user", "", "", ""))
		session := map[string]any{}
		e.putStr(session, "uid", "session_uuid")
		put(doc, "session", session)
		doc["service"] = map[string]any{"name": "1Password"}
		actor := map[string]any{}
		e.putStr(actor, "app_name", "client.app_name")
		put(doc, "actor", actor)
		put(doc, "src_endpoint", e.srcEndpoint("client.ip_address", "country"))
		put(doc, "device", e.device(""))

	case "OnePassword.ItemUsage":
		act, has := e.str("action")
		if has {
			meta["event_code"] = act
		}
		actID, actName, actCaption = activity(itemUsageActions, act, has)
		entity := map[string]any{"type": "item"}
		e.putStr(entity, "uid", "item_uuid")
		if v, ok := e.take("used_version", isInt); ok {
			entity["version"] = string(v.(json.Number))
		}
		doc["entity"] = entity
		actor := map[string]any{}
		put(actor, "user", e.user("user", "", "", ""))
		e.putStr(actor, "app_name", "client.app_name")
		put(doc, "actor", actor)
		put(doc, "src_endpoint", e.srcEndpoint("client.ip_address", ""))
		put(doc, "device", e.device(""))

	default: // OnePassword.AuditEvent
		objType, hasType := e.peek("object_type")
		act, has := e.str("action")
		if has {
			meta["event_code"] = act
		}
		if hasType && (objType == "user" || objType == "sa") {
			class = ocsfAccountChange // object_type stays in unmapped: the class and user.type say it only in OCSF's words
			actID, actName, actCaption = activity(accountChangeActions, act, has)
			u := e.user("object_details", "object_uuid", "", "")
			if objType == "sa" {
				u["type_id"], u["type"] = ocsfNum(ocsfOther), "Service Account"
			} else if u["type_id"] == nil {
				u["type_id"], u["type"] = ocsfNum(1), "User"
			}
			doc["user"] = u
		} else {
			actID, actName, actCaption = activity(entityActions, act, has)
			entity := map[string]any{}
			e.putStr(entity, "type", "object_type")
			e.putStr(entity, "uid", "object_uuid") // "" (a report view) stays unmapped
			put(doc, "entity", entity)
		}
		actor := map[string]any{}
		put(actor, "user", e.user("actor_details", "actor_uuid", "actor_type", "actor_account_uuid"))
		put(doc, "actor", actor)
		session := map[string]any{}
		e.putStr(session, "uid", "session.uuid")
		if v, ok := e.take("session.login_time", func(v any) bool {
			s, ok := v.(string)
			if !ok {
				return false
			}
			_, err := time.Parse(time.RFC3339Nano, s)
			return err == nil
		}); ok {
			t, _ := time.Parse(time.RFC3339Nano, v.(string))
			session["created_time"] = json.Number(strconv.FormatInt(t.UnixMilli(), 10))
		}
		put(doc, "session", session)
		put(doc, "src_endpoint", e.srcEndpoint("session.ip", ""))
		put(doc, "device", e.device("session.device_uuid"))
	}
	if doc["device"] != nil {
		profiles = append(profiles, "host")
	}
	meta["profiles"] = profiles
	doc["metadata"] = meta
	doc["class_uid"], doc["class_name"] = ocsfNum(class), ocsfClassNames[class]
	doc["activity_id"], doc["activity_name"] = ocsfNum(actID), actName
	doc["type_uid"], doc["type_name"] = ocsfNum(class*100+actID), ocsfClassNames[class]+": "+actCaption
	doc["status_id"], doc["status"] = ocsfNum(status), ocsfStatusNames[status]
	if status == ocsfOther {
		doc["status"] = doc["status_code"] // the category OCSF has no value for
	}
	if len(e.obj) > 0 {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep <, > and & as sent
		if enc.Encode(e.obj) == nil {
			doc["unmapped"] = strings.TrimSuffix(b.String(), "\n")
		}
	}
	return doc
}
