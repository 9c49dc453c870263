// Package metricstest reads the Prometheus text exposition format 0.0.4
// strictly, for tests: every line must be a HELP, a TYPE or one sample of
// the family they announce, label values must be escaped exactly as the
// format says, and histograms must be whole (cumulative buckets ending in
// +Inf, which equals _count, and a _sum).
package metricstest

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Family is one metric family as exposed.
type Family struct {
	Name, Help, Type string
	Samples          []Sample
}

// Sample is one line of a family.
type Sample struct {
	Name   string // the family's name, or with _bucket, _sum, _count
	Labels map[string]string
	Value  float64
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Parse reads a whole exposition. Each family must open with its HELP and
// then its TYPE line, come once, and hold no sample twice.
func Parse(text string) (map[string]*Family, error) {
	if text == "" {
		return map[string]*Family{}, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("the exposition does not end with a line feed")
	}
	fams := map[string]*Family{}
	var cur *Family
	seen := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, a...))
		}
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, ok := strings.Cut(line[len("# HELP "):], " ")
			if !ok || !metricNameRE.MatchString(name) {
				return nil, fail("bad HELP line")
			}
			if fams[name] != nil {
				return nil, fail("family %s appears twice", name)
			}
			h, err := unescape(help, false)
			if err != nil {
				return nil, fail("%v", err)
			}
			cur = &Family{Name: name, Help: h}
			fams[name] = cur
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, ok := strings.Cut(line[len("# TYPE "):], " ")
			if !ok || cur == nil || cur.Name != name || cur.Type != "" || len(cur.Samples) > 0 {
				return nil, fail("TYPE must follow its family's HELP")
			}
			if typ != "counter" && typ != "gauge" && typ != "histogram" {
				return nil, fail("unknown type %q", typ)
			}
			cur.Type = typ
		case strings.HasPrefix(line, "#"), line == "":
			return nil, fail("unexpected line")
		default:
			if cur == nil || cur.Type == "" {
				return nil, fail("sample before its family's HELP and TYPE")
			}
			s, err := parseSample(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			if !belongs(cur, s.Name) {
				return nil, fail("sample %s is not of family %s", s.Name, cur.Name)
			}
			if cur.Type == "histogram" && (s.Name == cur.Name+"_bucket") != (s.Labels["le"] != "") {
				return nil, fail("le belongs on _bucket samples only")
			}
			id := s.Name + "\x00" + labelKey(s.Labels, "")
			if seen[id] {
				return nil, fail("sample repeated")
			}
			seen[id] = true
			cur.Samples = append(cur.Samples, s)
		}
	}
	for _, f := range fams {
		if f.Type == "" {
			return nil, fmt.Errorf("family %s has no TYPE", f.Name)
		}
		if len(f.Samples) == 0 {
			return nil, fmt.Errorf("family %s has no sample", f.Name)
		}
		if f.Type == "histogram" {
			if err := checkHistogram(f); err != nil {
				return nil, err
			}
		}
	}
	return fams, nil
}

func belongs(f *Family, name string) bool {
	if f.Type != "histogram" {
		return name == f.Name
	}
	return name == f.Name+"_bucket" || name == f.Name+"_sum" || name == f.Name+"_count"
}

// parseSample reads name{l="v",...} value, with no timestamp.
func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, errors.New("no value")
	}
	s.Name = line[:i]
	if !metricNameRE.MatchString(s.Name) {
		return s, errors.New("bad metric name")
	}
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return s, errors.New("bad label")
			}
			name := rest[:eq]
			if !labelNameRE.MatchString(name) {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %s repeated", name)
			}
			rest = rest[eq+2:]
			end := closingQuote(rest)
			if end < 0 {
				return s, errors.New("label value not closed")
			}
			v, err := unescape(rest[:end], true)
			if err != nil {
				return s, err
			}
			s.Labels[name] = v
			rest = rest[end+1:]
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
				continue
			}
			if !strings.HasPrefix(rest, "}") {
				return s, errors.New("labels not closed")
			}
			rest = rest[1:]
			break
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return s, errors.New("no space before the value")
	}
	v, err := parseValue(rest[1:])
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

// closingQuote is the index of the first double quote not escaped.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescape undoes the format's escapes: \\ and \n, and \" in label values.
// Any other backslash, and a raw line feed, are errors.
func unescape(s string, label bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' || (label && c == '"') {
			return "", errors.New("unescaped line feed or quote")
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("dangling backslash")
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !label {
				return "", errors.New(`\" in HELP text`)
			}
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	if strings.ContainsAny(s, " \t") {
		return 0, errors.New("a timestamp or trailing text after the value")
	}
	return strconv.ParseFloat(s, 64)
}

// labelKey is a canonical text of labels, without the one named skip.
func labelKey(l map[string]string, skip string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		if k != skip {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, l[k])
	}
	return b.String()
}

// checkHistogram checks each series: buckets in ascending le, counts
// cumulative, the last le +Inf and equal to _count, and a _sum.
func checkHistogram(f *Family) error {
	type hist struct {
		les, counts []float64
		count, sum  *float64
	}
	hs := map[string]*hist{}
	get := func(l map[string]string) *hist {
		k := labelKey(l, "le")
		if hs[k] == nil {
			hs[k] = &hist{}
		}
		return hs[k]
	}
	for _, s := range f.Samples {
		h := get(s.Labels)
		switch s.Name {
		case f.Name + "_bucket":
			le, err := parseValue(s.Labels["le"])
			if err != nil {
				return fmt.Errorf("%s: bad le %q", f.Name, s.Labels["le"])
			}
			h.les = append(h.les, le)
			h.counts = append(h.counts, s.Value)
		case f.Name + "_count":
			h.count = &s.Value
		case f.Name + "_sum":
			h.sum = &s.Value
		}
	}
	for k, h := range hs {
		if len(h.les) == 0 || h.count == nil || h.sum == nil {
			return fmt.Errorf("%s{%s}: buckets, _count or _sum missing", f.Name, k)
		}
		if !math.IsInf(h.les[len(h.les)-1], 1) {
			return fmt.Errorf("%s{%s}: the last bucket is not +Inf", f.Name, k)
		}
		for i := 1; i < len(h.les); i++ {
			if h.les[i] <= h.les[i-1] {
				return fmt.Errorf("%s{%s}: buckets not in ascending le", f.Name, k)
			}
			if h.counts[i] < h.counts[i-1] {
				return fmt.Errorf("%s{%s}: bucket counts not cumulative", f.Name, k)
			}
		}
		if h.counts[len(h.counts)-1] != *h.count {
			return fmt.Errorf("%s{%s}: +Inf bucket %v != _count %v", f.Name, k, h.counts[len(h.counts)-1], *h.count)
		}
	}
	return nil
}

// Value returns the value of the sample named name with exactly the given
// labels (pairs of name, value), and whether there is one.
func Value(fams map[string]*Family, name string, labels ...string) (float64, bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	key := labelKey(want, "")
	for _, f := range fams {
		for _, s := range f.Samples {
			if s.Name == name && labelKey(s.Labels, "") == key {
				return s.Value, true
			}
		}
	}
	return 0, false
}
