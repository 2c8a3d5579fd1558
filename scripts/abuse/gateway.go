package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"
)

// endpoints are the local servers the gateway under attack talks to.
type endpoints struct {
	sink               *sink
	sinkURL, gone, bad string
	// slow is the notify_url, which hangs; notices counts what it got.
	slow    string
	notices *atomic.Int64
}

// startEndpoints serves the recording sink, a destination answering 410,
// one answering 400 and a notify_url that hangs.
func startEndpoints() endpoints {
	ep := endpoints{sink: &sink{}, notices: new(atomic.Int64)}
	ep.sinkURL = serve(ep.sink)
	ep.gone = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusGone)
	}))
	ep.bad = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
	}))
	ep.slow = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		ep.notices.Add(1)
		select { // a notify_url that hangs: the gateway's notices must not pile up
		case <-time.After(20 * time.Second):
		case <-r.Context().Done():
		}
	}))
	return ep
}

// configTemplate is the gateway's config; writeConfig fills in the port,
// data dir, mappings dir, notify_url and the three destinations' URLs.
const configTemplate = `server:
  listen: "127.0.0.1:%d"
  body_limit: 1048576
  trusted_proxies: ["127.0.0.1"]
storage: {data_dir: %q}
redis: {url: ""}
mappings_dir: %q
notify_url: %q
rate_limit: {requests: 25, per: 5s}
admin: {access_key: "abuse-access", secret_key: "abuse-secret-0123456789"}
log: {level: error}
destinations:
  - name: sink
    url: %s/events
    events: [lead.created, lead.updated]
    sources: [website]
  - name: gone
    url: %s/hook
    events: [lead.created]
    sources: [save_lead]
    retry: {max_attempts: 1}
  - name: bad
    url: %s/hook
    events: [lead.created]
    sources: [save_lead]
    retry: {max_attempts: 1}
`

// writeConfig writes the gateway's config into tmp and answers its path.
func writeConfig(tmp, mappingsDir string, port int, ep endpoints) (string, error) {
	cfg := fmt.Sprintf(configTemplate, port, filepath.Join(tmp, "data"), mustAbs(mappingsDir), ep.slow+"/notify", ep.sinkURL, ep.gone, ep.bad)
	cfgPath := filepath.Join(tmp, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	return cfgPath, nil
}

// startGateway starts the gateway binary on cfgPath, with the mappings'
// tokens and Redis unset, and answers it and the buffer its output goes to.
func startGateway(bin, cfgPath string) (*exec.Cmd, *bytes.Buffer, error) {
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "WEBSITE_WEBHOOK_TOKEN=", "SAVE_LEAD_TOKEN=", "LEADSIE_WEBHOOK_TOKEN=", "REDIS_URL=")
	logs := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, logs, nil
}

// stopGateway interrupts the gateway and kills it when it has not ended
// after 10 seconds.
func stopGateway(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}
