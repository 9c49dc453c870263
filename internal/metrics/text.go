package metrics

import (
	"bufio"
	"context"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of the text exposition format 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText runs the collectors (each bounded by the scrape timeout; one
// that fails or times out only leaves its own series out) and writes every
// family in the text exposition format 0.0.4, sorted by name.
func (r *Registry) WriteText(ctx context.Context, w io.Writer) error {
	scraped := r.gather(ctx)
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		var ss []*series
		if f.scraped {
			ss = scraped[f]
		} else {
			ss = f.vec.snapshot()
		}
		if len(ss) == 0 {
			continue // a family without series says nothing
		}
		writeFamily(bw, f, ss)
	}
	return bw.Flush()
}

func writeFamily(w *bufio.Writer, f *family, ss []*series) {
	w.WriteString("# HELP ")
	w.WriteString(f.name)
	w.WriteByte(' ')
	w.WriteString(escapeHelp(f.help))
	w.WriteString("\n# TYPE ")
	w.WriteString(f.name)
	w.WriteByte(' ')
	w.WriteString(string(f.typ))
	w.WriteByte('\n')
	for _, s := range ss {
		if f.typ != HistogramType {
			writeSample(w, f.name, "", f.labels, s.labels, "", s.value())
			continue
		}
		// One read of each bucket: the cumulative counts never go down,
		// and +Inf equals _count, even while observations land.
		var cum uint64
		for i := range s.counts {
			cum += s.counts[i].Load()
			le := "+Inf"
			if i < len(f.buckets) {
				le = formatFloat(f.buckets[i])
			}
			writeSample(w, f.name, "_bucket", f.labels, s.labels, le, float64(cum))
		}
		writeSample(w, f.name, "_sum", f.labels, s.labels, "", s.value())
		writeSample(w, f.name, "_count", f.labels, s.labels, "", float64(cum))
	}
}

// writeSample writes one line: name{labels} value. le, when set, is the
// histogram bucket's label.
func writeSample(w *bufio.Writer, name, suffix string, names, values []string, le string, v float64) {
	w.WriteString(name)
	w.WriteString(suffix)
	if len(names) > 0 || le != "" {
		w.WriteByte('{')
		for i, n := range names {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(n)
			w.WriteString(`="`)
			writeEscaped(w, values[i])
			w.WriteByte('"')
		}
		if le != "" {
			if len(names) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(`le="`)
			w.WriteString(le)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

// writeEscaped writes a label value as the format requires: backslash,
// double quote and line feed escaped, so that no value can end its quotes
// or its line.
func writeEscaped(w *bufio.Writer, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			w.WriteString(`\\`)
		case '"':
			w.WriteString(`\"`)
		case '\n':
			w.WriteString(`\n`)
		default:
			w.WriteByte(c)
		}
	}
}

var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeHelp(h string) string { return helpEscaper.Replace(h) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
