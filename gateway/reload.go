package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"leadgate/config"
	"leadgate/gateway/metrics"
)

// reload loads the config and mappings again and swaps them in only when
// they validate; a bad edit is logged and counted and the running config
// stays. It returns the new load, or nil.
func (g *gateway) reload(why string) *loaded {
	l, err := load(g.path)
	if err != nil {
		g.metrics.ConfigReloads.WithLabelValues(metrics.ResultFailure).Inc()
		g.log.Error("reload failed; keeping the running config", "trigger", why, "error", err.Error())
		return nil
	}
	g.mu.Lock()
	old := g.current.cfg
	g.current = l
	g.applyLocked()
	g.mu.Unlock()
	// Outside g.mu: SetSettings may call setSubscriptions, which takes it.
	g.disp.SetNotifyURL(l.cfg.NotifyURL)
	g.lsq.SetSettings(subscriptionSettings(l.cfg))
	for _, key := range restartOnly(old, l.cfg) {
		g.log.Warn("changed key needs a restart to take effect", "key", key)
	}
	g.metrics.ConfigReloads.WithLabelValues(metrics.ResultSuccess).Inc()
	g.log.Info("config reloaded", "trigger", why, "mappings", l.mappings.Names(), "destinations", len(l.destinations))
	g.warnUnauthenticated(l)
	return l
}

// restartOnly names the keys a reload cannot change.
func restartOnly(old, cur *config.Config) []string {
	var keys []string
	if old.Server.Listen != cur.Server.Listen {
		keys = append(keys, "server.listen")
	}
	if old.Server.BodyLimit < cur.Server.BodyLimit {
		keys = append(keys, "server.body_limit (raised)")
	}
	if old.Server.MetricsListen != cur.Server.MetricsListen {
		keys = append(keys, "server.metrics_listen")
	}
	if !slices.Equal(old.Server.TrustedProxies, cur.Server.TrustedProxies) {
		keys = append(keys, "server.trusted_proxies")
	}
	if old.Server.ProxyHeader != cur.Server.ProxyHeader {
		keys = append(keys, "server.proxy_header")
	}
	if old.Storage.DataDir != cur.Storage.DataDir {
		keys = append(keys, "storage.data_dir")
	}
	if old.Redis.URL != cur.Redis.URL {
		keys = append(keys, "redis.url")
	}
	if old.Server.ShutdownGrace != cur.Server.ShutdownGrace {
		keys = append(keys, "server.shutdown_grace")
	}
	if old.Log != cur.Log {
		keys = append(keys, "log")
	}
	return keys
}

// watch reloads on SIGHUP and on edits of gateway.yaml or a mapping file.
// Editors save by rename, so the folders are watched, not the files.
func (g *gateway) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	w, err := fsnotify.NewWatcher()
	var watched []string
	if err != nil {
		g.log.Warn("file watching off; reload with SIGHUP", "error", err.Error())
	} else {
		defer w.Close()
		g.mu.Lock()
		mappings := g.current.cfg.MappingsDir
		g.mu.Unlock()
		watched = g.watchDirs(w, nil, mappings)
	}
	var events chan fsnotify.Event
	var errs chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	// A reload may have moved mappings_dir: watch the new folder.
	rewatch := func(l *loaded) {
		if w != nil && l != nil {
			watched = g.watchDirs(w, watched, l.cfg.MappingsDir)
		}
	}
	const settle = 250 * time.Millisecond // editors write in bursts
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			rewatch(g.reload("sighup"))
		case ev := <-events:
			if !g.relevant(ev.Name) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(settle)
			} else {
				timer.Reset(settle)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			rewatch(g.reload("file change"))
		case err := <-errs:
			g.log.Warn("file watcher", "error", err.Error())
		}
	}
}

// watchDirs makes w watch the config file's folder and the mappings
// folder, and forget a mappings folder it watched before that is neither;
// it returns the folders watched now. One that cannot be watched is logged
// and tried again after the next reload.
func (g *gateway) watchDirs(w *fsnotify.Watcher, watched []string, mappings string) []string {
	want := []string{filepath.Clean(filepath.Dir(g.path)), filepath.Clean(mappings)}
	for _, d := range watched {
		if !slices.Contains(want, d) {
			_ = w.Remove(d) // gone already, or no longer ours: nothing to do
		}
	}
	var now []string
	for _, d := range want {
		if slices.Contains(now, d) {
			continue
		}
		if !slices.Contains(watched, d) {
			if err := w.Add(d); err != nil {
				g.log.Warn("cannot watch folder; reload with SIGHUP", "dir", d, "error", err.Error())
				continue
			}
		}
		now = append(now, d)
	}
	return now
}

func (g *gateway) relevant(name string) bool {
	abs, _ := filepath.Abs(name)
	cfgAbs, _ := filepath.Abs(g.path)
	if abs == cfgAbs {
		return true
	}
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml" || ext == ".tmpl"
}
