package logtype

import (
	"bytes"
	"net/netip"
	"strings"
)

// event builds the Event from the values the parser kept. To stay cheap on
// the ingest path it allocates twice at most: one string holding the uuid
// and every indicator value, and one slice holding both indicator lists.
func (p *parser) event() Event {
	kinds := p.plan.kinds
	size := 0
	for _, s := range p.slots[:len(kinds)] {
		size += s.End - s.Start // decoding never lengthens a string
	}
	var all strings.Builder
	all.Grow(size)

	type piece struct {
		kind       extract
		start, end int // in all
	}
	var buf [8]piece
	pieces := buf[:0]
	for i, s := range p.slots[:len(kinds)] {
		if s.End == 0 {
			continue // absent or null
		}
		v := p.Data[s.Start:s.End]
		if s.Escaped {
			v = p.Decode(p.scratch[:0], s)
		}
		if kinds[i] != extractUUID {
			// Panther's indicator rules: trimmed, and e-mails contain @.
			v = bytes.TrimSpace(v)
			if len(v) == 0 || kinds[i] == extractEmail && bytes.IndexByte(v, '@') < 0 {
				continue
			}
		}
		start := all.Len()
		all.Write(v)
		pieces = append(pieces, piece{kind: kinds[i], start: start, end: all.Len()})
	}
	text := all.String()

	var ev Event
	ev.Raw = p.Data
	ev.Time = p.time
	var emailBuf, ipBuf [8]string
	emails, ips := emailBuf[:0], ipBuf[:0]
	for _, pc := range pieces {
		v := text[pc.start:pc.end]
		switch pc.kind {
		case extractUUID:
			ev.UUID = v
		case extractEmail:
			emails = insertSorted(emails, v)
		case extractIP:
			// The zone check makes this agree with net.ParseIP, Panther's test.
			if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
				ips = insertSorted(ips, v)
			}
		}
	}
	if n := len(emails) + len(ips); n > 0 {
		lists := make([]string, 0, n)
		lists = append(lists, emails...)
		lists = append(lists, ips...)
		if len(emails) > 0 {
			ev.Emails = lists[:len(emails):len(emails)]
		}
		if len(ips) > 0 {
			ev.IPs = lists[len(emails):]
		}
	}
	return ev
}

// insertSorted adds v to the sorted, duplicate-free list. Events carry a
// handful of indicator values, so insertion is the cheapest sort.
func insertSorted(list []string, v string) []string {
	i := len(list)
	for i > 0 && list[i-1] > v {
		i--
	}
	if i > 0 && list[i-1] == v {
		return list
	}
	list = append(list, "")
	copy(list[i+1:], list[i:])
	list[i] = v
	return list
}
