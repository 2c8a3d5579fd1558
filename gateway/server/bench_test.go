package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"leadgate/gateway/ratelimit"
)

// BenchmarkAccept drives the durable accept path of scripts/bench.sh's
// embedded run (website mapping, bolt store, no destination) through the
// Fiber handler without a network, and
// reports the process's CPU time per request, which is what bounds the
// gateway's throughput when it shares the machine with its load.
func BenchmarkAccept(b *testing.B) {
	h := newHarness(b, func(o *Options, rt *Runtime) {
		rt.Inbound = ratelimit.Limit{Requests: 1 << 30, Per: time.Second}
		rt.Destinations = nil
	})
	h.srv.opts.Now = time.Now
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // as serve.go sets it
	handler := h.srv.App().Handler()
	var n atomic.Int64
	var before, after syscall.Rusage
	b.ReportAllocs()
	b.SetParallelism(32) // the commit batches concurrent ingests, as under load
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var fc fasthttp.RequestCtx
		for pb.Next() {
			i := n.Add(1)
			fc.Request.Reset()
			fc.Response.Reset()
			fc.Request.Header.SetMethod(fiber.MethodPost)
			fc.Request.SetRequestURI("/hooks/website")
			fc.Request.Header.SetContentType(fiber.MIMEApplicationJSON)
			fc.Request.SetBodyString(`{"client":"bench","source":"website","branch":"Main Branch","lead_details":[{"lead_field":"name","lead_value":"John Doe"},{"lead_field":"email","lead_value":"john.` +
				strconv.FormatInt(i, 10) + `@example.com"},{"lead_field":"budget","lead_value":"5000"}]}`)
			handler(&fc)
			if code := fc.Response.StatusCode(); code != fiber.StatusOK {
				b.Fatalf("status %d: %s", code, fc.Response.Body())
			}
		}
	})
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

func TestSendAcceptedMatchesJSON(t *testing.T) {
	// The body c.JSON wrote before sendAccepted replaced it.
	type accepted struct {
		Message string `json:"message"`
		LeadID  string `json:"lead_id"`
	}
	app := fiber.New()
	for _, id := range []string{"", "6541f3a2c0ffee0123456789", "odd <&> \"id\" \u2028 é \x01"} {
		t.Run(id, func(t *testing.T) {
			fc := app.AcquireCtx(&fasthttp.RequestCtx{})
			defer app.ReleaseCtx(fc)
			if err := sendAccepted(fc, id); err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(accepted{Message: "Successfully created", LeadID: id})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(fc.Response().Body()); got != string(want) {
				t.Fatalf("body %s, want %s", got, want)
			}
			if got := string(fc.Response().Header.ContentType()); got != fiber.MIMEApplicationJSON {
				t.Fatalf("content type %q, want %q", got, fiber.MIMEApplicationJSON)
			}
		})
	}
}

func TestDedupeKeyIsSHA256OfSourceQueryBody(t *testing.T) {
	big := make([]byte, 5000) // beyond dedupeKey's stack buffer
	for i := range big {
		big[i] = byte(i)
	}
	tests := []struct {
		source      string
		query, body []byte
	}{
		{"website", nil, nil},
		{"website", []byte("a=1&b=2"), []byte(`{"x":1}`)},
		{"leadsie", []byte("customUserId=u"), big},
	}
	for _, tt := range tests {
		h := sha256.New()
		h.Write([]byte(tt.source))
		h.Write([]byte{0})
		h.Write(tt.query)
		h.Write([]byte{0})
		h.Write(tt.body)
		if got, want := dedupeKey(tt.source, tt.query, tt.body), hex.EncodeToString(h.Sum(nil)); got != want {
			t.Fatalf("dedupeKey(%q, %q, %d bytes) = %s, want %s", tt.source, tt.query, len(tt.body), got, want)
		}
	}
}

func TestDeadlinesBoundEveryRequest(t *testing.T) {
	var d deadlines
	for i := 0; i < 1000; i++ {
		before := time.Now()
		ctx := d.get()
		after := time.Now()
		dl, ok := ctx.Deadline()
		if !ok {
			t.Fatal("context without a deadline")
		}
		if dl.After(after.Add(ingestTimeout)) || dl.Before(before.Add(ingestTimeout-deadlineGrain)) {
			t.Fatalf("deadline %v not within [%v, %v]", dl, before.Add(ingestTimeout-deadlineGrain), after.Add(ingestTimeout))
		}
		if ctx.Err() != nil {
			t.Fatalf("context ended early: %v", ctx.Err())
		}
	}
}
