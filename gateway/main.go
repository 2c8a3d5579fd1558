// Command gateway is Leadgate: a self-hosted integration gateway for lead
// webhooks. With no subcommand it serves; `validate` checks the config and
// every mapping; `map` previews the events a payload would produce; `test`
// runs each mapping's fixtures against their golden files.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"leadgate/gateway/metrics"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run dispatches the subcommand and returns the process's exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "validate":
		return validate(args, stdout, stderr)
	case "map":
		return mapPayload(args, stdin, stdout, stderr)
	case "test":
		return testFixtures(args, stdout, stderr)
	case "compact":
		return compact(args, stdout, stderr)
	case "version":
		v, r := metrics.Build()
		fmt.Fprintf(stdout, "leadgate %s (%s)\n", v, r)
		return 0
	default:
		fmt.Fprintf(stderr, "gateway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

const usage = `usage:
  gateway [-config FILE] [-log-format json|text]        serve (the default)
  gateway validate [-config FILE]                       check the config and every mapping
  gateway map -source NAME [-config FILE] [-query 'k=v&…'] [-header 'K: V']… < payload
                                                        print the events a payload would produce
  gateway test [-config FILE] [SOURCE…]                 run each mapping's fixtures against their goldens
  gateway compact [-config FILE]                        offline: shrink the embedded store's file
  gateway version

-config defaults to $GATEWAY_CONFIG, else ./gateway.yaml.
`

// defaultConfig is the config file used when -config is not given.
func defaultConfig() string {
	if p := os.Getenv("GATEWAY_CONFIG"); p != "" {
		return p
	}
	return "gateway.yaml"
}
