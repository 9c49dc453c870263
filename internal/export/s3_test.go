package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The signature tests reproduce AWS's published examples byte for byte:
// the canonical request, the string to sign and the signature. Their keys
// are AWS's well-known example keys, not secrets.

// get-vanilla, from AWS's Signature Version 4 test suite.
func TestSigV4GetVanilla(t *testing.T) {
	s := sigV4{accessKey: "AKIDEXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1", service: "service"}
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	req, _ := http.NewRequest("GET", "https://example.amazonaws.com/", nil)
	s.sign(req, emptySHA256, at)

	creq, signed := canonicalRequest(req, emptySHA256)
	wantCreq := "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptySHA256
	if creq != wantCreq || signed != "host;x-amz-date" {
		t.Errorf("canonical request:\n%q\nwant\n%q", creq, wantCreq)
	}
	sts := stringToSign(at, "20150830/us-east-1/service/aws4_request", creq)
	wantSTS := "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
	if sts != wantSTS {
		t.Errorf("string to sign:\n%q\nwant\n%q", sts, wantSTS)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, " +
		"Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization:\n%s\nwant\n%s", got, want)
	}

	// get-vanilla-query-order-key-case: the query is sorted by name.
	req, _ = http.NewRequest("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", nil)
	s.sign(req, emptySHA256, at)
	if got := req.Header.Get("Authorization"); !strings.HasSuffix(got, "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") {
		t.Errorf("get-vanilla-query-order-key-case: %s", got)
	}
	if req.URL.RawQuery != "Param1=value1&Param2=value2" {
		t.Errorf("the query sent is %q, not the one signed", req.URL.RawQuery)
	}
}

// The GET Object example of S3's "Signature Calculations for the
// Authorization Header" page: a signed payload hash and a Range header.
func TestSigV4S3GetObjectExample(t *testing.T) {
	s := sigV4{accessKey: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1", service: "s3"}
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	req, _ := http.NewRequest("GET", "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	req.Header.Set("Range", "bytes=0-9")
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	s.sign(req, emptySHA256, at)

	creq, _ := canonicalRequest(req, emptySHA256)
	wantCreq := "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:" + emptySHA256 +
		"\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" + emptySHA256
	if creq != wantCreq {
		t.Errorf("canonical request:\n%q\nwant\n%q", creq, wantCreq)
	}
	sts := stringToSign(at, "20130524/us-east-1/s3/aws4_request", creq)
	wantSTS := "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
	if sts != wantSTS {
		t.Errorf("string to sign:\n%q\nwant\n%q", sts, wantSTS)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization:\n%s\nwant\n%s", got, want)
	}
}

// A partition's key holds "=", which SigV4 encodes as %3D: the path sent
// must be the path signed, or S3 answers SignatureDoesNotMatch.
func TestSigV4PathSentIsPathSigned(t *testing.T) {
	s := sigV4{accessKey: "AK", secret: "SK", region: "eu-west-1", service: "s3", token: "TOKEN"}
	req, _ := http.NewRequest("PUT", "http://127.0.0.1:9000/b/pre fix/p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/part-0000.parquet?list-type=2&prefix=a%2Fb&a-b=1&a=2", nil)
	s.sign(req, emptySHA256, time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
	creq, signed := canonicalRequest(req, emptySHA256)
	lines := strings.Split(creq, "\n")
	wantPath := "/b/pre%20fix/p_log_type%3DOnePassword.SignInAttempt/dt%3D2026-11-10/part-0000.parquet"
	if lines[1] != wantPath || req.URL.EscapedPath() != wantPath {
		t.Errorf("canonical path %q, sent %q; want %q", lines[1], req.URL.EscapedPath(), wantPath)
	}
	if lines[2] != "a=2&a-b=1&list-type=2&prefix=a%2Fb" || req.URL.RawQuery != lines[2] {
		t.Errorf("canonical query %q, sent %q", lines[2], req.URL.RawQuery)
	}
	if signed != "host;x-amz-date;x-amz-security-token" {
		t.Errorf("signed headers %q: the session token must be signed", signed)
	}
}

// botocoreScript makes requests with botocore (the AWS SDK for Python, an
// independent SigV4 implementation) against the fake, which checks each
// signature with this package's signer: the two agree on the canonical
// form of a partition's key ("=" and all), a query, a session token and a
// signed payload.
const botocoreScript = `
import os, sys, botocore.session, botocore.config
from botocore.exceptions import ClientError
cfg = botocore.config.Config(s3={'addressing_style': 'path'}, request_checksum_calculation='when_required',
                             response_checksum_validation='when_required', retries={'max_attempts': 1})
c = botocore.session.get_session().create_client('s3', endpoint_url=os.environ['ENDPOINT'], region_name='eu-west-1',
    aws_access_key_id='AKBOTO', aws_secret_access_key=os.environ['SECRET'], aws_session_token='session/token+1', config=cfg)
key = 'opwatch/p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/part-0000 (é~).parquet'
try:
    c.put_object(Bucket='bucket', Key=key, Body=b'PAR1 not really')
    assert c.get_object(Bucket='bucket', Key=key)['Body'].read() == b'PAR1 not really'
    c.list_objects_v2(Bucket='bucket', Prefix='opwatch/p_log_type=One Password&x', StartAfter='a=b')
    c.delete_object(Bucket='bucket', Key=key)
except ClientError as e:
    print(e.response['Error']['Code'], e.operation_name)
    sys.exit(1)
`

func TestSigV4AgreesWithBotocore(t *testing.T) {
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		t.Skip("python3 with botocore not found: this cross-check of the signer is skipped")
	}
	f, srv := newFakeS3(t, testSecret)
	cmd := exec.Command("python3", "-c", botocoreScript)
	cmd.Env = append(os.Environ(), "ENDPOINT="+srv.URL, "SECRET="+testSecret, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("botocore: %v: %s\nrequests: %v", err, out, f.log)
	}
	if len(f.log) != 4 {
		t.Errorf("requests %v, want 4", f.log)
	}
}

func TestParseS3URL(t *testing.T) {
	for in, want := range map[string]s3Location{
		"s3://bucket":                 {Bucket: "bucket"},
		"s3://bucket/":                {Bucket: "bucket"},
		"S3://my.bucket-1/a/b=c/":     {Bucket: "my.bucket-1", Prefix: "a/b=c"},
		"s3://abc/opwatch/lake 2026/": {Bucket: "abc", Prefix: "opwatch/lake 2026"},
	} {
		got, err := parseS3URL(in)
		if err != nil || got != want {
			t.Errorf("parseS3URL(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"/tmp/x", "s3://", "s3://ab", "s3://Bucket/x", "s3://b_c/x", "s3://-bucket", "s3://a..b/x",
		"s3://bucket//x", "s3://bucket/a/../b", "s3://bucket/./a", "s3://bucket/a\x00b", "s3://bucket/a\\b", "s3://bucket/\xff",
		"s3://bucket/" + strings.Repeat("a", 513)} {
		if l, err := parseS3URL(in); err == nil {
			t.Errorf("parseS3URL(%q) = %+v, want an error", in, l)
		}
	}
}

func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{"s3://bucket/prefix", "s3://a.b-c/x/y/", "s3://bucket/a//b", "s3://x", "s3://bucket/%2e%2e/", "s3://bucket/\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseS3URL(s)
		if err != nil {
			return
		}
		if !bucketRE.MatchString(l.Bucket) || strings.HasSuffix(l.Prefix, "/") || strings.HasPrefix(l.Prefix, "/") || !utf8.ValidString(l.Prefix) {
			t.Fatalf("parseS3URL(%q) = %+v", s, l)
		}
		if again, err := parseS3URL(l.String()); err != nil || again != l {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, again, err, l)
		}
		key := l.key("p_log_type=X/dt=2026-01-01/part-0000.parquet")
		if len(key) > 1024 || strings.Contains(key, "//") {
			t.Fatalf("key %q", key)
		}
	})
}

func TestParseS3Error(t *testing.T) {
	code, msg, id := parseS3Error([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>`))
	if code != "AccessDenied" || msg != "Access Denied" || id != "4442587FB7D0A2F9" {
		t.Errorf("got %q %q %q", code, msg, id)
	}
	code, msg, _ = parseS3Error([]byte("<Error><Code>X\t\u0085[31m</Code><Message>" + strings.Repeat("é", 1000) + "\n\u202eevil</Message></Error>"))
	if code != "X [31m" || len(msg) > 512+len("…") || !utf8.ValidString(msg) {
		t.Errorf("not cleaned: %q %q", code, msg)
	}
	if code, msg, _ := parseS3Error([]byte("<html><body>502 Bad Gateway</body></html>")); code != "" || msg != "" {
		t.Errorf("an HTML page read as %q %q", code, msg)
	}
}

func FuzzParseS3Error(f *testing.F) {
	f.Add([]byte(`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`))
	f.Add([]byte(`<Error><Code><![CDATA[a]]></Code><Message>&lt;&#0;&#x202e;</Message><Error><Code>b</Code></Error></Error>`))
	f.Add([]byte(`<!DOCTYPE Error [<!ENTITY a "aaaaaaaaaa">]><Error><Code>&a;&a;</Code></Error>`))
	f.Add([]byte(strings.Repeat("<a>", 10000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, msg, id := parseS3Error(b)
		for _, s := range []string{code, msg, id} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x202e }) {
				t.Fatalf("%q", s)
			}
		}
		if len(code) > 64+3 || len(msg) > 512+3 || len(id) > 128+3 {
			t.Fatalf("unbounded: %d %d %d", len(code), len(msg), len(id))
		}
	})
}

// fakeS3 is an S3 in memory: PUT, GET, DELETE of objects and a list.
// It checks each request's signature (with this package's signer, so it
// checks consistency, not correctness: the published examples above and
// the s3rver test below check that) and its payload hash against the body.
type fakeS3 struct {
	t       *testing.T
	mu      sync.Mutex
	objects map[string][]byte // "bucket/key"
	log     []string          // "PUT key", in order
	fail    func(r *http.Request) (status int, body string, hangUp bool)
	secret  string
}

func newFakeS3(t *testing.T, secret string) (*fakeS3, *httptest.Server) {
	f := &fakeS3{t: t, objects: map[string][]byte{}, secret: secret}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := strings.TrimPrefix(r.URL.Path, "/")
	f.mu.Lock()
	f.log = append(f.log, r.Method+" "+key)
	f.mu.Unlock()
	if f.fail != nil {
		if status, msg, hangUp := f.fail(r); hangUp {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		} else if status != 0 {
			w.WriteHeader(status)
			io.WriteString(w, msg)
			return
		}
	}
	// Recompute the signature from what arrived, over the headers the
	// request says it signed, as a server does.
	if !f.verify(r) {
		w.WriteHeader(403)
		io.WriteString(w, "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>")
		return
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != r.Header.Get("X-Amz-Content-Sha256") {
		w.WriteHeader(400)
		io.WriteString(w, "<Error><Code>XAmzContentSHA256Mismatch</Code></Error>")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case "PUT":
		f.objects[key] = body
	case "GET":
		if r.URL.Query().Get("list-type") == "2" {
			// Two keys a page, to exercise the continuation.
			prefix, after := key+"/"+r.URL.Query().Get("prefix"), r.URL.Query().Get("continuation-token")
			var ks []string
			for k := range f.objects {
				if strings.HasPrefix(k, prefix) && k > after {
					ks = append(ks, k)
				}
			}
			slices.Sort(ks)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>`)
			for i, k := range ks {
				if i == 2 {
					fmt.Fprintf(w, "<IsTruncated>true</IsTruncated><NextContinuationToken>%s</NextContinuationToken>", ks[1])
					break
				}
				io.WriteString(w, "<Contents><Key>")
				xml.EscapeText(w, []byte(strings.TrimPrefix(k, key+"/")))
				io.WriteString(w, "</Key></Contents>")
			}
			io.WriteString(w, "</ListBucketResult>")
			return
		}
		b, ok := f.objects[key]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")
			return
		}
		w.Write(b)
	case "DELETE":
		delete(f.objects, key)
		w.WriteHeader(204)
	}
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$`)

func (f *fakeS3) verify(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	m := authRE.FindStringSubmatch(got)
	if m == nil {
		return false
	}
	at, err := time.Parse(amzDateLayout, r.Header.Get("X-Amz-Date"))
	if err != nil || at.Format("20060102") != m[2] {
		return false
	}
	check := r.Clone(context.Background())
	check.Header = http.Header{}
	check.Host = r.Host
	for _, h := range strings.Split(m[4], ";") {
		switch h {
		case "host":
		case "content-length": // the server moves it out of the header map
			check.Header.Set(h, fmt.Sprint(r.ContentLength))
		default:
			if vs, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
				check.Header[http.CanonicalHeaderKey(h)] = vs
			}
		}
	}
	s := sigV4{accessKey: m[1], secret: f.secret, region: m[3], service: "s3", token: r.Header.Get("X-Amz-Security-Token")}
	s.sign(check, r.Header.Get("X-Amz-Content-Sha256"), at)
	return check.Header.Get("Authorization") == strings.ReplaceAll(strings.ReplaceAll(got, ",SignedHeaders", ", SignedHeaders"), ",Signature", ", Signature")
}

func (f *fakeS3) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ks []string
	for k := range f.objects {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// testS3Config points at a test server with fixed credentials and no
// environment, and records the waits between attempts instead of waiting.
func testS3Config(endpoint, secret string, waits *[]time.Duration) S3Config {
	return S3Config{Endpoint: endpoint, AccessKeyID: "AKTEST", SecretAccessKey: secret, SessionToken: "session-token",
		Getenv: func(string) string { return "" },
		sleep: func(_ context.Context, d time.Duration) error {
			if waits != nil {
				*waits = append(*waits, d)
			}
			return nil
		}}
}

const testSecret = "s3cr3t/NEVER+PRINTED"

func TestS3ExportThroughFake(t *testing.T) {
	f, srv := newFakeS3(t, testSecret)
	var logs bytes.Buffer
	l := testLake()
	out := "s3://bucket/opwatch/lake"
	m := exportTest(t, l, out, func(o *Options) {
		o.S3 = testS3Config(srv.URL, testSecret, nil)
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	// Same layout as a local export, under the prefix.
	local := t.TempDir()
	exportTest(t, l, local, nil)
	var want []string
	for _, p := range parquetFiles(t, local) {
		want = append(want, "bucket/opwatch/lake/"+p)
	}
	if got := f.keys(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("objects:\n got %v\nwant %v", got, want)
	}
	var back Manifest
	if err := json.Unmarshal(f.objects["bucket/opwatch/lake/"+ManifestName], &back); err != nil || len(back.Partitions) != len(m.Partitions) {
		t.Fatalf("manifest read back: %v, %d partitions, want %d", err, len(back.Partitions), len(m.Partitions))
	}
	for _, p := range back.Partitions {
		for _, file := range p.Files {
			sum := sha256.Sum256(f.objects["bucket/opwatch/lake/"+file.Path])
			if hex.EncodeToString(sum[:]) != file.SHA256 {
				t.Errorf("%s: the object's sha256 is not the manifest's", file.Path)
			}
		}
	}
	// The manifest is the last request.
	if last := f.log[len(f.log)-1]; last != "PUT bucket/opwatch/lake/"+ManifestName {
		t.Errorf("last request %q, want the manifest's PUT", last)
	}
	if !strings.Contains(logs.String(), "export: uploaded") || strings.Contains(logs.String(), testSecret) {
		t.Errorf("debug log without the upload line, or with the secret key:\n%s", logs.String())
	}
}

// A re-export replaces a partition: the files the previous manifest listed
// that this export does not write are deleted (after the new files are up,
// before the new manifest), and nothing a hand-edited manifest names
// outside a partition's part files is.
func TestS3ReexportDeletesStale(t *testing.T) {
	f, srv := newFakeS3(t, testSecret)
	l := testLake()
	out := "s3://bucket/x"
	cfg := func(o *Options) { o.S3 = testS3Config(srv.URL, testSecret, nil) }
	first := exportTest(t, l, out, cfg) // RowGroupRows 2, MaxOpen 2: several parts per partition

	// The previous manifest also lists a stale part, and two keys it must
	// never delete.
	var old Manifest
	json.Unmarshal(f.objects["bucket/x/"+ManifestName], &old)
	for _, k := range []string{"x/p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/part-0099.parquet", "x/victim.txt", "x/p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/README",
		// In no manifest: a part a failed export left (deleted: the
		// listing finds it), one in a folder below the partition, and
		// one of a day out of the range (both kept).
		"x/p_log_type=OnePassword.ItemUsage/dt=2026-11-10/part-0007.parquet",
		"x/p_log_type=OnePassword.ItemUsage/dt=2026-11-10/sub/part-0001.parquet",
		"x/p_log_type=OnePassword.ItemUsage/dt=2026-11-12/part-0001.parquet"} {
		f.objects["bucket/"+k] = []byte("x")
	}
	i := slices.IndexFunc(old.Partitions, func(p Partition) bool { return p.Day == "2026-11-10" && p.LogType == "OnePassword.SignInAttempt" })
	old.Partitions[i].Files = append(old.Partitions[i].Files,
		File{Path: "p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/part-0099.parquet"},
		File{Path: "p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/../../victim.txt"},
		File{Path: "p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/README"})
	b, _ := json.Marshal(old)
	f.objects["bucket/x/"+ManifestName] = b

	// Day 11's item usages gone; one partition per file now.
	kept := l.events[:0]
	for _, e := range l.events {
		if !(e.LogType == "OnePassword.ItemUsage" && e.EventTime.Day() == 11) {
			kept = append(kept, e)
		}
	}
	l.events = kept
	f.log = nil
	m := exportTest(t, l, out, func(o *Options) { cfg(o); o.RowGroupRows = 1000; o.MaxOpen = 10 })

	want := []string{"bucket/x/" + ManifestName,
		"bucket/x/p_log_type=OnePassword.ItemUsage/dt=2026-11-10/part-0000.parquet",
		"bucket/x/p_log_type=OnePassword.ItemUsage/dt=2026-11-10/sub/part-0001.parquet",
		"bucket/x/p_log_type=OnePassword.ItemUsage/dt=2026-11-12/part-0001.parquet",
		"bucket/x/p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/README",
		"bucket/x/p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/part-0000.parquet",
		"bucket/x/p_log_type=OnePassword.SignInAttempt/dt=2026-11-11/part-0000.parquet",
		"bucket/x/victim.txt",
	}
	if got := f.keys(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after re-export:\n got %v\nwant %v\n(first export: %d partitions)", got, want, len(first.Partitions))
	}
	if len(m.Partitions) != 3 {
		t.Errorf("manifest: %d partitions, want 3", len(m.Partitions))
	}
	// GET manifest, PUT parts, list (GET) the partitions, DELETE stale, PUT manifest.
	var kinds []string
	for _, r := range f.log {
		k := strings.Fields(r)[0]
		if strings.HasSuffix(r, ManifestName) {
			k += "-manifest"
		}
		if len(kinds) == 0 || kinds[len(kinds)-1] != k {
			kinds = append(kinds, k)
		}
	}
	if fmt.Sprint(kinds) != "[GET-manifest PUT GET DELETE PUT-manifest]" {
		t.Errorf("request order %v (%v)", kinds, f.log)
	}
}

// Without s3:ListBucket, the stale files are those the previous manifest
// listed, with a warning.
func TestS3ListForbidden(t *testing.T) {
	f, srv := newFakeS3(t, testSecret)
	cfg := func(o *Options) { o.S3 = testS3Config(srv.URL, testSecret, nil) }
	exportTest(t, testLake(), "s3://bucket/x", cfg) // several parts per partition
	orphan := "bucket/x/p_log_type=OnePassword.ItemUsage/dt=2026-11-10/part-0007.parquet"
	f.objects[orphan] = []byte("x")
	f.fail = func(r *http.Request) (int, string, bool) {
		if r.URL.Query().Get("list-type") != "" {
			return 403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", false
		}
		return 0, "", false
	}
	var logs bytes.Buffer
	exportTest(t, testLake(), "s3://bucket/x", func(o *Options) {
		cfg(o)
		o.RowGroupRows, o.MaxOpen = 1000, 10
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	var parts []string
	for _, k := range f.keys() {
		if strings.HasSuffix(k, ".parquet") {
			parts = append(parts, k)
		}
	}
	if len(parts) != 5 || !slices.Contains(parts, orphan) || !strings.Contains(logs.String(), "s3:ListBucket") {
		t.Errorf("parts %v (want the 4 partitions' part-0000 and the orphan nobody listed); log %s", parts, logs.String())
	}
}

// An unreadable manifest is written anew, and the listing still finds the
// stale parts.
func TestS3CorruptManifest(t *testing.T) {
	f, srv := newFakeS3(t, testSecret)
	f.objects["bucket/x/"+ManifestName] = []byte("{not json")
	stale := "bucket/x/p_log_type=OnePassword.ItemUsage/dt=2026-11-10/part-0003.parquet"
	f.objects[stale] = []byte("x")
	var logs bytes.Buffer
	m := exportTest(t, testLake(), "s3://bucket/x", func(o *Options) {
		o.S3 = testS3Config(srv.URL, testSecret, nil)
		o.RowGroupRows, o.MaxOpen = 1000, 10
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	var back Manifest
	if err := json.Unmarshal(f.objects["bucket/x/"+ManifestName], &back); err != nil || len(back.Partitions) != len(m.Partitions) || len(m.Partitions) != 4 {
		t.Errorf("manifest: %v, %d partitions, want 4", err, len(back.Partitions))
	}
	if _, ok := f.objects[stale]; ok {
		t.Error("the stale part stayed")
	}
	if n := strings.Count(logs.String(), "cannot be read"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

func TestS3Retries(t *testing.T) {
	f, srv := newFakeS3(t, testSecret)
	var waits []time.Duration
	loc := s3Location{Bucket: "bucket"}
	c, err := newS3Client(loc, testS3Config(srv.URL, testSecret, &waits))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Two failures (a 500 and a dropped connection), then success.
	n := 0
	f.fail = func(*http.Request) (int, string, bool) {
		n++
		switch n {
		case 1:
			return 500, "<Error><Code>InternalError</Code></Error>", false
		case 2:
			return 0, "", true
		}
		return 0, "", false
	}
	if err := c.put(ctx, "k", bytesBody([]byte("hello"))); err != nil {
		t.Fatalf("put after two failures: %v", err)
	}
	if string(f.objects["bucket/k"]) != "hello" || len(waits) != 2 || waits[0] < 500*time.Millisecond || waits[1] < time.Second {
		t.Errorf("object %q, waits %v; want the body once, after waits of 0.5 s and 1 s (plus jitter)", f.objects["bucket/k"], waits)
	}

	// Always 503: the retries are bounded, and the error says what S3 said.
	n, waits = 0, nil
	f.fail = func(*http.Request) (int, string, bool) {
		n++
		return 503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>", false
	}
	err = c.put(ctx, "k2", bytesBody([]byte("x")))
	if err == nil || n != defaultS3Retries+1 || !strings.Contains(err.Error(), "503 Service Unavailable: SlowDown: Please reduce your request rate.") {
		t.Errorf("%d attempts, %v", n, err)
	}
	if waits[len(waits)-1] > 15*time.Second*3/2 {
		t.Errorf("waits %v: unbounded", waits)
	}

	// A 403 is final, and names what to do; the secret is nowhere.
	n = 0
	f.fail = func(*http.Request) (int, string, bool) {
		n++
		return 403, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R1</RequestId></Error>`, false
	}
	err = c.put(ctx, "k3", bytesBody([]byte("x")))
	var se *S3Error
	if !errors.As(err, &se) || n != 1 || se.Code != "AccessDenied" || !strings.Contains(err.Error(), "s3:PutObject") {
		t.Errorf("%d attempts, %v", n, err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Error("the secret key is in an error")
	}

	// A missing object is no manifest yet; a missing bucket is an error.
	f.fail = nil
	if _, found, err := c.get(ctx, "none", 10); found || err != nil {
		t.Errorf("GET of a missing key: found %v, %v", found, err)
	}
	f.fail = func(*http.Request) (int, string, bool) {
		return 404, "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>", false
	}
	if _, _, err := c.get(ctx, "none", 10); err == nil || !strings.Contains(err.Error(), "create the bucket") {
		t.Errorf("GET in a missing bucket: %v", err)
	}
}

// A wrong secret gives the server's SignatureDoesNotMatch, with what to
// check, and the export changes nothing.
func TestS3WrongSecret(t *testing.T) {
	f, srv := newFakeS3(t, testSecret)
	_, err := Run(context.Background(), testLake(), Options{Out: "s3://bucket/p", Since: day(10, 0), Until: day(11, 0),
		S3: testS3Config(srv.URL, "wrong-"+testSecret, nil)})
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("%v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Error("the secret key is in the error")
	}
	if len(f.keys()) != 0 {
		t.Errorf("objects written: %v", f.keys())
	}
}

func TestS3Config(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": testSecret, "AWS_SESSION_TOKEN": "tok",
		"AWS_REGION": "eu-central-1"}
	cfg := S3Config{Getenv: func(k string) string { return env[k] }}
	c, err := newS3Client(s3Location{Bucket: "bucket"}, cfg)
	if err != nil || c.host != "bucket.s3.eu-central-1.amazonaws.com" || c.base != "" || c.scheme != "https" ||
		c.signer.accessKey != "AKENV" || c.signer.token != "tok" || c.signer.region != "eu-central-1" {
		t.Errorf("AWS from the environment: %+v, %v", c, err)
	}
	c, _ = newS3Client(s3Location{Bucket: "my.bucket"}, cfg)
	if c.host != "s3.eu-central-1.amazonaws.com" || c.base != "/my.bucket" {
		t.Errorf("a dotted bucket goes path-style: %s %s", c.host, c.base)
	}
	env["OPWATCH_S3_ENDPOINT"] = "http://127.0.0.1:9000"
	c, _ = newS3Client(s3Location{Bucket: "bucket"}, cfg)
	if c.host != "127.0.0.1:9000" || c.base != "/bucket" || c.scheme != "http" {
		t.Errorf("an endpoint goes path-style: %s %s", c.host, c.base)
	}
	for _, ep := range []string{"ftp://x", "http://x/path", "http://user:pw@x", "x:9000", "http://x?a=b"} {
		if _, err := newS3Client(s3Location{Bucket: "bucket"}, S3Config{Endpoint: ep, AccessKeyID: "a", SecretAccessKey: "b"}); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
	_, err = newS3Client(s3Location{Bucket: "bucket"}, S3Config{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no credentials: %v", err)
	}
	// Printed by mistake, a config shows no secret.
	cfg = S3Config{AccessKeyID: "AK", SecretAccessKey: testSecret, SessionToken: "tok-secret"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cfg", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logs.String()} {
		if strings.Contains(s, testSecret) || strings.Contains(s, "tok-secret") {
			t.Errorf("a secret printed: %s", s)
		}
	}
	if err := (Schedule{Out: "s3://Bad_Bucket/x", Every: time.Hour, Lookback: time.Hour}).Check(); err == nil {
		t.Error("a bad s3:// export.out passed the check")
	}
	if err := (Schedule{Out: "s3://bucket/x", Every: time.Hour, Lookback: time.Hour, Mapping: "nope"}).Check(); err == nil {
		t.Error("a bad mapping passed the check with an s3:// out")
	}
}

func TestS3MappingMismatch(t *testing.T) {
	_, srv := newFakeS3(t, testSecret)
	cfg := func(o *Options) { o.S3 = testS3Config(srv.URL, testSecret, nil) }
	exportTest(t, testLake(), "s3://bucket/p", cfg)
	_, err := Run(context.Background(), testLake(), Options{Out: "s3://bucket/p", Since: day(10, 0), Until: day(11, 0), Mapping: MappingECS,
		S3: testS3Config(srv.URL, testSecret, nil)})
	if err == nil || !strings.Contains(err.Error(), "s3://bucket/p holds the panther mapping") {
		t.Errorf("%v", err)
	}
}

// s3rverDir is a folder whose node_modules holds s3rver: the one
// OPWATCH_DUCKDB_NODE_DIR names (CI sets it after npm ci in e2e/, so there
// a missing s3rver fails the test rather than skipping it), else e2e/.
func s3rverDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found: the S3 test needs Node.js and s3rver")
	}
	d, set := os.Getenv("OPWATCH_DUCKDB_NODE_DIR"), true
	if d == "" {
		d, set = "../../e2e", false
	}
	if _, err := os.Stat(filepath.Join(d, "node_modules", "s3rver", "bin", "s3rver.js")); err != nil {
		if set {
			t.Fatalf("OPWATCH_DUCKDB_NODE_DIR=%s has no node_modules/s3rver (npm ci in e2e/ installs it)", d)
		}
		t.Skip("s3rver not installed: npm ci in e2e/")
	}
	abs, err := filepath.Abs(d)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// startS3rver runs s3rver on a free loopback port with a bucket and returns
// its endpoint. s3rver checks the access key and the form of the
// Authorization and x-amz-content-sha256 headers, not the signature itself.
func startS3rver(t *testing.T, bucket string) string {
	dir := s3rverDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "node_modules", "s3rver", "bin", "s3rver.js"),
		"--directory", t.TempDir(), "--address", "127.0.0.1", "--port", "0", "--silent", "--configure-bucket", bucket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	// It prints "S3rver listening on 127.0.0.1:PORT" once it listens.
	sc := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return "http://" + m[1]
		}
	}
	t.Fatalf("s3rver did not start: %s", stderr.String())
	return ""
}

// listKeys lists a bucket's keys under a prefix.
func listKeys(t *testing.T, c *s3Client, prefix string) []string {
	t.Helper()
	keys, err := c.list(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// TestS3rver exports to a real S3-compatible server (s3rver, an S3
// emulator written independently of this code), reads the objects back,
// and re-exports to check that a partition's stale files are deleted.
func TestS3rver(t *testing.T) {
	endpoint := startS3rver(t, "warehouse")
	cfg := S3Config{Endpoint: endpoint, AccessKeyID: "S3RVER", SecretAccessKey: "S3RVER", Getenv: func(string) string { return "" }}
	out := "s3://warehouse/opwatch/panther"
	l := testLake()
	first := exportTest(t, l, out, func(o *Options) { o.S3 = cfg })
	local := t.TempDir()
	exportTest(t, l, local, nil)
	localFiles := parquetFiles(t, local)

	c, err := newS3Client(s3Location{Bucket: "warehouse"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range localFiles {
		want = append(want, "opwatch/panther/"+p)
	}
	if got := listKeys(t, c, "opwatch/panther/"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("objects in s3rver:\n got %v\nwant %v", got, want)
	}
	// Every object is the file the manifest describes, and reads as Parquet.
	b, found, err := c.get(context.Background(), "opwatch/panther/"+ManifestName, maxS3Manifest)
	var back Manifest
	if err != nil || !found || json.Unmarshal(b, &back) != nil || len(back.Partitions) != len(first.Partitions) {
		t.Fatalf("manifest: %v %v %d partitions", found, err, len(back.Partitions))
	}
	for _, p := range back.Partitions {
		for _, file := range p.Files {
			b, _, err := c.get(context.Background(), "opwatch/panther/"+file.Path, 1<<30)
			sum := sha256.Sum256(b)
			if err != nil || hex.EncodeToString(sum[:]) != file.SHA256 || int64(len(b)) != file.Bytes {
				t.Fatalf("%s: %v, %d bytes; not the manifest's file", file.Path, err, len(b))
			}
			name := filepath.Join(t.TempDir(), "f.parquet")
			os.WriteFile(name, b, 0o644)
			if _, rows := readFile(t, name); int64(len(rows)) != file.Rows {
				t.Errorf("%s: %d rows, manifest says %d", file.Path, len(rows), file.Rows)
			}
		}
	}

	// Re-export with one part per partition and day 11's item usages gone:
	// the other parts and that partition's files are deleted.
	kept := l.events[:0]
	for _, e := range l.events {
		if !(e.LogType == "OnePassword.ItemUsage" && e.EventTime.Day() == 11) {
			kept = append(kept, e)
		}
	}
	l.events = kept
	// And a part in no manifest (as a failed export leaves): the listing
	// finds it.
	orphan := "opwatch/panther/p_log_type=OnePassword.AuditEvent/dt=2026-11-10/part-0003.parquet"
	if err := c.put(context.Background(), orphan, bytesBody([]byte("PAR1"))); err != nil {
		t.Fatal(err)
	}
	m := exportTest(t, l, out, func(o *Options) { o.S3 = cfg; o.RowGroupRows = 1000; o.MaxOpen = 10 })
	want = []string{"opwatch/panther/" + ManifestName,
		"opwatch/panther/p_log_type=OnePassword.ItemUsage/dt=2026-11-10/part-0000.parquet",
		"opwatch/panther/p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/part-0000.parquet",
		"opwatch/panther/p_log_type=OnePassword.SignInAttempt/dt=2026-11-11/part-0000.parquet",
	}
	got := listKeys(t, c, "opwatch/panther/")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after re-export:\n got %v\nwant %v (before: %v)", got, want, localFiles)
	}
	if len(got) >= len(localFiles) {
		t.Errorf("the first export had %d objects and the re-export %d: nothing stale to delete, the test proves nothing", len(localFiles), len(got))
	}
	b, _, _ = c.get(context.Background(), "opwatch/panther/"+ManifestName, maxS3Manifest)
	json.Unmarshal(b, &back)
	if len(back.Partitions) != 3 || back.LastExport.Rows != m.LastExport.Rows {
		t.Errorf("manifest after re-export: %d partitions, %d rows; want 3 and %d", len(back.Partitions), back.LastExport.Rows, m.LastExport.Rows)
	}
}
