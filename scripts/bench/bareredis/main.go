// Command bareredis is the Redis benchmark's baseline: a Fiber handler that
// validates the body with gjson like bare, then runs one small Lua script
// on Redis (a SET of a key named by the email, holding the body, expiring)
// and answers once Redis has it. One script per request on the same Redis
// as the gateway's Redis mode: the ceiling of a durable accept through
// Redis on the machine. scripts/bench.sh compares the gateway's Redis mode
// to it.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/tidwall/gjson"
)

// store keeps the body for ten minutes under the lead's key; the gateway's
// keys share one hash tag, so do these.
var store = redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1`)

func main() {
	listen := flag.String("listen", "127.0.0.1:8093", "address")
	url := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	flag.Parse()
	opt, err := redis.ParseURL(*url)
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/hooks/:source", func(c *fiber.Ctx) error {
		body := c.Body()
		if !gjson.ValidBytes(body) {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "malformed body", "details": []any{}})
		}
		email := gjson.GetBytes(body, `lead_details.#(lead_field=="email").lead_value`).String()
		if email == "" {
			return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"error": "email missing", "details": []any{}})
		}
		if err := store.Run(context.Background(), rdb, []string{"bench:{b}:" + email}, body, 600000).Err(); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "redis unavailable", "details": []any{}})
		}
		return c.JSON(fiber.Map{"message": "Successfully created", "lead_id": "6645f7c17aff889d10509de5"})
	})
	log.Fatal(app.Listen(*listen))
}
