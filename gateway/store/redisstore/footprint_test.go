package redisstore_test

import (
	"context"
	"testing"

	"leadgate/gateway/redistest"
	"leadgate/gateway/store/redisstore"
	"leadgate/gateway/store/storetest"
)

// BenchmarkFootprint measures the memory a lead and an event take in Redis
// (README, "Retention and sizing"), as INFO memory's used_memory, on a
// redis-server of its own:
//
//	go test -run '^$' -bench Footprint -benchtime 1x ./gateway/store/redisstore
func BenchmarkFootprint(b *testing.B) {
	for range b.N {
		srv := redistest.Start(b)
		s, err := redisstore.Open(context.Background(), srv.URL(), redisstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		used := func() int64 {
			n, err := s.Size(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
		f := storetest.MeasureFootprint(b, s, used, 10000)
		s.Close()
		b.ReportMetric(f.PerLead, "mem-B/lead")
		b.ReportMetric(f.PerEvent, "mem-B/event")
	}
}
