package redisstore

import "github.com/redis/go-redis/v9"

// AddHookForTest lets a test see the commands s sends.
func AddHookForTest(s *Store, h redis.Hook) { s.rdb.AddHook(h) }
