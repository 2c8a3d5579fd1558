// Package requestid gives every request an id: the caller's own in
// X-Request-Id when it is safe to log, else one the gateway makes. The
// server sets it first thing; every handler mounted on the server (the
// console, the LeadSquared API, the lead export) logs the same id the
// gateway answers, so one grep finds a request's every line.
package requestid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// Header carries a request's id in and out.
const Header = "X-Request-Id"

// localKey is the fiber.Ctx local holding the id.
const localKey = "request_id"

// made makes ids cheaply: a random per-process prefix and a counter,
// unique without a syscall per request.
var made struct {
	prefix [6]byte
	n      atomic.Uint64
}

func init() {
	rand.Read(made.prefix[:])
}

// Middleware gives every request an id (Set) before the next handler, for
// the log lines of the request and of its events' deliveries.
func Middleware(c *fiber.Ctx) error {
	Set(c)
	return c.Next()
}

// Set keeps the caller's id when safe, else makes one, and sets it on the
// response. The server's error handler calls it for a request fasthttp
// refused before Middleware ran.
func Set(c *fiber.Ctx) {
	id := c.Get(Header)
	if !safe(id) {
		var b [14]byte
		copy(b[:6], made.prefix[:])
		binary.BigEndian.PutUint64(b[6:], made.n.Add(1))
		id = hex.EncodeToString(b[:])
	} else {
		id = string([]byte(id)) // c.Get aliases a buffer fasthttp reuses
	}
	c.Locals(localKey, id)
	c.Set(Header, id)
}

// Get returns the request's id, "" before Set.
func Get(c *fiber.Ctx) string {
	id, _ := c.Locals(localKey).(string)
	return id
}

// safe admits ids of 1 to 64 letters, digits, '-', '_' and '.', so a
// caller's id cannot forge log lines.
func safe(id string) bool {
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
