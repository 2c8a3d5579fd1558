package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Notice is the JSON body POSTed to notify_on_failure when an event is
// dead-lettered. It names what failed and why, never a secret, header or
// the destination URL (which may carry a token).
type Notice struct {
	Type        string    `json:"type"`
	Destination string    `json:"destination"`
	DeliveryID  string    `json:"delivery_id"`
	EventID     string    `json:"event_id"`
	Event       string    `json:"event"`
	Source      string    `json:"source"`
	LeadID      string    `json:"lead_id"`
	Attempts    int       `json:"attempts"`
	Code        int       `json:"code"`
	Error       string    `json:"error"`
	DeadAt      time.Time `json:"dead_at"`
	// Disabled is true when the answer was 410 Gone and the destination
	// stops receiving until its config changes.
	Disabled bool `json:"disabled"`
	// requestID is the inbound request's id, for the log only.
	requestID string
}

// NoticeType is Notice.Type for a dead letter.
const NoticeType = "delivery.dead_lettered"

// MoreNotice is POSTed in place of the notices that found the queue full:
// one per destination, however many dead letters it stands for. Their ids
// are in the admin API's dead letters.
type MoreNotice struct {
	Type        string `json:"type"`
	Destination string `json:"destination"`
	// Count is how many dead letters this notice stands for.
	Count int `json:"count"`
	// Message reads "N more dead letters for DESTINATION".
	Message string `json:"message"`
}

// MoreNoticeType is MoreNotice.Type.
const MoreNoticeType = "delivery.dead_lettered_more"

// Notifier defaults.
const (
	// NoticeQueue is how many notices may wait to be sent.
	NoticeQueue = 1000
	// NoticeWorkers is how many notices are sent at once.
	NoticeWorkers = 4
	// NoticeTimeout bounds one notice, its connect included.
	NoticeTimeout = 10 * time.Second
	// maxCoalesced bounds the destinations with a coalesced count waiting.
	// Destinations are bounded by the config and the subscription cap, so
	// this is only a backstop.
	maxCoalesced = 10_000
)

// NotifierOptions wires a Notifier; every field has a default.
type NotifierOptions struct {
	// QueueSize is how many notices may wait; default NoticeQueue.
	QueueSize int
	// Workers is how many are sent at once; default NoticeWorkers.
	Workers int
	// Timeout bounds one notice; default NoticeTimeout.
	Timeout time.Duration
	// MaxCoalesced bounds the destinations with a count waiting; default
	// 10,000.
	MaxCoalesced int
	// Resolver resolves notify hosts; nil is net.DefaultResolver.
	Resolver Resolver
	// AllowPrivate lifts the SSRF guard for every notice.
	AllowPrivate bool
	// Version goes into User-Agent.
	Version string
	// Now stamps webhook-timestamp; nil is time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Dropped counts dead letters whose notice never reached its URL
	// (gateway_notices_dropped_total); nil counts nothing.
	Dropped prometheus.Counter
}

// Notifier tells notify URLs of dead letters through a bounded queue and a
// fixed pool of workers, so that a destination dead-lettering its whole
// backlog (a 410) costs a fixed number of goroutines and connections
// whatever the backlog, and a slow notify URL holds only the pool.
//
// When the queue is full, a destination's further notices are not queued
// but counted, and as soon as there is room one MoreNotice ("N more dead
// letters for DESTINATION") goes out for all of them. A notice is sent
// once, never retried: the dead letters stay listed and replayable in the
// admin API.
//
// gateway_notices_dropped_total counts every dead letter whose notice did
// not reach its URL with a 2xx: refused because the queue and the
// coalescing map were both full, failed (network error, timeout, refused by
// the SSRF guard, non-2xx), or still unsent when the shutdown grace ran
// out. A MoreNotice counts as its Count. Each is logged with its
// destination (and dead letter id when it has one).
type Notifier struct {
	opts NotifierOptions
	// guarded is the one client for notify URLs under the SSRF guard,
	// trusted the one for URLs from the config: two clients, because a
	// connection kept alive for a trusted URL must never serve a guarded
	// one to the same host.
	guarded, trusted *http.Client
	queue            chan noticeJob

	mu      sync.Mutex
	more    map[string]*moreEntry // by destination name
	started bool
	closed  bool

	ctx      context.Context // cancelled when the shutdown grace is over
	cancel   context.CancelFunc
	stopping chan struct{}
	wg       sync.WaitGroup
}

type noticeJob struct {
	target       string
	allowPrivate bool
	one          *Notice
	more         *MoreNotice
}

// count is how many dead letters j stands for.
func (j noticeJob) count() int {
	if j.more != nil {
		return j.more.Count
	}
	return 1
}

type moreEntry struct {
	target       string
	allowPrivate bool
	count        int
}

// NewNotifier returns a Notifier; Start its workers before the first Notify.
func NewNotifier(opts NotifierOptions) *Notifier {
	if opts.QueueSize <= 0 {
		opts.QueueSize = NoticeQueue
	}
	if opts.Workers <= 0 {
		opts.Workers = NoticeWorkers
	}
	if opts.Timeout <= 0 {
		opts.Timeout = NoticeTimeout
	}
	if opts.MaxCoalesced <= 0 {
		opts.MaxCoalesced = maxCoalesced
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	nf := &Notifier{
		opts:     opts,
		trusted:  newClient(opts.Resolver, true, opts.Workers),
		queue:    make(chan noticeJob, opts.QueueSize),
		more:     map[string]*moreEntry{},
		stopping: make(chan struct{}),
	}
	nf.guarded = nf.trusted
	if !opts.AllowPrivate {
		nf.guarded = newClient(opts.Resolver, false, opts.Workers)
	}
	nf.ctx, nf.cancel = context.WithCancel(context.Background())
	return nf
}

// Start starts the workers; later calls, and calls after Stop, do nothing.
func (nf *Notifier) Start() {
	nf.mu.Lock()
	defer nf.mu.Unlock()
	if nf.started || nf.closed {
		return
	}
	nf.started = true
	for range nf.opts.Workers {
		nf.wg.Add(1)
		go nf.work()
	}
}

// Notify queues n for target without waiting; allowPrivate lifts the SSRF
// guard for a URL that came from the config. When the queue is full, n is
// counted into its destination's MoreNotice.
func (nf *Notifier) Notify(target string, allowPrivate bool, n Notice) {
	nf.mu.Lock()
	defer nf.mu.Unlock()
	if nf.closed {
		nf.dropped(1, "dead-letter notice not sent: shutting down", n.Destination, &n, nil)
		return
	}
	e := nf.more[n.Destination]
	if e == nil {
		select {
		case nf.queue <- noticeJob{target: target, allowPrivate: allowPrivate, one: &n}:
			return
		default:
		}
		if len(nf.more) >= nf.opts.MaxCoalesced {
			nf.dropped(1, "dead-letter notice dropped: queue full", n.Destination, &n, nil)
			return
		}
		e = &moreEntry{}
		nf.more[n.Destination] = e
	}
	// Once a destination has a count waiting, its notices join it until it
	// goes out, so the receiver hears of them in order.
	e.target, e.allowPrivate = target, allowPrivate
	e.count++
}

// flush queues the waiting MoreNotices there is room for and says whether
// any is left.
func (nf *Notifier) flush() (left bool) {
	nf.mu.Lock()
	defer nf.mu.Unlock()
	for dest, e := range nf.more {
		m := &MoreNotice{Type: MoreNoticeType, Destination: dest, Count: e.count,
			Message: fmt.Sprintf("%d more dead letters for %s", e.count, dest)}
		select {
		case nf.queue <- noticeJob{target: e.target, allowPrivate: e.allowPrivate, more: m}:
			delete(nf.more, dest)
		default:
			return true
		}
	}
	return false
}

func (nf *Notifier) work() {
	defer nf.wg.Done()
	for {
		var j noticeJob
		select {
		case j = <-nf.queue:
		case <-nf.stopping:
			select {
			case j = <-nf.queue:
			default:
				// Drained, but for counts still waiting to go out.
				if !nf.flush() && len(nf.queue) == 0 {
					return
				}
				continue
			}
		}
		nf.send(j)
		// A notice went: there is room for a waiting count.
		nf.flush()
	}
}

// send posts j once and counts it as dropped when it did not arrive.
func (nf *Notifier) send(j noticeJob) {
	var dest string
	var body any
	if j.one != nil {
		dest, body = j.one.Destination, j.one
	} else {
		dest, body = j.more.Destination, j.more
	}
	if nf.ctx.Err() != nil {
		nf.dropped(j.count(), "dead-letter notice not sent: shutdown grace over", dest, j.one, nil)
		return
	}
	ctx, cancel := context.WithTimeout(nf.ctx, nf.opts.Timeout)
	defer cancel()
	if err := nf.post(ctx, j, body); err != nil {
		msg := "dead-letter notice failed"
		if nf.ctx.Err() != nil {
			msg = "dead-letter notice not sent: shutdown grace over"
		}
		nf.dropped(j.count(), msg, dest, j.one, err)
	}
}

func (nf *Notifier) post(ctx context.Context, j noticeJob, body any) error {
	b, err := marshalJSON(body)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.target, bytes.NewReader(b))
	if err != nil {
		return errors.New("notify: invalid notify url")
	}
	now := nf.opts.Now()
	id := "notice_more_" + strconv.FormatInt(now.UnixNano(), 36)
	if j.one != nil {
		id = "notice_" + j.one.DeliveryID
	}
	req.Header.Set("Content-Type", ContentJSON)
	req.Header.Set("User-Agent", "leadgate/"+nf.opts.Version)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	c := nf.guarded
	if j.allowPrivate {
		c = nf.trusted
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token
		}
		return fmt.Errorf("notify: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("notify: %w", &StatusError{Code: resp.StatusCode})
	}
	return nil
}

// dropped counts and logs n dead letters nobody was told of; one is the
// notice of a single dead letter, nil for a MoreNotice.
func (nf *Notifier) dropped(n int, msg, dest string, one *Notice, err error) {
	if nf.opts.Dropped != nil {
		nf.opts.Dropped.Add(float64(n))
	}
	args := []any{"destination", dest, "dead_letters", n}
	if one != nil {
		args = append(args, "dead_letter_id", one.DeliveryID, "event_id", one.EventID, "request_id", one.requestID)
	}
	if err != nil {
		args = append(args, "error", err.Error())
	}
	nf.opts.Log.Warn(msg, args...)
}

// Stop takes no more notices, sends those waiting until deadline, then
// gives up on the rest (counted and logged) and returns once the workers
// have ended. Safe to call more than once.
func (nf *Notifier) Stop(deadline time.Time) {
	nf.mu.Lock()
	first := !nf.closed
	nf.closed = true
	started := nf.started
	nf.started = true
	nf.mu.Unlock()
	if first {
		close(nf.stopping)
	}
	if !started {
		// Never started: whatever was queued is counted as dropped.
		nf.cancel()
		nf.wg.Add(1)
		go nf.work()
	}
	overdue := time.AfterFunc(time.Until(deadline), nf.cancel)
	nf.wg.Wait()
	overdue.Stop()
	nf.cancel()
	nf.trusted.CloseIdleConnections()
	nf.guarded.CloseIdleConnections()
}
