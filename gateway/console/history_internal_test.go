package console

import (
	"slices"
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(min, sec int) time.Time {
		return t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
	}
	type step struct {
		at       time.Time
		counters map[string]float64
	}
	tests := []struct {
		name  string
		steps []step
		key   string
		now   time.Time
		want  map[int]float64 // index in the 60 values → value; every other is 0
	}{
		{
			name:  "the first sample is only a starting point",
			steps: []step{{at(0, 0), map[string]float64{"in|web": 7}}},
			key:   "in|web", now: at(0, 30),
		},
		{
			name: "increases add up within their minute",
			steps: []step{
				{at(0, 0), map[string]float64{"in|web": 0}},
				{at(0, 5), map[string]float64{"in|web": 2}},
				{at(0, 50), map[string]float64{"in|web": 5}},
				{at(1, 10), map[string]float64{"in|web": 6}},
			},
			key: "in|web", now: at(1, 20),
			want: map[int]float64{58: 5, 59: 1},
		},
		{
			name: "minutes older than an hour are gone",
			steps: []step{
				{at(0, 0), map[string]float64{"in|web": 0}},
				{at(0, 5), map[string]float64{"in|web": 4}},
				{at(30, 0), map[string]float64{"in|web": 5}},
				{at(60, 0), map[string]float64{"in|web": 7}}, // the bucket of minute 0 again
			},
			key: "in|web", now: at(60, 1),
			want: map[int]float64{29: 1, 59: 2},
		},
		{
			name: "the minute of a sample is now's: an hour later all is 0",
			steps: []step{
				{at(0, 0), map[string]float64{"in|web": 0}},
				{at(0, 5), map[string]float64{"in|web": 4}},
			},
			key: "in|web", now: at(60, 0),
		},
		{
			name: "a sample older than the previous one books to the previous one's minute",
			steps: []step{
				{at(0, 0), map[string]float64{"in|web": 0}},
				{at(5, 0), map[string]float64{"in|web": 1}},
				{at(2, 0), map[string]float64{"in|web": 3}},
			},
			key: "in|web", now: at(5, 0),
			want: map[int]float64{59: 3},
		},
		{
			name: "a reset counter counts from 0",
			steps: []step{
				{at(0, 0), map[string]float64{"dl|crm|success": 9}},
				{at(1, 0), map[string]float64{"dl|crm|success": 2}},
			},
			key: "dl|crm|success", now: at(1, 0),
			want: map[int]float64{59: 2},
		},
		{
			name: "a key that leaves the metrics leaves the history",
			steps: []step{
				{at(0, 0), map[string]float64{"dl|old|success": 0, "in|web": 0}},
				{at(0, 5), map[string]float64{"dl|old|success": 3, "in|web": 0}},
				{at(0, 10), map[string]float64{"in|web": 0}},
			},
			key: "dl|old|success", now: at(0, 10),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h history
			for _, s := range tt.steps {
				h.add(sample{at: s.at, counters: s.counters})
			}
			want := make([]float64, historyMinutes)
			for i, v := range tt.want {
				want[i] = v
			}
			if got := h.series(tt.key, tt.now); !slices.Equal(got, want) {
				t.Errorf("series = %v\nwant     %v", got, want)
			}
		})
	}
	var h history
	h.add(sample{at: at(0, 0), counters: map[string]float64{"dl|old|success": 0}})
	h.add(sample{at: at(0, 5), counters: map[string]float64{}})
	if len(h.rings) != 0 {
		t.Errorf("rings of removed keys kept: %v", h.rings)
	}
}
