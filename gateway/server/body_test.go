package server

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflated(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompressedBodies: a gzip or deflate body is unpacked and accepted; a
// body in another encoding is a 415, one that does not unpack a 400, and
// one that unpacks past body_limit a 413, nothing stored for any of them.
func TestCompressedBodies(t *testing.T) {
	tests := []struct {
		name, encoding string
		body           []byte
		code           int
		errText        string
	}{
		{"gzip", "gzip", gzipped(t, []byte(ledsakSeed)), 200, ""},
		{"deflate", "deflate", deflated(t, []byte(ledsakSeed)), 200, ""},
		{"identity", "identity", []byte(ledsakSeed), 200, ""},
		{"brotli", "br", []byte(ledsakSeed), 415, "unsupported content encoding"},
		{"not gzip", "gzip", []byte(ledsakSeed), 400, "malformed body"},
		{"over the limit unpacked", "gzip", gzipped(t, bytes.Repeat([]byte(" "), 5000)), 413, "body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			req := httptest.NewRequest(http.MethodPost, "/hooks/website", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", tt.encoding)
			a := h.do(t, req)
			if a.code != tt.code {
				t.Fatalf("answer = %d %s, want %d", a.code, a.raw, tt.code)
			}
			if tt.code == 200 {
				if got := len(h.pending(t, "crm")); got != 2 {
					t.Fatalf("%d deliveries queued, want 2 (form.submitted, lead.created)", got)
				}
				return
			}
			if a.body["error"] != tt.errText {
				t.Fatalf("error = %v, want %q", a.body["error"], tt.errText)
			}
			if got := len(h.pending(t, "crm")); got != 0 {
				t.Fatalf("%d deliveries queued for a rejected request", got)
			}
		})
	}
}

// TestGzipBombIsNotUnpacked: 64 MiB of zeros, a few KiB gzipped, is refused
// with a 413 after reading little more than body_limit: the gateway never
// holds the unpacked body (Fiber's c.Body() would unpack all of it).
func TestGzipBombIsNotUnpacked(t *testing.T) {
	bomb := gzipped(t, make([]byte, 64<<20))
	h := newHarness(t)
	req := httptest.NewRequest(http.MethodPost, "/hooks/website", bytes.NewReader(bomb))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := h.do(t, req)
	runtime.ReadMemStats(&after)
	if a.code != 413 || !strings.Contains(a.raw, "body too large") {
		t.Fatalf("answer = %d %s, want 413", a.code, a.raw)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("answering the bomb allocated %d MiB, want well under its 64 MiB unpacked", grew>>20)
	}
}
