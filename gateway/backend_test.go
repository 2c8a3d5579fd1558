package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"leadgate/config"
	"leadgate/gateway/redistest"
)

// TestOpenBackendChoosesTheWriteLimit: main decides once, when it opens
// the store, whether the inbound limit is checked inside the store's
// write: with Redis (whose keys share the limiter's hash tag) it is, and
// the Redis guard gets the store's epoch; the embedded store has neither.
func TestOpenBackendChoosesTheWriteLimit(t *testing.T) {
	tests := []struct {
		name      string
		cfg       func(t *testing.T) *config.Config
		wantRedis bool
	}{
		{"embedded", func(t *testing.T) *config.Config {
			return &config.Config{Storage: config.Storage{DataDir: t.TempDir()}}
		}, false},
		{"redis", func(t *testing.T) *config.Config {
			return &config.Config{Redis: config.Redis{URL: redistest.Start(t).URL()}}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be, err := openBackend(context.Background(), tt.cfg(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatalf("openBackend: %v", err)
			}
			defer be.close()
			if be.store == nil || be.limiter == nil {
				t.Fatalf("backend %+v without its store or limiter", be)
			}
			if got := be.writeLimiter != nil; got != tt.wantRedis {
				t.Errorf("limit in the store's write = %v, want %v", got, tt.wantRedis)
			}
			if got := be.epoch != nil; got != tt.wantRedis {
				t.Errorf("Redis guard's epoch set = %v, want %v", got, tt.wantRedis)
			}
		})
	}
}
