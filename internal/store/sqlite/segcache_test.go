package sqlite

import (
	"bytes"
	"testing"
)

func TestSegmentCache(t *testing.T) {
	c := newSegmentCache(100)
	a, b, d := segmentKey{1, 1, 10}, segmentKey{2, 11, 20}, segmentKey{3, 21, 30}
	c.put(a, bytes.Repeat([]byte("a"), 20))
	c.put(b, bytes.Repeat([]byte("b"), 20))
	if _, ok := c.get(a); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put(d, bytes.Repeat([]byte("d"), 26)) // too big for a quarter: not kept
	if _, ok := c.get(d); ok {
		t.Error("a text over a quarter of the cache was kept")
	}
	for i := int64(4); i < 8; i++ { // 4 × 20 bytes: b, then a, go
		c.put(segmentKey{i, i * 10, i*10 + 9}, bytes.Repeat([]byte("x"), 20))
	}
	if _, ok := c.get(b); ok {
		t.Error("b, the least recent, was kept past the bound")
	}
	if c.size > c.max {
		t.Errorf("size %d over the bound %d", c.size, c.max)
	}
	// An id reused for other events is another key.
	if _, ok := c.get(segmentKey{1, 31, 40}); ok {
		t.Error("a reused id read another segment's text")
	}
}
