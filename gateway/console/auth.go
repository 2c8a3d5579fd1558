package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/adminkeys"
	"leadgate/gateway/httperr"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/requestid"
)

// Session cookie and anti-forgery header. The cookie is HttpOnly and
// SameSite=Strict; the header is one more proof that a call comes from the
// console's own script (a cross-site form cannot set it).
const (
	CookieName = "leadgate_console"
	CSRFHeader = "X-Leadgate-Console"
)

// sessionTag separates the console's MACs from any other use of the key.
const sessionTag = "leadgate console session v2"

// mintSession returns a cookie value valid until exp: the expiry, a random
// session id and an HMAC over both, keyed by the secret key and bound to
// the access key, so changing either key signs every console out. The id
// is what a sign-out revokes on the server.
func mintSession(access, secret string, exp time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	e := strconv.FormatInt(exp.Unix(), 10)
	id := base64.RawURLEncoding.EncodeToString(b[:])
	return e + "." + id + "." + base64.RawURLEncoding.EncodeToString(sessionMAC(access, secret, e, id))
}

func sessionMAC(access, secret, exp, id string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(sessionTag))
	m.Write([]byte{0})
	m.Write([]byte(access))
	m.Write([]byte{0})
	m.Write([]byte(exp))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return m.Sum(nil)
}

// validSession checks a cookie value against the current keys and clock
// and returns its session id; a revoked id is the caller's to check.
func validSession(access, secret, value string, now time.Time) (id string, ok bool) {
	if access == "" || secret == "" {
		return "", false
	}
	e, rest, ok := strings.Cut(value, ".")
	if !ok {
		return "", false
	}
	id, sig, ok := strings.Cut(rest, ".")
	if !ok || id == "" {
		return "", false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, sessionMAC(access, secret, e, id)) {
		return "", false
	}
	return id, true
}

// signoutKey is the limiter key that marks session id as signed out.
func signoutKey(id string) string { return "console-signout:" + id }

// session returns the request's session id when it carries a valid session
// cookie that was not signed out.
//
// Sign-outs are kept in the gateway's limiter, with Redis the one every
// replica shares: a sign-out is one admission under the session's key in a
// window of SessionTTL with a limit of one, so a session is signed out
// exactly while its window is full. Each key expires with its window (a
// session lives no longer), so the set stays bounded by the sign-outs of
// one SessionTTL. When the limiter cannot be asked, the session is refused:
// a cookie that may have been signed out is not honoured.
func (c *Console) session(ctx *fiber.Ctx) (string, bool) {
	rt := c.runtime()
	id, ok := validSession(rt.AccessKey, rt.SecretKey, ctx.Cookies(CookieName), c.opts.Now())
	if !ok {
		return "", false
	}
	lctx, cancel := context.WithTimeout(context.Background(), limiterTimeout)
	defer cancel()
	d, err := c.opts.Limiter.Peek(lctx, signoutKey(id), c.signoutLimit())
	if err != nil {
		c.log.Warn("console session refused: sign-outs unavailable", "request_id", requestid.Get(ctx), "error", err.Error())
		return "", false
	}
	return id, d.Allowed
}

func (c *Console) signoutLimit() ratelimit.Limit {
	return ratelimit.Limit{Requests: 1, Per: c.opts.SessionTTL}
}

// limiterTimeout bounds a sign-out check or record.
const limiterTimeout = 2 * time.Second

func (c *Console) signedIn(ctx *fiber.Ctx) bool {
	_, ok := c.session(ctx)
	return ok
}

// requireSession guards the console's API: a valid session cookie and the
// anti-forgery header.
func (c *Console) requireSession(ctx *fiber.Ctx) error {
	if !c.signedIn(ctx) {
		return &httperr.Error{Code: fiber.StatusUnauthorized, Msg: "sign in first",
			Details: []any{"open /ui/ and sign in with the admin keys"}}
	}
	if ctx.Get(CSRFHeader) != "1" {
		return &httperr.Error{Code: fiber.StatusForbidden, Msg: "console calls need the " + CSRFHeader + " header"}
	}
	return ctx.Next()
}

// requireKeys guards the /admin twins exactly as the admin API does,
// slowdown included.
func (c *Console) requireKeys(ctx *fiber.Ctx) error {
	rt := c.runtime()
	switch v, wait := c.opts.Guard.Check(ctx, rt.AccessKey, rt.SecretKey, ctx.Get("X-Access-Key"), ctx.Get("X-Secret-Key")); v {
	case adminkeys.Granted:
		return ctx.Next()
	case adminkeys.Throttled:
		return &httperr.Error{Code: fiber.StatusTooManyRequests, Msg: "too many wrong admin keys",
			Details: []any{"wait for Retry-After before trying again"}, RetryAfter: adminkeys.RetryAfterSeconds(wait)}
	}
	return &httperr.Error{Code: fiber.StatusUnauthorized, Msg: "admin keys missing or wrong",
		Details: []any{"send X-Access-Key and X-Secret-Key with the keys of admin in gateway.yaml"}}
}

var loginPage = template.Must(template.ParseFS(assetsFS, "assets/login.html"))

type loginView struct {
	Error string
}

// index serves the console to a signed-in browser and the sign-in form to
// anyone else.
func (c *Console) index(ctx *fiber.Ctx) error {
	if !c.signedIn(ctx) {
		return c.renderLogin(ctx, fiber.StatusOK, "")
	}
	page, err := assetsFS.ReadFile("assets/index.html")
	if err != nil {
		return err
	}
	ctx.Type("html", "utf-8")
	return ctx.Send(page)
}

func (c *Console) renderLogin(ctx *fiber.Ctx, code int, msg string) error {
	var b bytes.Buffer
	if err := loginPage.Execute(&b, loginView{Error: msg}); err != nil {
		return err
	}
	ctx.Type("html", "utf-8")
	return ctx.Status(code).Send(b.Bytes())
}

// login checks the posted keys once, in constant time, and sets the session
// cookie. The keys are read from the form body only and are neither logged
// nor echoed; a request with keys in its URL is refused, since URLs end up
// in history, proxy logs and Referer headers. Wrong keys get the form again.
func (c *Console) login(ctx *fiber.Ctx) error {
	rt := c.runtime()
	if rt.AccessKey == "" || rt.SecretKey == "" {
		return c.renderLogin(ctx, fiber.StatusUnauthorized,
			"The console is off: set admin.access_key and admin.secret_key in gateway.yaml.")
	}
	if keysInQuery(ctx) {
		c.log.Warn("console sign-in refused: keys in the URL", "request_id", requestid.Get(ctx), "remote_ip", c.opts.ClientIP(ctx))
		return c.renderLogin(ctx, fiber.StatusBadRequest,
			"Keys never go in the address: sign in with this form. Change the keys if that address was shared.")
	}
	switch v, wait := c.opts.Guard.Check(ctx, rt.AccessKey, rt.SecretKey, postedField(ctx, "access_key"), postedField(ctx, "secret_key")); v {
	case adminkeys.Throttled:
		secs := adminkeys.RetryAfterSeconds(wait)
		c.log.Warn("console sign-in slowed down: too many wrong keys", "request_id", requestid.Get(ctx), "remote_ip", c.opts.ClientIP(ctx))
		ctx.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return c.renderLogin(ctx, fiber.StatusTooManyRequests,
			"Too many wrong keys from your address. Try again in "+strconv.Itoa(secs)+" seconds.")
	case adminkeys.Denied:
		c.log.Info("console sign-in refused", "request_id", requestid.Get(ctx), "remote_ip", c.opts.ClientIP(ctx))
		return c.renderLogin(ctx, fiber.StatusUnauthorized, "Those keys are not right. Try again.")
	}
	exp := c.opts.Now().Add(c.opts.SessionTTL)
	ctx.Cookie(&fiber.Cookie{
		Name:     CookieName,
		Value:    mintSession(rt.AccessKey, rt.SecretKey, exp),
		Path:     "/ui",
		Expires:  exp,
		HTTPOnly: true,
		Secure:   ctx.Secure(),
		SameSite: fiber.CookieSameSiteStrictMode,
	})
	c.log.Info("console sign-in", "request_id", requestid.Get(ctx), "remote_ip", c.opts.ClientIP(ctx))
	return ctx.Redirect("/ui/", fiber.StatusSeeOther)
}

// postedField reads a field of the POST body only, URL-encoded or
// multipart. ctx.FormValue would not do: fasthttp looks in the query string
// first.
func postedField(ctx *fiber.Ctx, name string) string {
	if v := ctx.Request().PostArgs().Peek(name); v != nil {
		return string(v)
	}
	if form, err := ctx.MultipartForm(); err == nil && len(form.Value[name]) > 0 {
		return form.Value[name][0]
	}
	return ""
}

// keysInQuery reports whether the URL carries a sign-in key under any
// spelling (access_key, accessKey, secret-key…).
func keysInQuery(ctx *fiber.Ctx) bool {
	found := false
	ctx.Request().URI().QueryArgs().VisitAll(func(k, _ []byte) {
		n := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(string(k)))
		found = found || n == "accesskey" || n == "secretkey"
	})
	return found
}

// logout ends the session on the server (every replica refuses its cookie
// from now on, see session) and clears the cookie. Keys changed in
// gateway.yaml sign every session out without it. When the sign-out cannot
// be recorded the cookie is kept and the call answers 503, so the browser
// can try again rather than believe it signed out.
func (c *Console) logout(ctx *fiber.Ctx) error {
	id, ok := c.session(ctx)
	if ok {
		lctx, cancel := context.WithTimeout(context.Background(), limiterTimeout)
		defer cancel()
		if _, err := c.opts.Limiter.Allow(lctx, signoutKey(id), c.signoutLimit()); err != nil {
			return &httperr.Error{Code: fiber.StatusServiceUnavailable, Msg: "sign-out not recorded, retry later",
				RetryAfter: 1, Err: err}
		}
	}
	ctx.Cookie(&fiber.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/ui",
		Expires:  time.Unix(1, 0),
		HTTPOnly: true,
		Secure:   ctx.Secure(),
		SameSite: fiber.CookieSameSiteStrictMode,
	})
	c.log.Info("console sign-out", "request_id", requestid.Get(ctx), "remote_ip", c.opts.ClientIP(ctx))
	return ctx.JSON(fiber.Map{"signed_out": true})
}
