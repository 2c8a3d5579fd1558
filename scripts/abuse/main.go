// Command abuse runs the attacks of issue 12 against a built gateway binary
// on loopback and checks the bounds of the README's Security section: the
// process's peak RSS under 250 MB and its goroutines under 2,000 through
// every attack, and every attack answered within the rules (400, 413, 429,
// or 200 with the lead bounded). scripts/abuse.sh builds and runs it.
//
// It writes a temporary config (embedded store in a temporary data dir,
// the shipped mappings, admin keys, 127.0.0.1 as a trusted proxy so each
// attack names its own client addresses in X-Forwarded-For) with local
// destinations it serves itself: a recording sink, one answering 410, one
// answering 400, and a notify_url that answers slowly. Every attack is
// bounded in requests and time. It prints one block per attack and exits 1
// when any bound is crossed.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

const (
	maxRSSBytes   = 250 << 20
	maxGoroutines = 2000
	maxFields     = 200
	maxEventBytes = 128 << 10 // a bounded lead (64 KiB of fields) and its envelope
)

func main() {
	gateway := flag.String("gateway", "", "the gateway binary")
	mappings := flag.String("mappings", "mappings", "the mappings folder to serve")
	flag.Parse()
	if *gateway == "" {
		fmt.Fprintln(os.Stderr, "usage: abuse -gateway PATH [-mappings DIR]")
		os.Exit(2)
	}
	os.Exit(run(*gateway, *mappings))
}

// target is the gateway under attack and the local servers it talks to.
type target struct {
	base   string // http://127.0.0.1:port
	pid    int
	client *http.Client
	sink   *sink
	notes  []string // what the attack running now observed, printed with it
	// noticesSeen counts the dead-letter notices the notify_url got.
	noticesSeen func() int64
}

// note records an observation of the attack running now.
func (t *target) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// run starts the local endpoints and the gateway, runs every attack and
// answers the exit code: 1 when an attack crossed a bound.
func run(gatewayBin, mappingsDir string) int {
	tmp, err := os.MkdirTemp("", "leadgate-abuse-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	ep := startEndpoints()
	port := freePort()
	cfgPath, err := writeConfig(tmp, mappingsDir, port, ep)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd, logs, err := startGateway(gatewayBin, cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start gateway:", err)
		return 1
	}
	defer stopGateway(cmd)
	t := &target{
		base: fmt.Sprintf("http://127.0.0.1:%d", port),
		pid:  cmd.Process.Pid,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64,
		}},
		sink:        ep.sink,
		noticesSeen: ep.notices.Load,
	}
	if !t.waitReady(15 * time.Second) {
		fmt.Fprintf(os.Stderr, "gateway never answered /healthz; its log:\n%s\n", logs.String())
		return 1
	}
	if runAttacks(t) > 0 {
		return 1
	}
	return 0
}

// attacks are run in this order, each named as it is printed.
var attacks = []struct {
	name string
	run  func(t *target) (counts, []string)
}{
	{"nested JSON flood (80 x 0.5 MB of brackets, 40 at once)", nestedFlood},
	{"huge field count (8 posts x 20,000 new keys, one lead)", fieldFlood},
	{"rotating limit keys (60 leadsie posts, a new customUserId each)", rotatingKeys},
	{"someone else's key (40 posts naming customUserId=victim, then the victim)", otherClientsKey},
	{"one IPv6 /64 (40 posts from 40 addresses of it)", ipv6Block},
	{"brute force: wrong admin keys (15)", bruteAdmin},
	{"brute force: wrong console sign-in (15)", bruteConsole},
	{"brute force: wrong LeadSquared keys (15)", bruteLeadSquared},
	{"dead-letter notice flood (3,000 leads to a 410 and a 400 destination, notify_url hangs)", noticeFlood},
}

// runAttacks runs every attack against t, prints one block each and a
// summary, and answers how many failed.
func runAttacks(t *target) (failed int) {
	start := time.Now()
	for i, a := range attacks {
		if !runAttack(t, i+1, a.name, a.run) {
			failed++
		}
	}
	fmt.Printf("\n%d of %d attacks within the bounds (peak RSS < %d MB, goroutines < %d, answers within the rules) in %s\n",
		len(attacks)-failed, len(attacks), maxRSSBytes>>20, maxGoroutines, time.Since(start).Round(time.Second))
	return failed
}

// runAttack runs attack n while sampling the gateway, prints its block and
// answers whether it stayed within the bounds.
func runAttack(t *target, n int, name string, attack func(t *target) (counts, []string)) bool {
	s := t.sample()
	c, problems := attack(t)
	peakRSS, peakAnon, peakG, hwm := s.stop()
	if peakRSS >= maxRSSBytes {
		problems = append(problems, fmt.Sprintf("peak RSS %d MB, bound %d MB", peakRSS>>20, maxRSSBytes>>20))
	}
	if peakG >= maxGoroutines {
		problems = append(problems, fmt.Sprintf("%d goroutines, bound %d", peakG, maxGoroutines))
	}
	verdict := "PASS"
	if len(problems) > 0 {
		verdict = "FAIL"
	}
	fmt.Printf("%d. %s\n   %s  peak RSS %d MB (anonymous %d MB, VmHWM %d MB)  peak goroutines %d  answers %s\n",
		n, name, verdict, peakRSS>>20, peakAnon>>20, hwm>>20, peakG, c)
	for _, note := range t.notes {
		fmt.Printf("   (%s)\n", note)
	}
	t.notes = nil
	for _, p := range problems {
		fmt.Printf("   - %s\n", p)
	}
	return len(problems) == 0
}
