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
