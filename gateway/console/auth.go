package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/server"
)

// Session cookie and anti-forgery header. The cookie is HttpOnly and
// SameSite=Strict; the header is one more proof that a call comes from the
// console's own script (a cross-site form cannot set it).
const (
	CookieName = "leadgate_console"
	CSRFHeader = "X-Leadgate-Console"
)

// sessionTag separates the console's MACs from any other use of the key.
const sessionTag = "leadgate console session v1"

// mintSession returns a cookie value valid until exp: the expiry and an
// HMAC over it, keyed by the secret key and bound to the access key, so
// changing either key signs every console out.
func mintSession(access, secret string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + base64.RawURLEncoding.EncodeToString(sessionMAC(access, secret, e))
}

func sessionMAC(access, secret, exp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(sessionTag))
	m.Write([]byte{0})
	m.Write([]byte(access))
	m.Write([]byte{0})
	m.Write([]byte(exp))
	return m.Sum(nil)
}

// validSession checks a cookie value against the current keys and clock.
func validSession(access, secret, value string, now time.Time) bool {
	if access == "" || secret == "" {
		return false
	}
	e, sig, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || now.Unix() >= exp {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, sessionMAC(access, secret, e))
}

func (c *Console) signedIn(ctx *fiber.Ctx) bool {
	rt := c.runtime()
	return validSession(rt.AccessKey, rt.SecretKey, ctx.Cookies(CookieName), c.opts.Now())
}

// requireSession guards the console's API: a valid session cookie and the
// anti-forgery header.
func (c *Console) requireSession(ctx *fiber.Ctx) error {
	if !c.signedIn(ctx) {
		return &server.HTTPError{Code: fiber.StatusUnauthorized, Msg: "sign in first",
			Details: []any{"open /ui/ and sign in with the admin keys"}}
	}
	if ctx.Get(CSRFHeader) != "1" {
		return &server.HTTPError{Code: fiber.StatusForbidden, Msg: "console calls need the " + CSRFHeader + " header"}
	}
	return ctx.Next()
}

// requireKeys guards the /admin twins exactly as the admin API does.
func (c *Console) requireKeys(ctx *fiber.Ctx) error {
	rt := c.runtime()
	if !server.KeysMatch(rt.AccessKey, rt.SecretKey, ctx.Get("X-Access-Key"), ctx.Get("X-Secret-Key")) {
		return &server.HTTPError{Code: fiber.StatusUnauthorized, Msg: "admin keys missing or wrong",
			Details: []any{"send X-Access-Key and X-Secret-Key with the keys of admin in gateway.yaml"}}
	}
	return ctx.Next()
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
		c.log.Warn("console sign-in refused: keys in the URL", "request_id", server.RequestID(ctx), "remote_ip", c.opts.ClientIP(ctx))
		return c.renderLogin(ctx, fiber.StatusBadRequest,
			"Keys never go in the address: sign in with this form. Change the keys if that address was shared.")
	}
	if !server.KeysMatch(rt.AccessKey, rt.SecretKey, postedField(ctx, "access_key"), postedField(ctx, "secret_key")) {
		c.log.Info("console sign-in refused", "request_id", server.RequestID(ctx), "remote_ip", c.opts.ClientIP(ctx))
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
	c.log.Info("console sign-in", "request_id", server.RequestID(ctx), "remote_ip", c.opts.ClientIP(ctx))
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

// logout clears the cookie. Keys changed in gateway.yaml sign every session
// out without it.
func (c *Console) logout(ctx *fiber.Ctx) error {
	ctx.Cookie(&fiber.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/ui",
		Expires:  time.Unix(1, 0),
		HTTPOnly: true,
		Secure:   ctx.Secure(),
		SameSite: fiber.CookieSameSiteStrictMode,
	})
	return ctx.JSON(fiber.Map{"signed_out": true})
}
