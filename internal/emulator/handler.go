package emulator

import (
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// route is one endpoint of the Events API.
type route struct {
	key     string // "POST /api/v2/itemusages", for Requests
	feature int    // -1 for introspection
	version int
}

// matchRoute maps a request to its endpoint; anything else is a 404.
func matchRoute(method, path string) (route, bool) {
	switch {
	case method == http.MethodGet && path == "/api/auth/introspect":
		return route{key: "GET /api/auth/introspect", feature: -1, version: 1}, true
	case method == http.MethodGet && path == "/api/v2/auth/introspect":
		return route{key: "GET /api/v2/auth/introspect", feature: -1, version: 2}, true
	case method != http.MethodPost:
		return route{}, false
	}
	var version int
	var rest string
	switch {
	case strings.HasPrefix(path, "/api/v1/"):
		version, rest = 1, path[len("/api/v1/"):]
	case strings.HasPrefix(path, "/api/v2/"):
		version, rest = 2, path[len("/api/v2/"):]
	default:
		return route{}, false
	}
	f := featureIndex(rest)
	if f < 0 {
		return route{}, false
	}
	return route{key: "POST " + path, feature: f, version: version}, true
}

// response is an answer before it is written, so that a truncating fault
// can cut it and so that the header can precede the items without a copy.
type response struct {
	status     int
	parts      [][]byte
	retryAfter time.Duration // > 0: send Retry-After
	rate       *verdict      // non-nil: send RateLimit-* headers
	release    func()        // returns pooled buffers after writing
}

// Handler returns the emulator's HTTP handler.
func (e *Emulator) Handler() http.Handler { return http.HandlerFunc(e.serveHTTP) }

func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := matchRoute(r.Method, r.URL.Path)
	if !ok {
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		default:
			method = "OTHER" // keep the counters bounded
		}
		e.count(method+" (unknown)", "404")
		e.write(w, e.errorResponse(http.StatusNotFound))
		return
	}
	fault, delay := e.drawFault()
	switch fault {
	case FaultError500:
		e.finish(w, r, rt, e.errorResponse(http.StatusInternalServerError))
		return
	case FaultError503:
		resp := e.errorResponse(http.StatusServiceUnavailable)
		resp.retryAfter = time.Second
		e.finish(w, r, rt, resp)
		return
	case FaultDrop:
		e.count(rt.key, "dropped")
		e.log.Debug("request dropped (injected fault)", "method", r.Method, "path", r.URL.Path)
		// net/http closes the connection without writing anything.
		panic(http.ErrAbortHandler)
	case FaultSlow:
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-e.done:
			t.Stop()
		}
	}
	resp := e.respond(r, rt)
	if fault == FaultTruncate {
		e.count(rt.key, "truncated")
		e.log.Debug("response truncated (injected fault)", "method", r.Method, "path", r.URL.Path)
		e.truncate(w, resp)
		return
	}
	e.finish(w, r, rt, resp)
}

func (e *Emulator) finish(w http.ResponseWriter, r *http.Request, rt route, resp response) {
	e.count(rt.key, strconv.Itoa(resp.status))
	e.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", resp.status)
	e.write(w, resp)
}

func (e *Emulator) setHeaders(w http.ResponseWriter, resp response, length int) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(length))
	if resp.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(ceilSeconds(resp.retryAfter), 10))
	}
	if resp.rate != nil {
		h.Set("RateLimit-Limit", strconv.Itoa(resp.rate.limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(resp.rate.remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(resp.rate.reset), 10))
	}
}

func (e *Emulator) write(w http.ResponseWriter, resp response) {
	if resp.release != nil {
		defer resp.release()
	}
	n := 0
	for _, p := range resp.parts {
		n += len(p)
	}
	e.setHeaders(w, resp, n)
	w.WriteHeader(resp.status)
	for _, p := range resp.parts {
		if _, err := w.Write(p); err != nil {
			return // the client went away
		}
	}
}

// truncate sends the headers (with the full Content-Length) and half the
// body, then closes the connection.
func (e *Emulator) truncate(w http.ResponseWriter, resp response) {
	if resp.release != nil {
		defer resp.release()
	}
	var body []byte
	for _, p := range resp.parts {
		body = append(body, p...)
	}
	e.setHeaders(w, resp, len(body))
	w.WriteHeader(resp.status)
	w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

func ceilSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	return max(s, 1)
}

func (e *Emulator) errorResponse(status int) response {
	msg := http.StatusText(status)
	var b []byte
	if e.opts.LegacyErrorBody {
		b = append(b, `{"Error":{"Message":`...)
		b = appendString(b, msg)
		b = append(b, `}}`...)
	} else {
		b = append(b, `{"status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"message":`...)
		b = appendString(b, msg)
		b = append(b, '}')
	}
	return response{status: status, parts: [][]byte{b}}
}

// respond authenticates, rate-limits and answers a request to a known route.
func (e *Emulator) respond(r *http.Request, rt route) response {
	claims, err := e.authenticate(r)
	if err == nil && rt.feature >= 0 && !claims.has(featureNames[rt.feature]) {
		err = errors.New("token lacks the feature")
	}
	if err != nil {
		e.log.Debug("unauthorized", "path", r.URL.Path, "reason", err.Error())
		return e.errorResponse(http.StatusUnauthorized)
	}
	a, err := e.accountOf(claims)
	if err != nil {
		e.log.Debug("unauthorized", "path", r.URL.Path, "reason", err.Error())
		return e.errorResponse(http.StatusUnauthorized)
	}
	v := a.limiter.allow(e.now().UnixNano())
	if !v.ok {
		// The headers are documented only on 429s, and only for v3
		// (reference §3.5), so that is the only place they are sent.
		resp := e.errorResponse(http.StatusTooManyRequests)
		if !e.opts.NoRateLimitHeaders {
			resp.rate = &v
			resp.retryAfter = v.retryAfter
		}
		return resp
	}
	if rt.feature < 0 {
		return e.introspect(claims, a, rt.version)
	}
	return e.page(r, a, rt)
}

// authenticate returns the claims of the request's valid bearer token.
func (e *Emulator) authenticate(r *http.Request) (*tokenClaims, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, errors.New("no bearer token")
	}
	token = strings.TrimSpace(token)
	e.mu.Lock()
	c := e.verified[token]
	e.mu.Unlock()
	if c == nil {
		var err error
		if c, err = e.signer.verify(token); err != nil {
			return nil, err
		}
		e.mu.Lock()
		if len(e.verified) >= 1024 {
			clear(e.verified)
		}
		e.verified[token] = c
		e.mu.Unlock()
	}
	e.mu.Lock()
	revoked := e.revoked[c.ID]
	e.mu.Unlock()
	if revoked {
		return nil, errors.New("token revoked")
	}
	if c.Expiry != 0 && e.now().Unix() >= c.Expiry {
		return nil, errors.New("token expired")
	}
	return c, nil
}

func (e *Emulator) introspect(c *tokenClaims, a *account, version int) response {
	features := slices.Clone(c.Features)
	slices.Sort(features)
	features = slices.Compact(features)
	var b []byte
	if version == 1 {
		b = append(b, `{"UUID":`...)
	} else {
		b = append(b, `{"uuid":`...)
	}
	b = appendString(b, c.Subject)
	if version == 1 {
		b = append(b, `,"IssuedAt":`...)
	} else {
		b = append(b, `,"issued_at":`...)
	}
	b = appendTime(b, c.IssuedAt*1e9)
	if version == 1 {
		b = append(b, `,"Features":[`...)
	} else {
		b = append(b, `,"features":[`...)
	}
	for i, f := range features {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f)
	}
	b = append(b, ']')
	if version == 2 {
		b = append(b, `,"account_uuid":`...)
		b = appendString(b, a.uuid)
	}
	b = append(b, '}')
	return response{status: http.StatusOK, parts: [][]byte{b}}
}

// bufPool holds page buffers: a page of 1000 audit events is about 700 KB.
type bufPool struct{ p sync.Pool }

func (p *bufPool) get() *[]byte {
	if b, ok := p.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (p *bufPool) put(b *[]byte) {
	if cap(*b) > 4<<20 {
		return
	}
	*b = (*b)[:0]
	p.p.Put(b)
}

func (e *Emulator) page(r *http.Request, a *account, rt route) response {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return e.errorResponse(http.StatusBadRequest)
	}
	if len(body) > maxBodyBytes {
		e.log.Debug("bad request", "path", r.URL.Path, "reason", "body too large")
		return e.errorResponse(http.StatusBadRequest)
	}
	req, err := parseBody(body)
	if err != nil {
		e.log.Debug("bad request", "path", r.URL.Path, "reason", err.Error())
		return e.errorResponse(http.StatusBadRequest)
	}
	now := e.now()
	key := e.currentCursorKey()
	c, err := e.position(a, rt, req, key, now)
	if err != nil {
		e.log.Debug("bad request", "path", r.URL.Path, "reason", err.Error())
		return e.errorResponse(http.StatusBadRequest)
	}
	buf := e.bufs.get()
	items, more := e.scan((*buf)[:0], a, &c, now.UnixNano())
	*buf = items
	if e.opts.CursorModel == CursorIngestionOrder {
		// Only the first page is filtered by start_time: the cursor is a
		// position, and later pages bring whatever was ingested after it.
		c.start = math.MinInt64
	}
	head := make([]byte, 0, 160)
	head = append(head, `{"cursor":"`...)
	head = append(head, encodeCursor(key, c)...)
	head = append(head, `","has_more":`...)
	head = strconv.AppendBool(head, more)
	head = append(head, `,"items":[`...)
	return response{
		status:  http.StatusOK,
		parts:   [][]byte{head, items, []byte("]}")},
		release: func() { e.bufs.put(buf) },
	}
}

// position turns a request into the cursor state to serve it from.
func (e *Emulator) position(a *account, rt route, req pageRequest, key []byte, now time.Time) (cursorState, error) {
	ns := now.UnixNano()
	head := e.tl.head(ns)
	xs := a.injected[rt.feature].snapshot()
	xs = xs[:visible(xs, ns)]
	var c cursorState
	if req.cursor != "" {
		var err error
		if c, err = decodeCursor(key, req.cursor); err != nil {
			return c, err
		}
		if c.account != a.uuid || c.feature != rt.feature || c.version != rt.version {
			return c, errors.New("cursor belongs to another account, event type or API version")
		}
		if c.inj > len(a.injected[rt.feature].snapshot()) {
			// Injected events live in memory: a cursor from before a
			// restart may point past them.
			return c, errors.New("cursor points past the injected events")
		}
	} else {
		start, end, hasEnd := req.window(now)
		c = cursorState{account: a.uuid, feature: rt.feature, version: rt.version,
			limit: req.limit, start: start, end: end, hasEnd: hasEnd}
		// An event happens before it is ingested, so none ingested before
		// start can be in the window.
		c.pos = e.tl.first(start, head)
		c.inj = firstInjected(xs, start)
	}
	// Events older than the retention period are gone.
	oldest := now.Add(-retention).UnixNano()
	c.pos = max(c.pos, e.tl.first(oldest, head))
	c.inj = max(c.inj, firstInjected(xs, oldest))
	return c, nil
}

// scan appends to b the events of the page that c describes: from its
// position in ingestion order (generated and injected events merged), those
// whose timestamp lies in the window, up to c.limit; and moves c past them.
// Generated events stop counting once ingestion passes the window's end by
// more than any of them can be late. It reports whether an already-ingested
// event in the window lies past the page.
func (e *Emulator) scan(b []byte, a *account, c *cursorState, now int64) ([]byte, bool) {
	s := &a.streams[c.feature]
	head := e.tl.head(now)
	xs := a.injected[c.feature].snapshot()
	xs = xs[:visible(xs, now)]
	stop := int64(math.MaxInt64)
	if c.hasEnd && c.end < math.MaxInt64-s.maxOffset {
		stop = c.end + s.maxOffset
	}
	in := func(ts int64) bool { return ts >= c.start && (!c.hasEnd || ts <= c.end) }
	n, budget := 0, maxScan
	for {
		gen := c.pos < head && e.tl.ingest(c.pos) <= stop
		inj := c.inj < len(xs)
		if !gen && !inj {
			return b, false
		}
		if budget == 0 {
			return b, true // "has_more: true, the next page may be empty"
		}
		budget--
		// At equal ingestion times the generated event comes first, as in each.
		if gen && (!inj || e.tl.ingest(c.pos) <= xs[c.inj].ing) {
			ts := e.tl.ingest(c.pos) - s.offset(c.pos)
			if in(ts) {
				if n == c.limit {
					return b, true
				}
				if n > 0 {
					b = append(b, ',')
				}
				b = a.appendEvent(b, c.feature, c.pos, ts, c.version)
				n++
			}
			c.pos++
			continue
		}
		x := &xs[c.inj]
		if in(x.ts) {
			if n == c.limit {
				return b, true
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = a.appendInjected(b, c.feature, x, c.version)
			n++
		}
		c.inj++
	}
}
