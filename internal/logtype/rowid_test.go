package logtype

import (
	"regexp"
	"sync"
	"testing"
)

func TestRowIDsUniqueConcurrent(t *testing.T) {
	const goroutines, each = 8, 5000
	r := NewRowIDs()
	results := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = r.Next()
			}
			results[g] = ids
		})
	}
	wg.Wait()
	format := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := make(map[string]bool, goroutines*each)
	for _, ids := range results {
		for _, id := range ids {
			if !format.MatchString(id) {
				t.Fatalf("row id %q is not 32 lowercase hex characters", id)
			}
			if seen[id] {
				t.Fatalf("row id %q given twice", id)
			}
			seen[id] = true
		}
	}
}

// Two generators (two processes, or two replicas) do not collide: their
// random prefixes differ.
func TestRowIDsGenerators(t *testing.T) {
	a, b := NewRowIDs(), NewRowIDs()
	ida, idb := a.Next(), b.Next()
	if ida[:16] == idb[:16] {
		t.Errorf("two generators share the prefix %s", ida[:16])
	}
	if next := a.Next(); next[:16] != ida[:16] || next <= ida {
		t.Errorf("ids of one generator: %s then %s; want the same prefix, increasing", ida, next)
	}
}
