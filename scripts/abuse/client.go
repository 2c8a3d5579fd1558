package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// counts are the status codes of one attack's answers; 0 is a transport
// error (no answer).
type counts map[int]int

func (c counts) String() string {
	codes := make([]int, 0, len(c))
	for k := range c {
		codes = append(codes, k)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, k := range codes {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "error"
		}
		parts = append(parts, fmt.Sprintf("%s x%d", name, c[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// only reports the codes outside allowed.
func (c counts) only(allowed ...int) []string {
	var out []string
	for code, n := range c {
		if !slices.Contains(allowed, code) {
			out = append(out, fmt.Sprintf("%d answers of %d, want only %v", n, code, allowed))
		}
	}
	return out
}

type request struct {
	method, path, contentType, from string
	body                            []byte
	header                          map[string]string
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (t *target) do(r request) response {
	req, err := http.NewRequest(r.method, t.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return response{}
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.from != "" {
		req.Header.Set("X-Forwarded-For", r.from)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return response{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return response{code: resp.StatusCode, header: resp.Header, body: body}
}

// all sends reqs, conc at a time, and counts the answers.
func (t *target) all(reqs []request, conc int) (counts, []response) {
	out := make([]response, len(reqs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for i := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = t.do(reqs[i])
		}()
	}
	wg.Wait()
	c := counts{}
	for _, r := range out {
		c[r.code]++
	}
	return c, out
}

// metric is one sample's value from /metrics, as written ("" when absent).
func (t *target) metric(series string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

func (t *target) waitReady(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if r := t.do(request{method: "GET", path: "/healthz"}); r.code == 200 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// serve runs h on a free loopback port for the program's life.
func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		if err := http.Serve(ln, h); err != nil && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintln(os.Stderr, "serve:", err)
		}
	}()
	return "http://" + ln.Addr().String()
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}
