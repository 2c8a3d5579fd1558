package redisurl

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseForms(t *testing.T) {
	tests := []struct {
		url   string
		kind  Kind
		addrs []string
		check func(t *testing.T, o *Options)
	}{
		{"redis://127.0.0.1:6379/2", Single, []string{"127.0.0.1:6379"}, func(t *testing.T, o *Options) {
			if o.single.DB != 2 {
				t.Errorf("db = %d, want 2", o.single.DB)
			}
		}},
		{"rediss://u:p@r.example:6380?pool_size=7", Single, []string{"r.example:6380"}, func(t *testing.T, o *Options) {
			if o.single.TLSConfig == nil || o.single.Username != "u" || o.single.Password != "p" || o.single.PoolSize != 7 {
				t.Errorf("options = %+v", o.single)
			}
		}},
		{"redis-sentinel://:secret@s1:26379,s2:26380,s3:26381/1?master=mymaster&dial_timeout=2s&sentinel_password=sp",
			Sentinel, []string{"s1:26379", "s2:26380", "s3:26381"}, func(t *testing.T, o *Options) {
				f := o.failover
				if f.MasterName != "mymaster" || f.DB != 1 || f.Password != "secret" || f.SentinelPassword != "sp" || f.DialTimeout != 2*time.Second || f.TLSConfig != nil {
					t.Errorf("options = %+v", f)
				}
			}},
		{"rediss-sentinel://s1:26379?master=m", Sentinel, []string{"s1:26379"}, func(t *testing.T, o *Options) {
			if o.failover.TLSConfig == nil || o.failover.Password != "" {
				t.Errorf("options = %+v", o.failover)
			}
		}},
		{"redis-cluster://u:pw@c1:7000,c2:7001,c3:7002?read_timeout=1s", Cluster, []string{"c1:7000", "c2:7001", "c3:7002"}, func(t *testing.T, o *Options) {
			c := o.cluster
			if c.Username != "u" || c.Password != "pw" || c.ReadTimeout != time.Second || c.TLSConfig != nil {
				t.Errorf("options = %+v", c)
			}
		}},
		{"rediss-cluster://c1:7000/0", Cluster, []string{"c1:7000"}, func(t *testing.T, o *Options) {
			if o.cluster.TLSConfig == nil {
				t.Error("no TLS")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			o, err := Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if o.Kind != tt.kind {
				t.Fatalf("kind = %s, want %s", o.Kind, tt.kind)
			}
			if got := o.Addrs(); !slices.Equal(got, tt.addrs) {
				t.Errorf("addrs = %q, want %q", got, tt.addrs)
			}
			tt.check(t, o)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://h:1", "must start with redis://"},
		{"redis-foo://h:1", `unknown scheme "redis-foo"`},
		{"redis://", "has no host"},
		{"redis://h:1/x", "invalid database number"},
		{"redis://h:1?nope=1", "unexpected option: nope"},
		{"redis-sentinel://s1:26379", "needs ?master=NAME"},
		{"redis-sentinel://s1:26379,,s2:1?master=m", "empty host"},
		{"redis-sentinel://s1:26379?master=m&addr=s2:1", "option addr: not allowed"},
		{"redis-sentinel://s1:26379?master=m&nope=1", "unexpected option: nope"},
		{"redis-cluster://c1:7000/3", "only database 0"},
		{"redis-cluster://c1:7000?addr=c2:1", "option addr: not allowed"},
		{"redis-cluster://c1:7000?nope=1", "unexpected option: nope"},
		{"redis://user:hunter2@h:1/x", "invalid database number"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := Parse(tt.url)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("err %q quotes the password", err)
			}
		})
	}
}
