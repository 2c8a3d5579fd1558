// Package groupcommit is the one batching loop of Leadgate's writers (the
// delivery settler, the embedded store's committer, the Redis store's
// batcher): items arriving on a channel are handed on in batches, so that
// concurrent callers share one commit, one fsync or one round trip.
package groupcommit

// Run hands what arrives on in to commit in batches of at most max, until
// in is closed and drained. A batch is the first item to arrive and
// whatever else has gathered meanwhile, mostly while the previous commit
// ran: it never waits for a batch to fill, so a lone item goes at once and
// a burst costs one commit per batch, not one per item. commit must not
// keep the slice, which is reused.
func Run[T any](in <-chan T, max int, commit func([]T)) {
	Until(in, nil, max, commit)
}

// Until is Run for an input that is never closed (its senders may outlive
// the loop): it also returns once stop is closed, between batches, leaving
// what is still queued on in to whoever stopped it. A nil stop never
// stops it.
func Until[T any](in <-chan T, stop <-chan struct{}, max int, commit func([]T)) {
	batch := make([]T, 0, max)
	for {
		select {
		case first, ok := <-in:
			if !ok {
				return
			}
			batch = append(batch[:0], first)
		case <-stop:
			return
		}
	gather:
		for len(batch) < max {
			select {
			case item, ok := <-in:
				if !ok {
					break gather
				}
				batch = append(batch, item)
			default:
				break gather
			}
		}
		commit(batch)
	}
}
