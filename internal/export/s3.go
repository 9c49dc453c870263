package export

// The S3-compatible target: --out s3://bucket/prefix. An export is written to
// a local staging directory exactly as to a local one, and then uploaded:
// every file of the partitions in the range, then the deletion of the part
// files of those partitions that this export did not write (found by listing
// each partition, as the local target reads its directory), and the manifest
// last. A reader that follows the manifest never sees
// it name a file that is not there yet, and a failure anywhere before the
// manifest leaves the previous manifest in place, so the next run deletes
// what this one did not.
//
// Requests are signed with AWS Signature Version 4, written here with the
// standard library: PUT, GET and DELETE of single objects are all an export
// needs, and an SDK would be most of the binary.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// S3Config says how to reach an S3-compatible store. Empty fields are taken
// from the environment: OPWATCH_S3_ENDPOINT, AWS_REGION (then
// AWS_DEFAULT_REGION), and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN (all three, when AccessKeyID is empty).
type S3Config struct {
	// Endpoint is the server's base URL, such as http://127.0.0.1:9000.
	// Empty: AWS, https://s3.<region>.amazonaws.com, with virtual-hosted
	// bucket names. With an endpoint, requests are path-style
	// (endpoint/bucket/key), which every S3-compatible server accepts.
	Endpoint        string
	Region          string // default us-east-1
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Staging is where an export is written before it is uploaded (a
	// temporary directory under it, removed after); empty: the system's
	// temporary directory ($TMPDIR).
	Staging string
	Client  *http.Client // nil: one that waits up to 2 minutes for an answer's headers and 1 hour for a request
	// Retries is how many times a request that failed with a 5xx answer
	// or a network error is tried again (default 4), after 0.5 s, 1 s, 2 s,
	// 4 s, ... (at most 15 s each), with jitter.
	Retries int
	Getenv  func(string) string // the environment; os.Getenv when nil

	sleep func(context.Context, time.Duration) error // tests: no real waits
	now   func() time.Time
}

// String leaves the credentials out, so a config printed by mistake shows
// no secret.
func (c S3Config) String() string {
	return fmt.Sprintf("S3Config{Endpoint:%q Region:%q AccessKeyID set:%t}", c.Endpoint, c.Region, c.AccessKeyID != "")
}

// GoString is String for %#v.
func (c S3Config) GoString() string { return c.String() }

// LogValue is String for log/slog.
func (c S3Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

const (
	defaultS3Region  = "us-east-1"
	defaultS3Retries = 4
	// maxS3ErrorBody bounds what is read of an error answer: an error
	// document is a few hundred bytes, and a misconfigured endpoint may
	// answer with a large HTML page.
	maxS3ErrorBody = 64 << 10
	// maxS3Manifest bounds the manifest read back (a year of three log
	// types is about 1,100 partitions, well under a megabyte).
	maxS3Manifest = 64 << 20
	// maxS3Object is S3's limit for one PUT; larger needs a multipart
	// upload, which this client does not do.
	maxS3Object = 5 << 30
)

// IsS3 says whether an export's output is an S3 URL rather than a directory.
func IsS3(out string) bool {
	return len(out) >= 5 && strings.EqualFold(out[:5], "s3://")
}

// s3Location is a parsed s3://bucket/prefix.
type s3Location struct {
	Bucket string
	Prefix string // without leading or trailing slash; may be empty
}

func (l s3Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// key is the object key of a path relative to the export's root.
func (l s3Location) key(rel string) string {
	if l.Prefix == "" {
		return rel
	}
	return l.Prefix + "/" + rel
}

// bucketRE is S3's rule for bucket names (general purpose buckets): 3 to
// 63 lowercase letters, digits, dots and hyphens, starting and ending with
// a letter or digit.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// parseS3URL reads s3://bucket[/prefix[/]]. The prefix becomes the start of
// every object key, so it is held to what a key can safely hold: valid
// UTF-8, no control characters, and no empty, "." or ".." segments (which
// some servers and tools fold away).
func parseS3URL(s string) (s3Location, error) {
	if !IsS3(s) {
		return s3Location{}, fmt.Errorf("%q is not an S3 URL: want s3://bucket/prefix", s)
	}
	rest := s[5:]
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !bucketRE.MatchString(bucket) || strings.Contains(bucket, "..") {
		return s3Location{}, fmt.Errorf("%q: the bucket name %q is not valid: want 3 to 63 lowercase letters, digits, dots and hyphens", s, bucket)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if len(prefix) > 512 {
		return s3Location{}, fmt.Errorf("%q: the prefix is %d bytes; keep it under 512 (object keys are at most 1,024)", s, len(prefix))
	}
	if !utf8.ValidString(prefix) {
		return s3Location{}, fmt.Errorf("%q: the prefix is not valid UTF-8", s)
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return s3Location{}, fmt.Errorf("%q: the prefix holds the character %q; use letters, digits and -_.=/", s, r)
		}
	}
	if prefix != "" {
		for _, seg := range strings.Split(prefix, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return s3Location{}, fmt.Errorf("%q: the prefix has an empty, \".\" or \"..\" segment", s)
			}
		}
	}
	return s3Location{Bucket: bucket, Prefix: prefix}, nil
}

// s3Client does single-object requests against one bucket.
type s3Client struct {
	cfg    S3Config
	loc    s3Location
	scheme string
	host   string // where requests go, with the bucket for virtual hosts
	base   string // path before the key: "/bucket" path-style, "" otherwise
	signer sigV4
}

func newS3Client(loc s3Location, cfg S3Config) (*s3Client, error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = getenv("OPWATCH_S3_ENDPOINT")
	}
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_REGION")
	}
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_DEFAULT_REGION")
	}
	if cfg.Region == "" {
		cfg.Region = defaultS3Region
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID = getenv("AWS_ACCESS_KEY_ID")
		cfg.SecretAccessKey = getenv("AWS_SECRET_ACCESS_KEY")
		cfg.SessionToken = getenv("AWS_SESSION_TOKEN")
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)")
	}
	if cfg.Client == nil {
		// A part file can take minutes to upload on a slow link, so the
		// bound on a whole request is loose; a server that stops answering
		// is caught by the one on the answer's headers.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 2 * time.Minute
		cfg.Client = &http.Client{Transport: t, Timeout: time.Hour}
	}
	if cfg.Retries <= 0 {
		cfg.Retries = defaultS3Retries
	}
	if cfg.sleep == nil {
		cfg.sleep = sleepCtx
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	c := &s3Client{cfg: cfg, loc: loc,
		signer: sigV4{accessKey: cfg.AccessKeyID, secret: cfg.SecretAccessKey, token: cfg.SessionToken, region: cfg.Region, service: "s3"}}
	if cfg.Endpoint == "" {
		// Virtual-hosted style, except for bucket names with dots, which
		// the *.s3 certificate does not cover.
		c.scheme, c.host = "https", "s3."+cfg.Region+".amazonaws.com"
		if strings.Contains(loc.Bucket, ".") {
			c.base = "/" + loc.Bucket
		} else {
			c.host = loc.Bucket + "." + c.host
		}
		return c, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("S3 endpoint %q: want a base URL such as https://minio.example.com:9000 (scheme and host only)", cfg.Endpoint)
	}
	c.scheme, c.host, c.base = u.Scheme, u.Host, "/"+loc.Bucket
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// S3Error is an error answer from the server: its status and the Code and
// Message of its XML error document.
type S3Error struct {
	Method    string
	Key       string // the object key, or the bucket's listing
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *S3Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "S3 %s %s", e.Method, e.Key)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	if hint := e.hint(); hint != "" {
		b.WriteString("; ")
		b.WriteString(hint)
	}
	return b.String()
}

// hint says what to do about the common answers.
func (e *S3Error) hint() string {
	switch {
	case e.Code == "NoSuchBucket":
		return "create the bucket, or correct the bucket in --out"
	case e.Code == "SignatureDoesNotMatch", e.Code == "InvalidAccessKeyId":
		return "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	case e.Code == "ExpiredToken", e.Code == "InvalidToken":
		return "the temporary credentials expired: renew them and AWS_SESSION_TOKEN"
	case e.Code == "AuthorizationHeaderMalformed", e.Code == "PermanentRedirect", e.Status == http.StatusMovedPermanently:
		return "the bucket is in another region: set --s3-region (or AWS_REGION) to it"
	case e.Code == "RequestTimeTooSkewed":
		return "this machine's clock is off by more than 15 minutes"
	case e.Status == http.StatusForbidden:
		return "the credentials need s3:GetObject, s3:PutObject and s3:DeleteObject on the prefix, and s3:ListBucket on the bucket (without it a missing manifest answers 403)"
	case e.Status >= 500:
		return "the server failed; the export can be run again"
	}
	return ""
}

// parseS3Error reads an S3 error document:
//
//	<Error><Code>NoSuchKey</Code><Message>...</Message><RequestId>...</RequestId></Error>
//
// Anything else (an HTML page from a proxy, nothing at all) gives empty
// strings. Each value is cut to a bounded length and stripped of control
// characters, since it ends up in an error message and a log line.
func parseS3Error(body []byte) (code, message, requestID string) {
	var doc struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
	}
	if len(body) > maxS3ErrorBody {
		body = body[:maxS3ErrorBody]
	}
	if xml.Unmarshal(body, &doc) != nil {
		return "", "", ""
	}
	return clean(doc.Code, 64), clean(doc.Message, 512), clean(doc.RequestID, 128)
}

// clean keeps printable text, at most n bytes of it.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0, r == 0x2028, r == 0x2029,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

// s3Body opens a request's body afresh for each attempt.
type s3Body struct {
	open   func() (io.ReadCloser, error)
	size   int64
	sha256 string // hex
}

// emptySHA256 is the hash of an empty body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// do sends one request, trying again after a 5xx answer or a network error.
// A 2xx answer is returned open; any other is an *S3Error. key is the
// object key ("" for the bucket itself).
func (c *s3Client) do(ctx context.Context, method, key string, query url.Values, body *s3Body) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, method, key, query, body)
		retry := false
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var se *S3Error
			retry = !errors.As(err, &se) // a network error; an *S3Error here is final
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		default:
			err = c.answerError(method, key, resp)
			retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		}
		if !retry || attempt >= c.cfg.Retries {
			if retry {
				return nil, fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return nil, err
		}
		// 0.5 s, 1 s, 2 s, ... up to 15 s, each with up to half again as
		// jitter, so that many exports failing at once do not retry at once.
		d := min(500*time.Millisecond<<attempt, 15*time.Second)
		d += rand.N(d/2 + 1)
		if err := c.cfg.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

func (c *s3Client) once(ctx context.Context, method, key string, query url.Values, body *s3Body) (*http.Response, error) {
	u := &url.URL{Scheme: c.scheme, Host: c.host, Path: c.base + "/" + key, RawQuery: query.Encode()}
	if key == "" { // the bucket: /bucket path-style, / virtual-hosted
		u.Path = c.base
		if u.Path == "" {
			u.Path = "/"
		}
	}
	var rd io.ReadCloser = http.NoBody
	hash := emptySHA256
	if body != nil {
		var err error
		if rd, err = body.open(); err != nil {
			return nil, &S3Error{Method: method, Key: key, Message: err.Error()}
		}
		hash = body.sha256
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		rd.Close()
		return nil, &S3Error{Method: method, Key: key, Message: err.Error()}
	}
	if body != nil {
		req.GetBody = body.open // a 307 redirect sends the body again
		req.ContentLength = body.size
		if body.size == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	c.signer.sign(req, hash, c.cfg.now())
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		// A *url.Error names the method and URL, which hold no secret.
		return nil, err
	}
	return resp, nil
}

// answerError reads a non-2xx answer into an *S3Error and closes it.
func (c *s3Client) answerError(method, key string, resp *http.Response) error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxS3ErrorBody))
	e := &S3Error{Method: method, Key: c.loc.Bucket + "/" + key, Status: resp.StatusCode}
	e.Code, e.Message, e.RequestID = parseS3Error(b)
	if e.RequestID == "" {
		e.RequestID = clean(resp.Header.Get("X-Amz-Request-Id"), 128)
	}
	return e
}

// get reads an object; found is false when there is none (404).
func (c *s3Client) get(ctx context.Context, key string, limit int64) (b []byte, found bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, key, nil, nil)
	var se *S3Error
	if errors.As(err, &se) && se.Status == http.StatusNotFound && se.Code != "NoSuchBucket" {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	b, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, false, fmt.Errorf("S3 GET %s/%s: %w", c.loc.Bucket, key, err)
	}
	if int64(len(b)) > limit {
		return nil, false, fmt.Errorf("S3 GET %s/%s: larger than %d bytes", c.loc.Bucket, key, limit)
	}
	return b, true, nil
}

func (c *s3Client) put(ctx context.Context, key string, body *s3Body) error {
	if body.size > maxS3Object {
		return fmt.Errorf("S3 PUT %s/%s: %d bytes is past the 5 GiB a single upload takes; export with a smaller --row-group-rows or a shorter range per run", c.loc.Bucket, key, body.size)
	}
	resp, err := c.do(ctx, http.MethodPut, key, nil, body)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxS3ErrorBody))
	return resp.Body.Close()
}

// del deletes an object; deleting one that is not there is not an error
// (S3 answers 204 either way; some servers answer 404).
func (c *s3Client) del(ctx context.Context, key string) error {
	resp, err := c.do(ctx, http.MethodDelete, key, nil, nil)
	var se *S3Error
	if errors.As(err, &se) && se.Status == http.StatusNotFound && se.Code != "NoSuchBucket" {
		return nil
	}
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxS3ErrorBody))
	return resp.Body.Close()
}

// list returns the keys under a prefix (ListObjectsV2, page by page).
func (c *s3Client) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	token := ""
	for page := 0; ; page++ {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		resp, err := c.do(ctx, http.MethodGet, "", q, nil)
		if err != nil {
			return nil, err
		}
		var res struct {
			Contents []struct {
				Key string `xml:"Key"`
			} `xml:"Contents"`
			Truncated bool   `xml:"IsTruncated"`
			Next      string `xml:"NextContinuationToken"`
		}
		err = xml.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&res)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("S3 list %s/%s: %w", c.loc.Bucket, prefix, err)
		}
		for _, k := range res.Contents {
			keys = append(keys, k.Key)
		}
		if !res.Truncated {
			return keys, nil
		}
		if res.Next == "" || res.Next == token || page >= 10000 {
			return nil, fmt.Errorf("S3 list %s/%s: the server's pages do not end", c.loc.Bucket, prefix)
		}
		token = res.Next
	}
}

func bytesBody(b []byte) *s3Body {
	sum := sha256.Sum256(b)
	return &s3Body{size: int64(len(b)), sha256: hex.EncodeToString(sum[:]),
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// runS3 is Run for an s3:// output.
func runS3(ctx context.Context, ev Events, opt Options) (*Manifest, error) {
	loc, err := parseS3URL(opt.Out)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	c, err := newS3Client(loc, opt.S3)
	if err != nil {
		return nil, fmt.Errorf("export to %s: %w", loc, err)
	}
	setDefaults(&opt)
	log := opt.Logger

	staging, err := os.MkdirTemp(opt.S3.Staging, "opwatch-export-")
	if err != nil {
		return nil, fmt.Errorf("export: create a staging directory (set TMPDIR to a disk with room for the range's files): %w", err)
	}
	defer os.RemoveAll(staging)

	// The previous manifest: its entries of the partitions out of range are
	// kept, and its files of the partitions in range that this export does
	// not write are deleted.
	oldBytes, found, err := c.get(ctx, loc.key(ManifestName), maxS3Manifest)
	if err != nil {
		return nil, fmt.Errorf("export: read the manifest of %s: %w", loc, err)
	}
	var old *Manifest
	if found {
		old = &Manifest{}
		if err := json.Unmarshal(oldBytes, old); err != nil {
			// As for a local directory: the files are the truth, and the
			// manifest is rebuilt from this export.
			log.Warn("export: the manifest in S3 cannot be read; it is written anew with this export's partitions", "out", loc.String(), "err", err)
			old = nil
		} else if err := os.WriteFile(filepath.Join(staging, ManifestName), oldBytes, 0o644); err != nil {
			return nil, fmt.Errorf("export: staging: %w", err)
		}
	}
	if old != nil {
		for _, p := range old.Partitions {
			if p.mapping() != opt.Mapping {
				return nil, fmt.Errorf("export: %s holds the %s mapping; export the %s mapping to another prefix", loc, p.mapping(), opt.Mapping)
			}
		}
	}

	local := opt
	local.Out = staging
	m, err := Run(ctx, ev, local)
	if err != nil {
		return nil, err
	}

	inRange := func(lt, day string) bool {
		d, err := time.Parse(dayLayout, day)
		return err == nil && slices.Contains(m.LastExport.LogTypes, lt) &&
			!d.Before(m.LastExport.Since) && d.Before(m.LastExport.Until)
	}
	written := map[string]bool{}
	var files int
	for _, p := range m.Partitions {
		if !inRange(p.LogType, p.Day) {
			continue
		}
		for _, f := range p.Files {
			name := filepath.Join(staging, filepath.FromSlash(f.Path))
			body := &s3Body{size: f.Bytes, sha256: f.SHA256,
				open: func() (io.ReadCloser, error) { return os.Open(name) }}
			if err := c.put(ctx, loc.key(f.Path), body); err != nil {
				return nil, fmt.Errorf("export: upload %s: %w", f.Path, err)
			}
			written[f.Path] = true
			files++
		}
	}
	// The stale files of the range's partitions: the part files there that
	// this export did not write. A listing of each partition finds them
	// all, those of an export that failed before its manifest included;
	// without s3:ListBucket, the previous manifest's list has to do.
	stale := map[string]bool{}
	if old != nil {
		for _, p := range old.Partitions {
			if !inRange(p.LogType, p.Day) {
				continue
			}
			dir := path.Join("p_log_type="+p.LogType, "dt="+p.Day)
			for _, f := range p.Files {
				// Only a part file of this partition: a manifest edited by
				// hand cannot make the export delete anything else.
				if !written[f.Path] && path.Dir(f.Path) == dir && partRE.MatchString(path.Base(f.Path)) {
					stale[f.Path] = true
				}
			}
		}
	}
list:
	for _, lt := range m.LastExport.LogTypes {
		for d := m.LastExport.Since; d.Before(m.LastExport.Until); d = d.AddDate(0, 0, 1) {
			dir := path.Join("p_log_type="+lt, "dt="+d.Format(dayLayout))
			keys, err := c.list(ctx, loc.key(dir)+"/")
			var se *S3Error
			if errors.As(err, &se) && se.Status == http.StatusForbidden {
				log.Warn("export: the S3 credentials may not list the bucket (s3:ListBucket): only the files the previous manifest listed are deleted", "out", loc.String(), "err", err)
				break list
			}
			if err != nil {
				return nil, fmt.Errorf("export: list %s: %w", dir, err)
			}
			for _, k := range keys {
				name := strings.TrimPrefix(k, loc.key(dir)+"/")
				if rel := dir + "/" + name; !strings.Contains(name, "/") && partRE.MatchString(name) && !written[rel] {
					stale[rel] = true
				}
			}
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(stale)) {
		if err := c.del(ctx, loc.key(rel)); err != nil {
			return nil, fmt.Errorf("export: delete the stale %s: %w", rel, err)
		}
	}
	deleted := len(stale)
	mb, err := os.ReadFile(filepath.Join(staging, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("export: staging: %w", err)
	}
	if err := c.put(ctx, loc.key(ManifestName), bytesBody(mb)); err != nil {
		return nil, fmt.Errorf("export: upload the manifest: %w", err)
	}
	log.Debug("export: uploaded", "out", loc.String(), "files", files, "stale_deleted", deleted)
	return m, nil
}

// sigV4 signs requests with AWS Signature Version 4 (header-based, a
// single-chunk payload).
type sigV4 struct {
	accessKey, secret, token string
	region, service          string
}

const amzDateLayout = "20060102T150405Z"

// sign sets X-Amz-Date (and X-Amz-Security-Token) and the Authorization
// header. It signs the host and every header req.Header holds, so a
// header set after sign is sent unsigned. payloadHash is the hex SHA-256
// of the body. sign also puts req.URL's path and query in their canonical
// encoding, so what is sent is what was signed.
func (s sigV4) sign(req *http.Request, payloadHash string, t time.Time) {
	t = t.UTC()
	req.Header.Set("X-Amz-Date", t.Format(amzDateLayout))
	if s.token != "" {
		req.Header.Set("X-Amz-Security-Token", s.token)
	}
	creq, signed := canonicalRequest(req, payloadHash)
	scope := t.Format("20060102") + "/" + s.region + "/" + s.service + "/aws4_request"
	sts := stringToSign(t, scope, creq)
	sig := hex.EncodeToString(hmacSHA256(s.signingKey(t), sts))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.accessKey+"/"+scope+
		", SignedHeaders="+signed+", Signature="+sig)
}

func (s sigV4) signingKey(t time.Time) []byte {
	k := hmacSHA256([]byte("AWS4"+s.secret), t.UTC().Format("20060102"))
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, s.service)
	return hmacSHA256(k, "aws4_request")
}

func stringToSign(t time.Time, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return "AWS4-HMAC-SHA256\n" + t.UTC().Format(amzDateLayout) + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// canonicalRequest is the request in SigV4's canonical form, and the
// signed header names.
func canonicalRequest(req *http.Request, payloadHash string) (creq, signedHeaders string) {
	p := req.URL.Path
	if p == "" {
		p = "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = awsEscape(s)
	}
	cpath := strings.Join(segs, "/")
	req.URL.RawPath = cpath

	q, _ := url.ParseQuery(req.URL.RawQuery)
	var pairs [][2]string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, [2]string{awsEscape(k), awsEscape(v)})
		}
	}
	// By encoded name, then value: sorting "name=value" strings would put
	// "a-b" before "a", since "-" sorts below "=".
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	qs := make([]string, len(pairs))
	for i, p := range pairs {
		qs[i] = p[0] + "=" + p[1]
	}
	cquery := strings.Join(qs, "&")
	req.URL.RawQuery = cquery

	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for k, vs := range req.Header {
		lk := strings.ToLower(k)
		if lk == "authorization" {
			continue
		}
		vals := make([]string, len(vs))
		for i, v := range vs {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		headers[lk] = strings.Join(vals, ",")
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(req.Method + "\n" + cpath + "\n" + cquery + "\n")
	for _, k := range names {
		b.WriteString(k + ":" + headers[k] + "\n")
	}
	signedHeaders = strings.Join(names, ";")
	b.WriteString("\n" + signedHeaders + "\n" + payloadHash)
	return b.String(), signedHeaders
}

// awsEscape is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~
// as %XX, upper case.
func awsEscape(s string) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&15])
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
