package onepassword

import (
	"context"
	"fmt"
)

// maxEmptyPages bounds a run of empty pages that claim has_more, so a
// misbehaving server cannot keep a drain paging forever.
const maxEmptyPages = 10

// Drain pages feature f from r until has_more is false, calling fn with
// every page in order, the last (possibly empty) one included, so that the
// caller can store each page's cursor. While fn runs, the next page is
// already being fetched with the current page's cursor; it is used only
// after fn returns nil, and discarded if fn fails, in which case Drain
// returns fn's error.
//
// Drain also stops, returning nil after fn, on a page that has no items
// but claims has_more while repeating the cursor it was asked with, and
// after a run of maxEmptyPages such pages with new cursors. The stored
// cursor then simply resumes the next poll.
func (c *Client) Drain(ctx context.Context, f Feature, r Request, fn func(Page) error) error {
	page, err := c.Fetch(ctx, f, r)
	if err != nil {
		return err
	}
	sent := r.Cursor
	// The cursor remembers the limit of the reset request that made it.
	maxItems := r.maxItems()
	empty := 0
	for {
		if page.HasMore && len(page.Items) == 0 {
			empty++
		} else {
			empty = 0
		}
		stuck := empty > 0 && page.Cursor == sent
		if !page.HasMore || stuck || empty >= maxEmptyPages {
			if stuck || empty >= maxEmptyPages {
				c.log.Warn("Events API keeps answering has_more with empty pages; stopping until the next poll",
					"feature", string(f), "empty_pages", empty)
			}
			return fn(page)
		}
		next := c.prefetch(ctx, f, Request{Cursor: page.Cursor, MaxItems: maxItems})
		if err := fn(page); err != nil {
			next.discard()
			return err
		}
		res := next.wait()
		if res.err != nil {
			return res.err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("drain %s from %s stopped: %w", f, c.ep.host, err)
		}
		sent = page.Cursor
		page = res.page
	}
}

type fetched struct {
	page Page
	err  error
}

// pending is a page being fetched in the background.
type pending struct {
	cancel context.CancelFunc
	done   chan fetched
}

func (c *Client) prefetch(ctx context.Context, f Feature, r Request) pending {
	ctx, cancel := context.WithCancel(ctx)
	p := pending{cancel: cancel, done: make(chan fetched, 1)}
	go func() {
		page, err := c.Fetch(ctx, f, r)
		p.done <- fetched{page, err}
	}()
	return p
}

func (p pending) wait() fetched {
	res := <-p.done
	p.cancel()
	return res
}

// discard stops the fetch and waits for it, so nothing outlives Drain.
func (p pending) discard() {
	p.cancel()
	<-p.done
}
