// Package redisurl reads redis.url, the one place that knows its forms: a
// single server, a Sentinel set or a Cluster. config validates a URL with
// Parse, and the gateway builds its client from the same Parse, so a URL
// that validates is one the gateway can connect with.
//
//	redis://[user:password@]host:port[/db][?option=value…]       one server
//	rediss://…                                                    the same over TLS
//	redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=NAME[&option=value…]
//	rediss-sentinel://…                                           the same over TLS
//	redis-cluster://[user:password@]host:port[,host:port…][?option=value…]
//	rediss-cluster://…                                            the same over TLS
//
// A Sentinel URL lists the Sentinels (any number, one reachable is enough)
// and names the monitored master; the user and password are the data
// nodes' (Sentinels with their own password take sentinel_username and
// sentinel_password). A Cluster URL lists seed nodes (one reachable is
// enough; the client discovers the others) and has no database number.
// Options are go-redis's, in snake case: pool_size, dial_timeout,
// read_timeout, max_retries… An unknown option is an error.
package redisurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Kind is the topology a URL names.
type Kind string

const (
	Single   Kind = "single"
	Sentinel Kind = "sentinel"
	Cluster  Kind = "cluster"
)

// Options is a parsed redis.url: exactly one of its option sets is non-nil,
// the one of Kind.
type Options struct {
	Kind     Kind
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// Parse reads a redis.url. Its errors never quote the URL, which may hold a
// password.
func Parse(raw string) (*Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	base, kind, _ := strings.Cut(u.Scheme, "-")
	if base != "redis" && base != "rediss" {
		return nil, errors.New("must start with redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://")
	}
	if u.Host == "" {
		return nil, errors.New("has no host")
	}
	switch kind {
	case "":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, clean(err)
		}
		return &Options{Kind: Single, single: o}, nil
	case "sentinel":
		return parseSentinel(u, base)
	case "cluster":
		return parseCluster(u, base)
	}
	return nil, fmt.Errorf("unknown scheme %q: want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster", u.Scheme)
}

// hosts splits the comma-separated host list of a Sentinel or Cluster URL.
func hosts(u *url.URL) ([]string, error) {
	list := strings.Split(u.Host, ",")
	for _, h := range list {
		if h == "" || strings.HasPrefix(h, ":") {
			return nil, errors.New("has an empty host in its list")
		}
	}
	return list, nil
}

func parseSentinel(u *url.URL, base string) (*Options, error) {
	addrs, err := hosts(u)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	master := q.Get("master")
	if master == "" {
		return nil, errors.New("a Sentinel URL needs ?master=NAME, the name the Sentinels monitor")
	}
	for _, k := range []string{"master_name", "addr", "username", "password"} {
		if q.Has(k) {
			return nil, fmt.Errorf("option %s: not allowed, it is part of the URL (master=, the host list, the user info)", k)
		}
	}
	// go-redis's failover URL: the Sentinels' credentials in the user
	// info, the data nodes' as options, more Sentinels as addr=.
	g := url.Values{}
	for k, v := range q {
		switch k {
		case "master", "sentinel_username", "sentinel_password":
		default:
			g[k] = v
		}
	}
	g.Set("master_name", master)
	for _, a := range addrs[1:] {
		g.Add("addr", a)
	}
	if u.User != nil {
		g.Set("username", u.User.Username())
		if p, ok := u.User.Password(); ok {
			g.Set("password", p)
		}
	}
	gu := url.URL{Scheme: base, Host: addrs[0], Path: u.Path, RawQuery: g.Encode()}
	if q.Has("sentinel_username") || q.Has("sentinel_password") {
		gu.User = url.UserPassword(q.Get("sentinel_username"), q.Get("sentinel_password"))
	}
	o, err := redis.ParseFailoverURL(gu.String())
	if err != nil {
		return nil, clean(err)
	}
	return &Options{Kind: Sentinel, failover: o}, nil
}

func parseCluster(u *url.URL, base string) (*Options, error) {
	addrs, err := hosts(u)
	if err != nil {
		return nil, err
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, errors.New("a Cluster has only database 0; drop the /db from the URL")
	}
	q := u.Query()
	if q.Has("addr") {
		return nil, errors.New("option addr: not allowed, list the nodes in the host part (h1:7000,h2:7001)")
	}
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	gu := url.URL{Scheme: base, User: u.User, Host: addrs[0], RawQuery: q.Encode()}
	o, err := redis.ParseClusterURL(gu.String())
	if err != nil {
		return nil, clean(err)
	}
	return &Options{Kind: Cluster, cluster: o}, nil
}

// clean drops what quotes the URL (url.Error does, password included)
// and go-redis's "redis: " prefix.
func clean(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(strings.TrimPrefix(err.Error(), "redis: "))
}

// NewClient makes the client: a *redis.Client for one server, a
// *redis.Client that asks the Sentinels for the master (and follows a
// failover) for a Sentinel set, a *redis.ClusterClient for a Cluster.
func (o *Options) NewClient() redis.UniversalClient {
	switch o.Kind {
	case Sentinel:
		return redis.NewFailoverClient(o.failover)
	case Cluster:
		return redis.NewClusterClient(o.cluster)
	default:
		return redis.NewClient(o.single)
	}
}

// Addrs are the addresses the URL names: the server, the Sentinels or the
// Cluster's seed nodes.
func (o *Options) Addrs() []string {
	switch o.Kind {
	case Sentinel:
		return o.failover.SentinelAddrs
	case Cluster:
		return o.cluster.Addrs
	default:
		return []string{o.single.Addr}
	}
}
