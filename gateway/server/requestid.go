package server

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID carries a request's id in and out: a caller's own id is
// kept when it is safe to log, else the gateway makes one.
const HeaderRequestID = "X-Request-Id"

// requestIDKey is the fiber.Ctx local holding the id.
const requestIDKey = "request_id"

// requestIDs makes ids cheaply: a random per-process prefix and a counter,
// unique without a syscall per request.
var requestIDs struct {
	prefix [6]byte
	n      atomic.Uint64
}

func init() {
	rand.Read(requestIDs.prefix[:])
}

// withRequestID gives every request an id, answers it in X-Request-Id and
// keeps it for the log lines of the request and of its events' deliveries.
func withRequestID(c *fiber.Ctx) error {
	setRequestID(c)
	return c.Next()
}

// setRequestID keeps the caller's id when safe, else makes one, and sets
// it on the response.
func setRequestID(c *fiber.Ctx) {
	id := c.Get(HeaderRequestID)
	if !safeID(id) {
		var b [14]byte
		copy(b[:6], requestIDs.prefix[:])
		binary.BigEndian.PutUint64(b[6:], requestIDs.n.Add(1))
		id = hex.EncodeToString(b[:])
	} else {
		id = string([]byte(id)) // c.Get aliases a buffer fasthttp reuses
	}
	c.Locals(requestIDKey, id)
	c.Set(HeaderRequestID, id)
}

// requestID returns the request's id, "" outside withRequestID.
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDKey).(string)
	return id
}

// RequestID returns the request's id, "" outside withRequestID, so the
// handlers other packages mount log the same id the gateway answers.
func RequestID(c *fiber.Ctx) string { return requestID(c) }

// safeID admits ids of 1 to 64 letters, digits, '-', '_' and '.', so a
// caller's id cannot forge log lines.
func safeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}
