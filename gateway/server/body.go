package server

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// errUnsupportedEncoding is the parse of a body in a Content-Encoding the
// gateway does not unpack.
var errUnsupportedEncoding = errors.New("unsupported content encoding")

// requestBody is the inbound request's body: as sent, or unpacked from gzip
// or deflate reading at most limit+1 bytes, so that a small compressed body
// cannot unpack into gigabytes before the size check. Fiber's c.Body()
// would unpack it whole, whatever its size, so the inbound route never
// calls it. tooLarge reports a body, unpacked, over limit; err a body in
// another encoding (errUnsupportedEncoding) or one that does not unpack.
// The body returned is the handler's own copy: fasthttp reuses its buffer.
func requestBody(c *fiber.Ctx, limit int) (body []byte, tooLarge bool, err error) {
	raw := c.Request().Body()
	enc := strings.ToLower(strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)))
	var r io.Reader
	switch enc {
	case "", "identity":
		if len(raw) > limit {
			return nil, true, nil
		}
		return bytes.Clone(raw), false, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, false, fmt.Errorf("content-encoding %s: %w", enc, err)
		}
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, false, fmt.Errorf("content-encoding %s: %w", enc, err)
		}
		r = zr
	default:
		return nil, false, fmt.Errorf("%w %q: send the body as is, gzip or deflate", errUnsupportedEncoding, enc)
	}
	body, err = io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, false, fmt.Errorf("content-encoding %s: %w", enc, err)
	}
	if len(body) > limit {
		return nil, true, nil
	}
	return body, false, nil
}
