package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestInboundEdgesAsServed runs the real binary with one server.body_limit
// and a trusted proxy: a body over the limit, and one over even the
// listener's own cap, get the contract's 413 with the route's headers and
// are counted; the client's address behind the proxy keys the limit.
func TestInboundEdgesAsServed(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	config := writeConfig(t, dir, listen, "http://127.0.0.1:9/", "")
	b, _ := os.ReadFile(config)
	b = bytes.Replace(b, []byte("shutdown_grace: 2s}"), []byte("shutdown_grace: 2s, body_limit: 2048, trusted_proxies: [127.0.0.1]}"), 1)
	b = bytes.Replace(b, []byte("rate_limit: {requests: 100000, per: 1s}"), []byte("rate_limit: {requests: 3, per: 1m}"), 1)
	if err := os.WriteFile(config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	g := start(t, config, listen)

	// Over a raw connection: a server refusing a body over its cap answers
	// on the headers and closes, and an http.Client still writing the body
	// sometimes sees the reset instead of the answer.
	post := func(client, body string) (*http.Response, string) {
		t.Helper()
		conn, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /hooks/website HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Forwarded-For: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", listen, client, len(body))
		go func() { _, _ = io.WriteString(conn, body) }() // stops when the server closes
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, string(raw)
	}
	for _, size := range []int{3000, 300 << 10} {
		resp, body := post("203.0.113.1", `{"notes": "`+strings.Repeat("x", size)+`"}`)
		if resp.StatusCode != 413 || !strings.Contains(body, `"error":"body too large"`) || !strings.Contains(body, "limit is 2048 bytes") {
			t.Fatalf("%d-byte body = %d %.200s, want the contract's 413", size, resp.StatusCode, body)
		}
		for _, h := range []string{"RateLimit-Policy", "RateLimit", "X-Request-Id"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%d-byte body: 413 without %s: %v", size, h, resp.Header)
			}
		}
	}

	// Behind the trusted proxy each client has its own limit of 3.
	for i := range 4 {
		resp, body := post("203.0.113.2", fmt.Sprintf(`{"email": "proxy%d@example.com"}`, i))
		if want := map[bool]int{true: 200, false: 429}[i < 3]; resp.StatusCode != want {
			t.Fatalf("client 2, request %d = %d %s, want %d", i+1, resp.StatusCode, body, want)
		}
	}
	if resp, body := post("203.0.113.3", `{"email": "other@example.com"}`); resp.StatusCode != 200 {
		t.Fatalf("another client behind the proxy = %d %s, want 200 (its own limit)", resp.StatusCode, body)
	}

	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	scrape, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`gateway_inbound_requests_total{code="413",source="website"} 2`,
		`gateway_normalize_failures_total{reason="too_large",source="website"} 2`,
		`gateway_inbound_requests_total{code="429",source="website"} 1`,
		`gateway_ready 1`,
	} {
		if !strings.Contains(string(scrape), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestUnknownLogFormat: a -log-format other than json or text is a usage
// error (exit 2) that says what is accepted, before anything starts.
func TestUnknownLogFormat(t *testing.T) {
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "-config", "../gateway.yaml", "-log-format", "xml")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit = %v, want 2; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `-log-format must be json or text, got "xml"`) {
		t.Errorf("stderr = %q, want it to name the accepted formats", stderr.String())
	}
}
