package console

import (
	"net/http"

	"github.com/opwatch/opwatch/internal/logtype"
)

// fieldRow is one field of a schema, flattened with its depth.
type fieldRow struct {
	Path        string `json:"path"` // dotted: client.ip_address
	Name        string `json:"name"`
	Depth       int    `json:"-"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Indicator   string `json:"indicator,omitempty"`
	Since       string `json:"since,omitempty"`
	Description string `json:"description"`
}

// schemaView is a log type with every field, as docs/log-types.md lists it.
type schemaView struct {
	Name         string     `json:"name"`
	Table        string     `json:"table"`
	Feature      string     `json:"feature"`
	Description  string     `json:"description"`
	ReferenceURL string     `json:"reference_url"`
	Fields       []fieldRow `json:"fields"`
}

func flatten(prefix string, depth int, fs []logtype.Field, out []fieldRow) []fieldRow {
	for _, f := range fs {
		p := f.Name
		if prefix != "" {
			p = prefix + "." + f.Name
		}
		out = append(out, fieldRow{Path: p, Name: f.Name, Depth: depth, Type: string(f.Type), Required: f.Required,
			Indicator: f.Indicator, Since: f.Since, Description: f.Description})
		out = flatten(p, depth+1, f.Fields, out)
	}
	return out
}

func schemas() []schemaView {
	var out []schemaView
	for _, lt := range logtype.All() {
		out = append(out, schemaView{Name: lt.Name, Table: lt.Table, Feature: lt.Feature, Description: lt.Description,
			ReferenceURL: lt.ReferenceURL, Fields: flatten("", 0, lt.Fields, nil)})
	}
	return out
}

func (c *console) schemasPage(w http.ResponseWriter, r *http.Request) error {
	c.render(w, r, http.StatusOK, "schemas", view{Title: "Schemas", Nav: "schemas",
		Data: map[string]any{"Schemas": schemas(), "Standard": flatten("", 0, logtype.PantherFields(), nil)}})
	return nil
}
