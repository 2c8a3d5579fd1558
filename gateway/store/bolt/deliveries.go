package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"leadgate/gateway/store"
)

// Delivery states as stored; they are also the admin API's statuses.
const (
	statePending   = "pending"
	stateRetrying  = "retrying"
	stateDelivered = "delivered"
	stateDead      = "dead"
)

// record is a delivery as stored.
type record struct {
	EventID string `json:"event_id"`
	Dest    string `json:"destination"`
	State   string `json:"state"`
	// Due is the Unix-nano time of its due-index key while queued.
	Due int64 `json:"due,omitempty"`
	// Tries counts attempts since Ingest or Replay last queued it.
	Tries      int             `json:"tries"`
	EnqueuedAt time.Time       `json:"enqueued_at"`
	DeadAt     time.Time       `json:"dead_at,omitzero"`
	Attempts   []store.Attempt `json:"attempts,omitempty"`
	// OrderedLead is the lead of a delivery that was queued as ordered,
	// written once it leaves its line (see ordered.go), so that a replay
	// puts it back in that lead's line.
	OrderedLead string `json:"ordered_lead,omitempty"`
}

func (r *record) queued() bool { return r.State == statePending || r.State == stateRetrying }

// deliveryID is the event id's time-ordered part and the destination's
// place in the event's route, so the id does not carry a destination name
// into admin URLs and the record of a never-attempted delivery can be
// derived from the event's route instead of being written at Ingest.
func deliveryID(eventID string, i int) string {
	return "dlv_" + strings.TrimPrefix(eventID, "evt_") + "_" + strconv.Itoa(i)
}

// parseDeliveryID inverts deliveryID.
func parseDeliveryID(id string) (eventID string, i int, ok bool) {
	rest, ok := strings.CutPrefix(id, "dlv_")
	if !ok {
		return "", 0, false
	}
	j := strings.LastIndexByte(rest, '_')
	if j < 0 {
		return "", 0, false
	}
	i, err := strconv.Atoi(rest[j+1:])
	if err != nil || i < 0 {
		return "", 0, false
	}
	return "evt_" + rest[:j], i, true
}

// encodeRoutes writes an event's queue time, the request id that made it
// and its destinations. The request id follows a zero byte, which no
// routes value written before request ids were kept has there (its first
// destination's length prefix, and destinations are never empty); each
// string is length-prefixed.
func encodeRoutes(at int64, requestID string, dests []string) []byte {
	n := 9 + binary.MaxVarintLen64 + len(requestID)
	for _, d := range dests {
		n += binary.MaxVarintLen64 + len(d)
	}
	b := make([]byte, 8, n)
	binary.BigEndian.PutUint64(b, uint64(at))
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(requestID)))
	b = append(b, requestID...)
	for _, d := range dests {
		b = binary.AppendUvarint(b, uint64(len(d)))
		b = append(b, d...)
	}
	return b
}

func decodeRoutes(b []byte) (at int64, requestID string, dests []string, err error) {
	if len(b) < 8 {
		return 0, "", nil, errors.New("short routes value")
	}
	at, b = keyTime(b), b[8:]
	if len(b) > 0 && b[0] == 0 {
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || uint64(len(b)-1-k) < n {
			return 0, "", nil, errors.New("corrupt routes value")
		}
		requestID, b = string(b[1+k:1+k+int(n)]), b[1+k+int(n):]
	}
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return 0, "", nil, errors.New("corrupt routes value")
		}
		dests = append(dests, string(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	return at, requestID, dests, nil
}

// routesRequestID reads the request id of a routed event, "" for none.
func routesRequestID(tx *bbolt.Tx, eventID string) (string, error) {
	raw := tx.Bucket(bRoutes).Get([]byte(eventID))
	if raw == nil {
		return "", nil
	}
	_, rid, _, err := decodeRoutes(raw)
	if err != nil {
		return "", fmt.Errorf("event %s: %w", eventID, err)
	}
	return rid, nil
}

// getRecord returns a delivery's record, deriving a pending one from its
// event's route when it was never attempted; nil when there is no such
// delivery.
func getRecord(tx *bbolt.Tx, id string) (*record, error) {
	if raw := tx.Bucket(bDeliveries).Get([]byte(id)); raw != nil {
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("decode delivery %s: %w", id, err)
		}
		return &r, nil
	}
	eventID, i, ok := parseDeliveryID(id)
	if !ok {
		return nil, nil
	}
	raw := tx.Bucket(bRoutes).Get([]byte(eventID))
	if raw == nil {
		return nil, nil
	}
	at, _, dests, err := decodeRoutes(raw)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", eventID, err)
	}
	if i >= len(dests) {
		return nil, nil
	}
	return &record{EventID: eventID, Dest: dests[i], State: statePending, Due: at, EnqueuedAt: time.Unix(0, at).UTC()}, nil
}

func putRecord(tx *bbolt.Tx, id string, r *record) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode delivery %s: %w", id, err)
	}
	return appending(tx.Bucket(bDeliveries)).Put([]byte(id), raw)
}

// decodeJSON keeps numbers as json.Number so int64 values in lead fields
// survive exactly.
func decodeJSON(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	return dec.Decode(v)
}

// queue puts a delivery into its destination's due index.
func queue(tx *bbolt.Tx, dest string, due int64, id string) error {
	b, err := tx.Bucket(bDue).CreateBucketIfNotExists([]byte(dest))
	if err != nil {
		return fmt.Errorf("due bucket %q: %w", dest, err)
	}
	return appending(b).Put(timeKey(due, id), nil)
}

func unqueue(tx *bbolt.Tx, dest string, due int64, id string) error {
	b := tx.Bucket(bDue).Bucket([]byte(dest))
	if b == nil {
		return nil
	}
	return b.Delete(timeKey(due, id))
}
