package deliver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"leadgate/gateway/policy"
	"leadgate/gateway/store"
)

func BenchmarkFormat(b *testing.B) {
	ev := sampleEvent()
	for _, format := range []string{FormatCanonical, FormatLedsak, FormatSaveLead, FormatSlack, "template:bench"} {
		for _, ct := range []string{ContentJSON, ContentForm} {
			d := &Destination{Format: format, ContentType: ct, Template: testTemplate}
			b.Run(format+"/"+ct[strings.LastIndexByte(ct, '/')+1:], func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Render(d, ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDispatch measures deliveries per second end to end: lease from
// the in-memory store, render, sign, POST to an httptest sink, settle.
func BenchmarkDispatch(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			defer srv.Close()
			st := newMemStore()
			st.settled = make(chan store.Outcome, b.N)
			d := Destination{Name: "bench", URL: srv.URL, Enabled: true, AllowPrivate: true, Secrets: []string{testSecret},
				Delivery: policy.Delivery{Concurrency: conc}}
			dp := New(Options{Store: st, PollMax: 10 * time.Millisecond})
			dp.SetDestinations([]Destination{d})
			ev := *sampleEvent()
			now := time.Now()
			for i := range b.N {
				ev.ID = fmt.Sprintf("evt_%d", i)
				st.add("bench", ev, now)
			}
			b.ResetTimer()
			start := time.Now()
			go func() { _ = dp.Run(context.Background()) }()
			for range b.N {
				<-st.settled
			}
			elapsed := time.Since(start)
			b.StopTimer()
			dp.Shutdown(5 * time.Second)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkSend measures one attempt of HTTPSender against a keep-alive
// httptest sink, signed, from one goroutine and from many: the sink's own
// cost is in ns/op too, so compare runs, not absolute figures.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d := &Destination{Name: "bench", URL: srv.URL, AllowPrivate: true, Delivery: policy.Delivery{Concurrency: 64},
		Headers: []Header{{"X-Api-Key", "k1"}}, Secrets: []string{testSecret}}
	s := &HTTPSender{Version: "bench"}
	ev := sampleEvent()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Send(context.Background(), d, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Send(context.Background(), d, ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
