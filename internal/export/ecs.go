package export

import (
	"fmt"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// Mappings of the event columns.
const (
	MappingPanther = "panther" // Panther's names and types (the default)
	MappingECS     = "ecs"     // Elastic Common Schema, as Elastic's 1Password integration maps the events
)

// ECSVersion is the ECS version the ECS mapping follows (as Elastic's
// integration sets it for sign-in attempts and audit events).
const ECSVersion = "8.11.0"

// ecsRule is how Elastic's integration (packages/1password, its ingest
// pipelines) maps one log type: the ECS event fields, the paths renamed out
// of onepassword.* (and so left out of it), and the document.
type ecsRule struct {
	dataset  string
	category string
	typ      string
	moved    []string // dotted paths of the event that ECS fields replace
	hostOS   bool     // client.os_* go to host.os (sign-ins) or to os (item usage)
	userName bool     // user.name copies user.full_name
}

var ecsRules = map[string]ecsRule{
	"OnePassword.SignInAttempt": {dataset: "1password.signin_attempts", category: "authentication", typ: "info", hostOS: true, userName: true,
		moved: []string{"timestamp", "category", "target_user", "client.os_name", "client.os_version", "client.ip_address", "location"}},
	"OnePassword.ItemUsage": {dataset: "1password.item_usages", category: "file", typ: "access",
		moved: []string{"timestamp", "action", "user", "client.os_name", "client.os_version", "client.ip_address", "location"}},
	"OnePassword.AuditEvent": {dataset: "1password.audit_events", category: "configuration", typ: "access", userName: true,
		moved: []string{"timestamp", "action", "actor_uuid", "actor_details.name", "actor_details.email", "session.ip", "location"}},
}

func leaf(name string, kind logtype.FieldType) *node {
	return &node{name: name, kind: kind, optional: true}
}

func group(name string, children ...*node) *node {
	n := &node{name: name, kind: logtype.Object, optional: true, children: children}
	sortNodes(n.children)
	return n
}

// NewECSTable builds the ECS table of lt: @timestamp, ecs, event, user,
// source, related, host.os or os, and onepassword.* holding the event's
// declared fields that ECS does not replace; then the p_ fields and p_raw
// (which is also what ECS calls event.original).
func NewECSTable(lt *logtype.LogType) (*Table, error) {
	rule, ok := ecsRules[lt.Name]
	if !ok {
		return nil, fmt.Errorf("no ECS mapping for log type %s", lt.Name)
	}
	moved := map[string]bool{}
	for _, p := range rule.moved {
		moved[p] = true
	}
	var op []*node
	for _, f := range lt.Fields {
		if n := keptNode(f, "", moved); n != nil {
			op = append(op, n)
		}
	}
	os := group("os", leaf("name", logtype.String), leaf("version", logtype.String))
	fields := []*node{
		leaf("@timestamp", logtype.Timestamp),
		group("ecs", leaf("version", logtype.String)),
		group("event", leaf("kind", logtype.String), leaf("category", logtype.Array), leaf("type", logtype.Array),
			leaf("action", logtype.String), leaf("outcome", logtype.String), leaf("created", logtype.Timestamp),
			leaf("module", logtype.String), leaf("dataset", logtype.String)),
		group("user", leaf("id", logtype.String), leaf("full_name", logtype.String), leaf("name", logtype.String), leaf("email", logtype.String)),
		group("source", leaf("ip", logtype.String), group("geo", leaf("country_name", logtype.String), leaf("region_name", logtype.String),
			leaf("city_name", logtype.String), group("location", leaf("lat", logtype.Float), leaf("lon", logtype.Float)))),
		group("related", leaf("user", logtype.Array), leaf("ip", logtype.Array)),
		group("onepassword", op...),
	}
	if rule.hostOS {
		fields = append(fields, group("host", os))
	} else if lt.Name == "OnePassword.ItemUsage" {
		fields = append(fields, os) // sic: Elastic's item usage pipeline writes os.*, not host.os.*
	}
	return newTable(lt.Name, lt.Table+"_ecs", fields, func(ev *store.StoredEvent, obj map[string]any) map[string]any {
		return ecsDoc(rule, ev, obj)
	})
}

// keptNode is f without the moved paths; nil when nothing is left.
func keptNode(f logtype.Field, prefix string, moved map[string]bool) *node {
	path := prefix + f.Name
	if moved[path] {
		return nil
	}
	if f.Type != logtype.Object {
		return fieldNode(f)
	}
	n := &node{name: f.Name, kind: logtype.Object, optional: true}
	for _, c := range f.Fields {
		if k := keptNode(c, path+".", moved); k != nil {
			n.children = append(n.children, k)
		}
	}
	if len(n.children) == 0 {
		return nil
	}
	sortNodes(n.children)
	return n
}

func get(obj map[string]any, path string) any {
	var v any = obj
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func getString(obj map[string]any, path string) (string, bool) {
	s, ok := get(obj, path).(string)
	return s, ok
}

// ecsDoc is the ECS document of one event, as the integration's pipeline
// builds it; values keep the decoded JSON's types, so the columns convert
// them as they do Panther's.
func ecsDoc(rule ecsRule, ev *store.StoredEvent, obj map[string]any) map[string]any {
	var who, ip string
	var actionPath string
	switch ev.LogType {
	case "OnePassword.SignInAttempt":
		who, ip, actionPath = "target_user", "client.ip_address", "category"
	case "OnePassword.ItemUsage":
		who, ip, actionPath = "user", "client.ip_address", "action"
	default:
		ip, actionPath = "session.ip", "action"
	}
	event := map[string]any{
		"kind": "event", "category": []string{rule.category}, "type": []string{rule.typ},
		"created": ev.ParseTime.UTC().Format(time.RFC3339Nano), "module": "1password", "dataset": rule.dataset,
	}
	if a, ok := getString(obj, actionPath); ok {
		event["action"] = a
		if ev.LogType == "OnePassword.SignInAttempt" {
			event["outcome"] = "failure"
			if a == "success" || a == "firewall_reported_success" {
				event["outcome"] = "success"
			}
		}
	}
	user := map[string]any{}
	var related []string
	addRelated := func(v any) {
		if s, ok := v.(string); ok {
			for _, r := range related {
				if r == s {
					return
				}
			}
			related = append(related, s)
		}
	}
	if who != "" {
		user["id"], user["full_name"], user["email"] = get(obj, who+".uuid"), get(obj, who+".name"), get(obj, who+".email")
		addRelated(get(obj, who+".uuid"))
		addRelated(get(obj, who+".email"))
		addRelated(get(obj, who+".name"))
	} else {
		user["id"], user["full_name"], user["email"] = get(obj, "actor_uuid"), get(obj, "actor_details.name"), get(obj, "actor_details.email")
		addRelated(get(obj, "actor_details.name"))
		addRelated(get(obj, "actor_uuid"))
		switch get(obj, "object_type") {
		case "user":
			addRelated(get(obj, "object_uuid"))
		case "gm", "device", "uva":
			addRelated(get(obj, "aux_uuid"))
		}
	}
	if rule.userName {
		if s, ok := user["full_name"].(string); ok && s != "" {
			user["name"] = s
		}
	}
	var ips []string
	if s, ok := getString(obj, ip); ok {
		ips = []string{s}
	}
	doc := map[string]any{
		"@timestamp": ev.EventTime.UTC().Format(time.RFC3339Nano),
		"ecs":        map[string]any{"version": ECSVersion},
		"event":      event,
		"user":       user,
		"source": map[string]any{"ip": get(obj, ip), "geo": map[string]any{
			"country_name": get(obj, "location.country"), "region_name": get(obj, "location.region"), "city_name": get(obj, "location.city"),
			"location": map[string]any{"lat": get(obj, "location.latitude"), "lon": get(obj, "location.longitude")},
		}},
		"related": map[string]any{"user": related, "ip": ips},
	}
	if obj != nil {
		doc["onepassword"] = obj
	}
	osDoc := map[string]any{"name": get(obj, "client.os_name"), "version": get(obj, "client.os_version")}
	if rule.hostOS {
		doc["host"] = map[string]any{"os": osDoc}
	} else {
		doc["os"] = osDoc
	}
	return doc
}
