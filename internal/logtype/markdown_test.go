package logtype

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v4"
)

var update = flag.Bool("update", false, "rewrite docs/log-types.md from the schemas")

const docsPath = "../../docs/log-types.md"

// TestDocsUpToDate fails when docs/log-types.md is not what Markdown()
// makes. Run with -update to rewrite it.
func TestDocsUpToDate(t *testing.T) {
	want := Markdown()
	if *update {
		if err := os.WriteFile(docsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v; run go test ./internal/logtype -run TestDocsUpToDate -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/log-types.md is out of date; run go test ./internal/logtype -run TestDocsUpToDate -update\n%s",
			cmp.Diff(string(want), string(got)))
	}
}

type yamlSchema struct {
	Schema       string      `yaml:"schema"`
	Description  string      `yaml:"description"`
	ReferenceURL string      `yaml:"referenceURL"`
	Fields       []yamlField `yaml:"fields"`
}

type yamlField struct {
	Name        string      `yaml:"name"`
	Required    bool        `yaml:"required"`
	Type        string      `yaml:"type"`
	TimeFormats []string    `yaml:"timeFormats"`
	IsEventTime bool        `yaml:"isEventTime"`
	Indicators  []string    `yaml:"indicators"`
	Description string      `yaml:"description"`
	Fields      []yamlField `yaml:"fields"`
}

func toYAMLFields(fields []Field, top bool) []yamlField {
	var out []yamlField
	for _, f := range fields {
		y := yamlField{Name: f.Name, Required: f.Required, Type: string(f.Type), Description: describe(f),
			Fields: toYAMLFields(f.Fields, false)}
		if f.Type == Timestamp {
			y.TimeFormats = []string{"rfc3339"}
			y.IsEventTime = top && f.Name == "timestamp"
		}
		if f.Indicator != "" {
			y.Indicators = []string{f.Indicator}
		}
		out = append(out, y)
	}
	return out
}

// The schema blocks of the page are YAML that reads back as the schemas,
// in the form of Panther's published schemas.
func TestMarkdownYAML(t *testing.T) {
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(Markdown(), -1)
	all := All()
	if len(blocks) != len(all) {
		t.Fatalf("%d YAML blocks, want %d", len(blocks), len(all))
	}
	for i, lt := range all {
		var got yamlSchema
		if err := yaml.Unmarshal(blocks[i][1], &got); err != nil {
			t.Fatalf("%s: %v", lt.Name, err)
		}
		want := yamlSchema{Schema: lt.Name, Description: lt.Description, ReferenceURL: lt.ReferenceURL, Fields: toYAMLFields(lt.Fields, true)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s YAML (-want +got):\n%s", lt.Name, diff)
		}
	}
}

func TestMarkdownPantherFields(t *testing.T) {
	md := Markdown()
	for _, f := range PantherFields() {
		if !bytes.Contains(md, []byte("| `"+f.Name+"` |")) {
			t.Errorf("the p_ fields table lacks %s", f.Name)
		}
	}
}

func TestYAMLString(t *testing.T) {
	for _, s := range []string{"plain words.", "a: b", "ends:", "#x", "- x", "true", "No", "1.5", "x #y", `q"uote`, "back\\slash", "tab\tx", "", " lead", "trail ", "x\ny", "ok, fine", "100%"} {
		var got string
		if err := yaml.Unmarshal([]byte("k: "+yamlString(s)), &struct {
			K *string `yaml:"k"`
		}{&got}); err != nil {
			t.Errorf("yamlString(%q) = %s: %v", s, yamlString(s), err)
			continue
		}
		if got != s {
			t.Errorf("yamlString(%q) = %s reads back as %q", s, yamlString(s), got)
		}
	}
}
