package bolt

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// leadIDs mints lead ids in the layout of a MongoDB ObjectID, which Ledsak's
// ids are: a 4-byte Unix time in seconds, 5 random bytes fixed for the
// process and a 3-byte counter. Unlike lead.NewLeadID's 8 random bytes,
// ids minted within one second are consecutive, so a new lead appends to
// the leads bucket instead of dirtying a random page of it per request.
var leadIDs struct {
	once sync.Once
	proc [5]byte
	n    atomic.Uint32
}

func newLeadID() string {
	leadIDs.once.Do(func() {
		var seed [8]byte
		_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails since Go 1.24
		copy(leadIDs.proc[:], seed[:5])
		leadIDs.n.Store(binary.BigEndian.Uint32(seed[4:]))
	})
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	copy(b[4:9], leadIDs.proc[:])
	n := leadIDs.n.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
	return hex.EncodeToString(b[:])
}
