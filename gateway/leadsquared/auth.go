package leadsquared

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/adminkeys"
	"leadgate/gateway/httperr"
	"leadgate/gateway/metrics"
	"leadgate/gateway/ratelimit"
)

// fail answers err in LeadSquared's error shape (httperr's LeadSquared
// variant). A 500 is logged with a reference the caller is given, and
// tells nothing else.
func (a *API) fail(c *fiber.Ctx, err error) error {
	var he *httperr.Error
	var fe *fieldError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &fe):
		he = &httperr.Error{Code: fiber.StatusBadRequest, Type: httperr.TypeInvalidInput, Msg: fe.Error()}
		if fe.Missing {
			he.Type = httperr.TypeMandatory
		}
	default:
		he = &httperr.Error{Code: fiber.StatusInternalServerError, Err: err}
	}
	var ref string
	if he.Code >= 500 {
		ref = reference()
		a.log.Error("leadsquared api call failed", "path", c.Path(), "ref", ref, "err", he.Err)
	}
	return c.Status(he.Code).JSON(he.LeadSquared(ref))
}

// reference is a short random id tying a 500 answer to its log line.
func reference() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// credentials reads the keys from the query, as LeadSquared sends them
// (parameter names matched in any case), or from LeadSquared's
// x-LSQ-AccessKey / x-LSQ-SecretKey headers.
func credentials(c *fiber.Ctx) (access, secret string) {
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		switch strings.ToLower(string(k)) {
		case "accesskey":
			access = string(v)
		case "secretkey":
			secret = string(v)
		}
	})
	if access == "" {
		access = c.Get("x-LSQ-AccessKey")
	}
	if secret == "" {
		secret = c.Get("x-LSQ-SecretKey")
	}
	return access, secret
}

// rateLimit admits at most a.limit calls per access key (the key as given,
// right or wrong, so guessing is limited too). When the shared limiter is
// unreachable the call goes through: the keys still guard the API and the
// store call that follows fails on its own if Redis is down.
func (a *API) rateLimit(c *fiber.Ctx) error {
	access, _ := credentials(c)
	sum := sha256.Sum256([]byte(access))
	key := "api:lsq:" + hex.EncodeToString(sum[:8])
	ctx, cancel := context.WithTimeout(context.Background(), limiterTimeout)
	defer cancel()
	d, err := a.limiter.Allow(ctx, key, a.limit)
	if err != nil {
		a.log.Warn("leadsquared api rate limiter unavailable; admitting", "err", err)
		return c.Next()
	}
	policy, remaining := ratelimit.Headers(d, "api")
	c.Set("RateLimit-Policy", policy)
	c.Set("RateLimit", remaining)
	if !d.Allowed {
		a.metrics.RateLimited.WithLabelValues(metrics.ScopeAPI).Inc()
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(ratelimit.RetryAfterSeconds(d)))
		return a.fail(c, &httperr.Error{Code: fiber.StatusTooManyRequests, Type: httperr.TypeRateLimited,
			Msg: fmt.Sprintf("API calls exceeded the limit of %d in %s", a.limit.Requests, perText(a.limit.Per))})
	}
	return c.Next()
}

// perText writes a window the way the seed does: "5 second(s)".
func perText(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d second(s)", int(d/time.Second))
	}
	return d.String()
}

// authed refuses a call without the admin keys before h runs.
func (a *API) authed(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		access, secret := credentials(c)
		cur := a.cur.Load()
		switch v, wait := a.guard.Check(c, cur.accessKey, cur.secretKey, access, secret); v {
		case adminkeys.Throttled:
			secs := adminkeys.RetryAfterSeconds(wait)
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
			return a.fail(c, &httperr.Error{Code: fiber.StatusTooManyRequests, Type: httperr.TypeRateLimited,
				Msg: fmt.Sprintf("Too many calls with invalid access credentials from this address. Retry after %d second(s).", secs)})
		case adminkeys.Denied:
			return a.fail(c, &httperr.Error{Code: fiber.StatusUnauthorized, Type: httperr.TypeUnauthorized,
				Msg: "The API call was made with invalid access credentials. Check your AccessKey and SecretKey."})
		}
		if err := h(c); err != nil {
			return a.fail(c, err)
		}
		return nil
	}
}
