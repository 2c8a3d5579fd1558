// Command bare is the benchmark's baseline: a Fiber handler that only
// validates the same body with gjson and answers like the gateway, storing
// nothing. scripts/bench.sh compares the gateway's durable accept path to it.
package main

import (
	"flag"
	"log"

	"github.com/gofiber/fiber/v2"
	"github.com/tidwall/gjson"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address")
	flag.Parse()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/hooks/:source", func(c *fiber.Ctx) error {
		body := c.Body()
		if !gjson.ValidBytes(body) {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "malformed body", "details": []any{}})
		}
		if gjson.GetBytes(body, `lead_details.#(lead_field=="email").lead_value`).String() == "" {
			return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": "email missing", "details": []any{}})
		}
		return c.JSON(fiber.Map{"message": "Successfully created", "lead_id": "6645f7c17aff889d10509de5"})
	})
	log.Fatal(app.Listen(*listen))
}
