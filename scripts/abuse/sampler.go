package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// sampler follows the gateway's RSS and goroutines during one attack.
type sampler struct {
	stopc chan struct{}
	done  chan struct{}
	rss   int64
	anon  int64 // RssAnon: the heap and stacks, without the store's mmap
	g     int
	t     *target
}

func (t *target) sample() *sampler {
	s := &sampler{stopc: make(chan struct{}), done: make(chan struct{}), t: t}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			s.rss = max(s.rss, procStatus(t.pid, "VmRSS"))
			s.anon = max(s.anon, procStatus(t.pid, "RssAnon"))
			if n%4 == 0 { // /metrics every 200 ms
				if g, err := strconv.Atoi(t.metric("go_goroutines")); err == nil {
					s.g = max(s.g, g)
				}
			}
			n++
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() (rss, anon int64, goroutines int, hwm int64) {
	close(s.stopc)
	<-s.done
	s.rss = max(s.rss, procStatus(s.t.pid, "VmRSS"))
	s.anon = max(s.anon, procStatus(s.t.pid, "RssAnon"))
	if g, err := strconv.Atoi(s.t.metric("go_goroutines")); err == nil {
		s.g = max(s.g, g)
	}
	return s.rss, s.anon, s.g, procStatus(s.t.pid, "VmHWM")
}

// procStatus reads a kB line of /proc/PID/status, in bytes.
func procStatus(pid int, key string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
