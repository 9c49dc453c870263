package sqlite

import (
	"container/list"
	"context"
	"sync"
)

// segmentCache keeps the decompressed text of the segments read last, for
// the reads that come back to them: a search paged through or narrowed, an
// alert's events opened again, the console's next request. Decompressing
// is most of what reading one event of a segment costs. A segment never
// changes once written; its key holds its seq range, so that an id SQLite
// hands out again after a purge never reads another segment's text.
type segmentCache struct {
	mu    sync.Mutex
	max   int // bytes
	size  int
	order *list.List // of *segmentEntry, most recent first
	items map[segmentKey]*list.Element
}

type segmentKey struct{ id, minSeq, maxSeq int64 }

type segmentEntry struct {
	key  segmentKey
	text []byte
}

// segmentCacheBytes bounds the cache: a hundred segments or so.
const segmentCacheBytes = 64 << 20

func newSegmentCache(max int) *segmentCache {
	return &segmentCache{max: max, order: list.New(), items: map[segmentKey]*list.Element{}}
}

func (c *segmentCache) get(k segmentKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*segmentEntry).text, true
}

func (c *segmentCache) put(k segmentKey, text []byte) {
	if len(text) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.order.PushFront(&segmentEntry{k, text})
	c.size += len(text)
	for c.size > c.max {
		last := c.order.Back()
		e := last.Value.(*segmentEntry)
		c.order.Remove(last)
		delete(c.items, e.key)
		c.size -= len(e.text)
	}
}

// segmentText is the decompressed text of segment k, from the cache or read
// through q. The text is shared: callers only read it.
func (s *Store) segmentText(ctx context.Context, q querier, k segmentKey) ([]byte, error) {
	if text, ok := s.segments.get(k); ok {
		return text, nil
	}
	var data []byte
	if err := q.QueryRowContext(ctx, `SELECT data FROM event_segments WHERE id = ?`, k.id).Scan(&data); err != nil {
		return nil, err
	}
	text, err := s.codec.Decompress(nil, data)
	if err != nil {
		return nil, err
	}
	s.segments.put(k, text)
	return text, nil
}
