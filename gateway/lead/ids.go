package lead

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// NewLeadID returns a lead id shaped like Ledsak's (a MongoDB ObjectID): 24
// lower-case hex characters, a 4-byte big-endian Unix time in seconds and 8
// random bytes, so ids sort roughly by creation and never collide in
// practice across replicas.
func NewLeadID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	_, _ = rand.Read(b[4:]) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// eventIDs keeps event ids of one process strictly increasing even within
// one millisecond, like a monotonic ULID.
var eventIDs struct {
	sync.Mutex
	ms  uint64
	rnd [10]byte
}

// NewEventID returns "evt_" and 32 lower-case hex characters: a 6-byte Unix
// time in milliseconds and 10 random bytes. Ids sort by time, and within one
// process they strictly increase (the random part is incremented when the
// millisecond repeats), so the store can use them as time-ordered keys.
func NewEventID() string {
	ms := uint64(time.Now().UnixMilli())
	var b [16]byte
	eventIDs.Lock()
	if ms <= eventIDs.ms {
		ms = eventIDs.ms
		increment(eventIDs.rnd[:])
	} else {
		eventIDs.ms = ms
		_, _ = rand.Read(eventIDs.rnd[:])
	}
	copy(b[6:], eventIDs.rnd[:])
	eventIDs.Unlock()
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], ms)
	copy(b[:6], t[2:])
	out := make([]byte, 4+32)
	copy(out, "evt_")
	hex.Encode(out[4:], b[:])
	return string(out)
}

// increment adds one to a big-endian number, wrapping at its width (after
// 2^80 ids in one millisecond).
func increment(b []byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}
