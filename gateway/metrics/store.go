package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// StoreMetrics are the durable store's size, retention and health.
type StoreMetrics struct {
	// Bytes is the embedded store's file size, or Redis's used_memory.
	Bytes prometheus.Gauge
	// EventsSwept counts events retention removed.
	EventsSwept prometheus.Counter
	// Resets counts Redis found emptied under the running gateway.
	Resets prometheus.Counter
	// redisConfigOK has no labels; it is a vector so that the series
	// exists only once SetRedisConfigOK is called: the embedded store has
	// no Redis to judge, and a 0 there would raise the alert.
	redisConfigOK *prometheus.GaugeVec
}

// SetRedisConfigOK sets gateway_redis_config_ok: 1 when Redis has AOF on
// and maxmemory-policy noeviction, 0 when not, -1 when they cannot be read.
func (m *StoreMetrics) SetRedisConfigOK(v float64) { m.redisConfigOK.WithLabelValues().Set(v) }

func newStoreMetrics(f promauto.Factory) *StoreMetrics {
	return &StoreMetrics{
		Bytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_store_bytes",
			Help: "Bytes the store takes: the embedded store's file size, or Redis's used_memory.",
		}),
		EventsSwept: f.NewCounter(prometheus.CounterOpts{
			Name: "gateway_events_swept_total",
			Help: "Finished events (with their attempts and dead letters) removed by storage.retention.",
		}),
		Resets: f.NewCounter(prometheus.CounterOpts{
			Name: "gateway_store_resets_total",
			Help: "Times Redis was found emptied (restarted without persistence, flushed, evicted) under the running gateway.",
		}),
		redisConfigOK: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_redis_config_ok",
			Help: "1 when Redis has appendonly yes and maxmemory-policy noeviction, 0 when not, -1 when the gateway cannot read them; absent on the embedded store.",
		}, nil),
	}
}

// RedisConfigOKGauge is gateway_redis_config_ok's series, created if it
// was not set yet; for tests.
func (m *StoreMetrics) RedisConfigOKGauge() prometheus.Gauge {
	return m.redisConfigOK.WithLabelValues()
}
