package console

import (
	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/httperr"
	"leadgate/gateway/leadexport"
)

// exportLeads answers GET /ui/export/leads.csv?since=&until=&source=, the
// Events page's Export link: the lead export of GET /admin/leads.csv,
// written by the same function (leadexport.CSV) for a signed-in console.
func (c *Console) exportLeads(ctx *fiber.Ctx) error {
	return leadexport.CSV(ctx, c.opts.Store, c.opts.Now(), c.log)
}

// requireSignIn guards the export link with the session alone. The API's
// anti-forgery header cannot come with a plain link, and a plain link is
// what lets the browser save a large export to disk as it arrives instead
// of holding it in the page. The header is not needed there: the export
// only reads, the session cookie is SameSite=Strict (no other site's
// request carries it), and no other origin can read the answer.
func (c *Console) requireSignIn(ctx *fiber.Ctx) error {
	if !c.signedIn(ctx) {
		return &httperr.Error{Code: fiber.StatusUnauthorized, Msg: "sign in first",
			Details: []any{"open /ui/ and sign in with the admin keys"}}
	}
	return ctx.Next()
}
