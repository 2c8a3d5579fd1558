// Command forward is the end-to-end benchmark's baseline: a Fiber handler
// that validates the body with gjson like bare, then sends it to the sink
// with net/http (keep-alive) and answers once the sink has it. It stores
// nothing: two HTTP exchanges per lead and nothing else, the ceiling of
// what a gateway that delivers can do on the machine. scripts/bench.sh
// compares the gateway's accepted-and-delivered rate to it.
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tidwall/gjson"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8092", "address")
	sink := flag.String("sink", "http://127.0.0.1:8091/leads", "where each body goes")
	flag.Parse()
	// As many idle connections as wrk has connections: every request
	// reuses one instead of dialling.
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/hooks/:source", func(c *fiber.Ctx) error {
		body := c.Body()
		if !gjson.ValidBytes(body) {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "malformed body", "details": []any{}})
		}
		if gjson.GetBytes(body, `lead_details.#(lead_field=="email").lead_value`).String() == "" {
			return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": "email missing", "details": []any{}})
		}
		resp, err := client.Post(*sink, "application/json", bytes.NewReader(body))
		if err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "sink unreachable", "details": []any{}})
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "sink refused", "details": []any{}})
		}
		return c.JSON(fiber.Map{"message": "Successfully created", "lead_id": "6645f7c17aff889d10509de5"})
	})
	log.Fatal(app.Listen(*listen))
}
