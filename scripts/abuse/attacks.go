package main

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"time"
)

func nestedFlood(t *target) (counts, []string) {
	body := []byte(`{"a":` + strings.Repeat("[", 512<<10))
	var reqs []request
	for i := 0; i < 40; i++ { // each from its own address: every one is parsed
		ct := "application/json"
		if i%2 == 1 {
			ct = "text/plain"
		}
		reqs = append(reqs, request{method: "POST", path: "/hooks/website", contentType: ct, from: fmt.Sprintf("198.51.100.%d", i+1), body: body})
	}
	for i := 0; i < 40; i++ { // and from one address: limited
		reqs = append(reqs, request{method: "POST", path: "/hooks/website", contentType: "application/json", from: "198.51.100.200", body: body})
	}
	c, _ := t.all(reqs, 40)
	return c, c.only(400, 413, 429)
}

func fieldFlood(t *target) (counts, []string) {
	var reqs []request
	for p := 0; p < 8; p++ {
		var b bytes.Buffer
		b.WriteString(`{"email":"flood@example.com"`)
		for i := 0; i < 20_000; i++ {
			fmt.Fprintf(&b, `,"p%d_%05d":"v"`, p, i)
		}
		b.WriteString("}")
		reqs = append(reqs, request{method: "POST", path: "/hooks/website", contentType: "application/json", from: "198.51.100.210", body: b.Bytes()})
	}
	c := counts{}
	for _, r := range reqs { // in order: one lead growing
		c[t.do(r).code]++
	}
	problems := c.only(200)
	// The sink gets the lead's events; wait for the last few.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && t.sink.count("flood@example.com") < 2 {
		time.Sleep(100 * time.Millisecond)
	}
	n, fields, size := t.sink.largest("flood@example.com")
	if n == 0 {
		problems = append(problems, "the sink got none of the lead's events")
	}
	if fields > maxFields || size > maxEventBytes {
		problems = append(problems, fmt.Sprintf("largest event: %d fields, %d bytes; want at most %d fields and %d bytes", fields, size, maxFields, maxEventBytes))
	}
	dropped := t.metric(`gateway_fields_dropped_total{source="website"}`)
	t.note("%d events at the sink, largest %d fields and %d bytes; gateway_fields_dropped_total{source=\"website\"} %s", n, fields, size, dropped)
	if dropped == "" || dropped == "0" {
		problems = append(problems, "gateway_fields_dropped_total{source=\"website\"} did not count the dropped keys")
	}
	return c, problems
}

func rotatingKeys(t *target) (counts, []string) {
	var reqs []request
	for i := 0; i < 60; i++ {
		reqs = append(reqs, request{method: "POST", path: fmt.Sprintf("/hooks/leadsie?customUserId=rot%d", i), contentType: "application/json",
			from: "198.51.100.220", body: []byte(leadsieBody)})
	}
	c, _ := t.all(reqs, 4)
	problems := c.only(200, 429)
	if c[200] > 25 {
		problems = append(problems, fmt.Sprintf("%d accepted from one address inventing keys, limit 25 per 5s", c[200]))
	}
	return c, problems
}

func otherClientsKey(t *target) (counts, []string) {
	var reqs []request
	for i := 0; i < 40; i++ {
		reqs = append(reqs, request{method: "POST", path: "/hooks/leadsie?customUserId=victim", contentType: "application/json",
			from: "198.51.100.230", body: []byte(fmt.Sprintf(`{"status":"SUCCESS","requestName":"attack %d"}`, i))})
	}
	c, _ := t.all(reqs, 4)
	problems := c.only(200, 429)
	victim := counts{}
	for i := 0; i < 5; i++ {
		r := t.do(request{method: "POST", path: "/hooks/leadsie?customUserId=victim", contentType: "application/json",
			from: "203.0.113.77", body: []byte(fmt.Sprintf(`{"status":"SUCCESS","requestName":"own %d"}`, i))})
		victim[r.code]++
		c[r.code]++
	}
	if victim[200] != 5 {
		problems = append(problems, fmt.Sprintf("the victim's own posts from its address got %s, want 5 x 200", victim))
	}
	return c, problems
}

func ipv6Block(t *target) (counts, []string) {
	var reqs []request
	for i := 0; i < 40; i++ {
		reqs = append(reqs, request{method: "POST", path: "/hooks/leadsie?customUserId=v6", contentType: "application/json",
			from: fmt.Sprintf("2001:db8:abcd:12:%x::%x", i+1, i+7), body: []byte(fmt.Sprintf(`{"status":"SUCCESS","requestName":"v6 %d"}`, i))})
	}
	c, _ := t.all(reqs, 4)
	problems := c.only(200, 429)
	if c[200] > 25 {
		problems = append(problems, fmt.Sprintf("%d accepted from one /64, limit 25 per 5s", c[200]))
	}
	return c, problems
}

// brute sends 15 wrong-key requests from one address and wants at most 10
// failures answered before the 429s (contract §7), the last one a 429 with
// Retry-After.
func brute(t *target, mk func(i int) request) (counts, []string) {
	c := counts{}
	var last response
	for i := 0; i < 15; i++ {
		last = t.do(mk(i))
		c[last.code]++
	}
	problems := c.only(401, 429)
	if c[401] > 10 {
		problems = append(problems, fmt.Sprintf("%d wrong keys answered 401 from one address, want 429 after 10 failures a minute", c[401]))
	}
	if last.code != 429 || last.header.Get("Retry-After") == "" {
		problems = append(problems, fmt.Sprintf("the 15th wrong key got %d (Retry-After %q), want 429 with Retry-After", last.code, last.header.Get("Retry-After")))
	}
	return c, problems
}

func bruteAdmin(t *target) (counts, []string) {
	return brute(t, func(i int) request {
		return request{method: "GET", path: "/admin/dead-letters", from: "198.51.100.240",
			header: map[string]string{"X-Access-Key": "abuse-access", "X-Secret-Key": fmt.Sprintf("guess-%d", i)}}
	})
}

func bruteConsole(t *target) (counts, []string) {
	return brute(t, func(i int) request {
		form := url.Values{"access_key": {"abuse-access"}, "secret_key": {fmt.Sprintf("guess-%d", i)}}
		return request{method: "POST", path: "/ui/login", contentType: "application/x-www-form-urlencoded", from: "198.51.100.241",
			body: []byte(form.Encode())}
	})
}

func bruteLeadSquared(t *target) (counts, []string) {
	return brute(t, func(i int) request {
		return request{method: "GET", path: fmt.Sprintf("/v2/Webhook.svc/Retrieve?accessKey=abuse-access&secretKey=guess-%d", i), from: "198.51.100.242"}
	})
}

func noticeFlood(t *target) (counts, []string) {
	// 3,000 new leads from 120 addresses, 25 each: within the limit, each
	// dead-lettered at once by both destinations.
	var reqs []request
	for i := 0; i < 3000; i++ {
		reqs = append(reqs, request{method: "POST", path: "/hooks/save_lead", contentType: "application/json",
			from: fmt.Sprintf("10.%d.%d.1", 1+i/25/250, 1+(i/25)%250), body: []byte(fmt.Sprintf(`{"data":{"email":"dl%d@example.com"}}`, i))})
	}
	c, _ := t.all(reqs, 32)
	problems := c.only(200)
	// Let the deliveries fail and the notices pile up, if they do.
	time.Sleep(8 * time.Second)
	t.note("heap in use %s bytes, heap objects %s", t.metric("go_memstats_heap_inuse_bytes"), t.metric("go_memstats_heap_objects"))
	t.note("dead letters %s, notices the hanging notify_url got %d, gateway_notices_dropped_total %q",
		t.metric(`gateway_queue_depth{state="dead"}`), t.noticesSeen(), t.metric("gateway_notices_dropped_total"))
	return c, problems
}

const leadsieBody = `{"status":"SUCCESS","connectionAssets":[{"type":"Page","name":"P","id":"1","isSuccess":true}]}`
