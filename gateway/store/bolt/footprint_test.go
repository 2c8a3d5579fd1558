package bolt

import (
	"runtime"
	"testing"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store/storetest"
)

// footprintLeads is n of storetest.MeasureFootprint.
const footprintLeads = 10000

// BenchmarkFootprint measures the disk and memory a lead and an event take
// in the embedded store (README, "Retention and sizing"):
//
//	go test -run '^$' -bench Footprint -benchtime 1x ./gateway/store/bolt
//
// Disk is the bytes of the file's pages in use (the file itself is that
// plus free pages, which `gateway compact` gives back); memory is the Go
// heap after a collection.
func BenchmarkFootprint(b *testing.B) {
	for range b.N {
		disk := measure(b, func(s *Store) int64 { return inUse(b, s) })
		heap := measure(b, func(*Store) int64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return int64(m.HeapAlloc)
		})
		b.ReportMetric(disk.PerLead, "disk-B/lead")
		b.ReportMetric(disk.PerEvent, "disk-B/event")
		b.ReportMetric(heap.PerLead, "heap-B/lead")
		b.ReportMetric(heap.PerEvent, "heap-B/event")
	}
}

func measure(b *testing.B, used func(*Store) int64) storetest.Footprint {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	return storetest.MeasureFootprint(b, s, func() int64 { return used(s) }, footprintLeads)
}

// inUse sums the bytes of the pages every bucket uses.
func inUse(b *testing.B, s *Store) int64 {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bbolt.Bucket) error {
			st := bk.Stats()
			n += int64(st.BranchInuse + st.LeafInuse + st.InlineBucketInuse)
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
