package detect

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// mapping is one data-model name: a path into the event, or a method.
type mapping struct {
	path   []starlark.Value // keys, pre-built: no per-call allocation
	dotted string
	method func(ev *Dict) starlark.Value
}

func pathMapping(dotted string) mapping {
	m := mapping{dotted: dotted}
	for _, k := range strings.Split(dotted, ".") {
		m.path = append(m.path, starlark.String(k))
	}
	return m
}

// dataModels are Panther's data models for the 1Password log types, with
// ItemUsage's source_ip on client.ip_address (Panther's has a typo that
// never resolves), and opwatch's own for AuditEvent.
var dataModels = map[string]map[string]mapping{
	"OnePassword.SignInAttempt": {
		"actor_user": pathMapping("target_user.email"),
		"source_ip":  pathMapping("client.ip_address"),
		"event_type": {method: signInEventType},
	},
	"OnePassword.ItemUsage": {
		"actor_user": pathMapping("user.email"),
		"source_ip":  pathMapping("client.ip_address"),
	},
	"OnePassword.AuditEvent": {
		"actor_user": pathMapping("actor_details.email"),
		"source_ip":  pathMapping("session.ip"),
	},
}

// Panther's event types (panther_event_type_helpers).
var (
	successfulLogin = starlark.String("successful_login")
	failedLogin     = starlark.String("failed_login")
)

func signInEventType(ev *Dict) starlark.Value {
	v, _ := ev.lookup("category")
	s, _ := v.(starlark.String)
	switch s {
	case "success":
		return successfulLogin
	case "credentials_failed", "mfa_failed", "modern_version_failed":
		return failedLogin
	}
	return starlark.None
}

func eventModel(name string, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (*Dict, mapping, bool, error) {
	var key string
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &key); err != nil {
		return nil, mapping{}, false, err
	}
	model, ok := dataModels[d.ev.LogType]
	if !ok {
		return nil, mapping{}, false, fmt.Errorf("%s: log type %q has no data model", name, d.ev.LogType)
	}
	m, ok := model[key]
	return d, m, ok, nil
}

func eventUDM(_ *starlark.Thread, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	d, m, ok, err := eventModel("udm", d, args, kwargs)
	if err != nil || !ok {
		return starlark.None, err
	}
	if m.method != nil {
		return m.method(d), nil
	}
	return deepGet(d, m.path, starlark.None), nil
}

func eventUDMPath(_ *starlark.Thread, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	_, m, ok, err := eventModel("udm_path", d, args, kwargs)
	if err != nil || !ok || m.dotted == "" {
		return starlark.None, err
	}
	return starlark.String(m.dotted), nil
}
