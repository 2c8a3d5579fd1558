package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"leadgate/config"
	"leadgate/gateway/ratelimit"
	"leadgate/gateway/redisurl"
	"leadgate/gateway/server"
	"leadgate/gateway/store"
	"leadgate/gateway/store/bolt"
	"leadgate/gateway/store/redisstore"
)

// backend is the store main opened with what goes with it, chosen here once
// rather than found out later by its users: the limiter of the same kind,
// and the capabilities only the Redis store has.
type backend struct {
	store   store.Store
	limiter ratelimit.Limiter
	// writeLimiter is set when the store checks the inbound limit inside
	// its own write (server.Options.WriteLimiter): the Redis store whose
	// keys share the limiter's hash tag. Nil for the embedded store.
	writeLimiter server.WriteLimiter
	// epoch is the Redis store's epoch, for the Redis guard that notices
	// a Redis that lost its data; nil for the embedded store.
	epoch epochStore
	close func()
}

// openBackend opens Redis when configured, else the embedded store, with the
// matching limiter.
func openBackend(ctx context.Context, cfg *config.Config, log *slog.Logger) (*backend, error) {
	if cfg.Redis.URL == "" {
		st, err := bolt.Open(cfg.Storage.DataDir, bolt.Options{Log: log})
		if err != nil {
			return nil, fmt.Errorf("open embedded store in %s: %w", cfg.Storage.DataDir, err)
		}
		return &backend{store: st, limiter: ratelimit.NewLocal(ratelimit.LocalOptions{}), close: func() { st.Close() }}, nil
	}
	redis.SetLogger(redisLogger{log})
	opt, err := redisurl.Parse(cfg.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	// One pool serves the store and the limiter. A Redis that is down at
	// start is not fatal: the gateway answers 503 and fails /readyz until it
	// is back, as it does when Redis goes away later.
	client := opt.NewClient()
	st := redisstore.New(client, redisstore.Options{Logger: log, MinReplicasAcked: cfg.Redis.MinReplicasAcked})
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.Ping(pctx); err != nil {
		log.Warn("redis unreachable at start; answering 503 until it is back", "error", err.Error())
	}
	lim := ratelimit.NewRedis(client, ratelimit.RedisOptions{})
	be := &backend{store: st, limiter: lim, epoch: st, close: func() { st.Close() }}
	if st.LimitsIngest() {
		be.writeLimiter = lim
	}
	return be, nil
}

// redisLogger routes go-redis's own messages (dial failures while Redis is
// away) into the gateway's structured log instead of raw stderr lines.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
