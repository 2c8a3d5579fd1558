package groupcommit

import (
	"slices"
	"testing"
	"time"
)

// TestRun: a batch is what has gathered, never more than max, and
// every item goes in order; a lone item goes at once, without waiting for
// the batch to fill or the input to close.
func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		items int
		max   int
		want  []int // batch sizes
	}{
		{"none", 0, 4, nil},
		{"one", 1, 4, []int{1}},
		{"exactly max", 4, 4, []int{4}},
		{"max and some", 10, 4, []int{4, 4, 2}},
		{"max 1", 3, 1, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make(chan int, tt.items)
			for i := range tt.items {
				in <- i
			}
			close(in)
			var sizes, seen []int
			Run(in, tt.max, func(b []int) {
				sizes = append(sizes, len(b))
				seen = append(seen, b...)
			})
			if !slices.Equal(sizes, tt.want) {
				t.Fatalf("batches of %v, want %v", sizes, tt.want)
			}
			for i, v := range seen {
				if v != i {
					t.Fatalf("items %v, want 0..%d in order", seen, tt.items-1)
				}
			}
		})
	}
	t.Run("lone item goes at once", func(t *testing.T) {
		in := make(chan int)
		got := make(chan []int, 1)
		go Run(in, 8, func(b []int) { got <- slices.Clone(b) })
		in <- 7
		select {
		case b := <-got:
			if !slices.Equal(b, []int{7}) {
				t.Fatalf("batch %v, want [7]", b)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a lone item waited for more")
		}
		close(in)
	})
}

// TestUntil: closing stop ends the loop between batches though in stays
// open, and what was committed before it went in order.
func TestUntil(t *testing.T) {
	tests := []struct {
		name  string
		items int
	}{
		{"idle", 0},
		{"after some", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make(chan int) // never closed, as a batcher's callers keep sending
			stop := make(chan struct{})
			var seen []int
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				Until(in, stop, 4, func(b []int) { seen = append(seen, b...) })
			}()
			for i := range tt.items {
				in <- i
			}
			close(stop)
			select {
			case <-ended:
			case <-time.After(5 * time.Second):
				t.Fatal("Until went on after stop was closed")
			}
			if len(seen) != tt.items {
				t.Fatalf("committed %v, want the %d items sent before stop", seen, tt.items)
			}
			for i, v := range seen {
				if v != i {
					t.Fatalf("items %v, want 0..%d in order", seen, tt.items-1)
				}
			}
		})
	}
}
