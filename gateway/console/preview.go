package console

import (
	"encoding/json"
	"errors"

	"github.com/gofiber/fiber/v2"

	"leadgate/gateway/deliver"
	"leadgate/gateway/httperr"
	"leadgate/gateway/mapping"
)

// previewRequest is the playground's (and POST /admin/preview's) body. The
// payload is a string so that forms and text bodies can be tried as sent.
type previewRequest struct {
	Source  string            `json:"source"`
	Mapping string            `json:"mapping"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// previewAnswer carries either a result or the problems; both are a 200,
// since problems are what the playground is for.
type previewAnswer struct {
	OK       bool                   `json:"ok"`
	Result   *mapping.PreviewResult `json:"result,omitempty"`
	Problems []mapping.Problem      `json:"problems"`
}

func (c *Console) preview(ctx *fiber.Ctx) error {
	var req previewRequest
	if err := json.Unmarshal(ctx.Request().Body(), &req); err != nil {
		return &httperr.Error{Code: fiber.StatusBadRequest, Msg: "malformed body",
			Details: []any{`want {"source", "mapping", "query", "headers", "body"}`}}
	}
	rt := c.runtime()
	res, err := mapping.Preview(rt.Mappings, req.Source, req.Mapping, req.Query, req.Headers, []byte(req.Body))
	if err == nil {
		res.Answering(deliver.Destinations(rt.Destinations))
	}
	if err != nil {
		var pe *mapping.PreviewError
		if !errors.As(err, &pe) {
			return err
		}
		return ctx.JSON(previewAnswer{Problems: pe.Problems})
	}
	return ctx.JSON(previewAnswer{OK: true, Result: &res, Problems: []mapping.Problem{}})
}
