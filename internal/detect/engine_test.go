package detect

import (
	"testing"
)

func TestLoadExampleAndRunTests(t *testing.T) {
	s, err := LoadDir("testdata/rules")
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rule("Example.Unusual.Client")
	if r == nil || r.Pack != "Example.Pack" || r.Severity != "MEDIUM" || r.DedupPeriod.Minutes() != 120 || r.Threshold != 1 {
		t.Fatalf("rule = %+v", r)
	}
	for _, res := range s.Test(nil) {
		if !res.Passed {
			t.Errorf("%s / %s: %s", res.Rule, res.Name, res.Err)
		}
	}
}

func TestBuiltinPacksLoadAndPass(t *testing.T) {
	s, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range s.Test(nil) {
		if !res.Passed {
			t.Errorf("%s / %s: %s", res.Rule, res.Name, res.Err)
		}
	}
}
