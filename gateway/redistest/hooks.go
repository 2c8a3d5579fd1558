package redistest

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// ScriptCounter is a go-redis hook (client.AddHook) counting the scripts
// Redis ran, alone or in a pipeline: EVAL and EVALSHA that succeeded, so a
// script refused with NOSCRIPT and sent again by text counts once.
type ScriptCounter struct{ n atomic.Int64 }

// N is how many scripts ran so far.
func (h *ScriptCounter) N() int64 { return h.n.Load() }

func (h *ScriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *ScriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		// Here the command's own error is set only after the hook returns.
		err := next(ctx, cmd)
		if err == nil {
			h.count(cmd)
		}
		return err
	}
}

func (h *ScriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if cmd.Err() == nil {
				h.count(cmd)
			}
		}
		return err
	}
}

func (h *ScriptCounter) count(cmd redis.Cmder) {
	if n := cmd.Name(); n == "evalsha" || n == "eval" {
		h.n.Add(1)
	}
}
