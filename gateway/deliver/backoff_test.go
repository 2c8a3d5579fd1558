package deliver

import (
	"slices"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		min, max time.Duration
		// takes is how many waits to take before a reset (-1: no reset).
		takes     int
		want      []time.Duration
		afterRest []time.Duration
	}{
		{"doubles up to max", 20 * ms, 1000 * ms, -1,
			[]time.Duration{20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, 1000 * ms, 1000 * ms}, nil},
		{"max not a power of two of min", 100 * ms, 250 * ms, -1,
			[]time.Duration{100 * ms, 200 * ms, 250 * ms, 250 * ms}, nil},
		{"min equals max", time.Second, time.Second, -1,
			[]time.Duration{time.Second, time.Second, time.Second}, nil},
		{"min over max starts at min, then max", 10 * time.Second, 5 * time.Second, -1,
			[]time.Duration{10 * time.Second, 5 * time.Second, 5 * time.Second}, nil},
		{"reset starts over", 20 * ms, 5 * time.Second, 3,
			[]time.Duration{20 * ms, 40 * ms, 80 * ms},
			[]time.Duration{20 * ms, 40 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackoff(tt.min, tt.max)
			var got []time.Duration
			for range tt.want {
				got = append(got, b.next())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("waits %v, want %v", got, tt.want)
			}
			if tt.takes < 0 {
				return
			}
			b.reset()
			got = got[:0]
			for range tt.afterRest {
				got = append(got, b.next())
			}
			if !slices.Equal(got, tt.afterRest) {
				t.Fatalf("after reset: waits %v, want %v", got, tt.afterRest)
			}
		})
	}
}
