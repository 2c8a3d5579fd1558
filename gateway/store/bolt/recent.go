package bolt

import "leadgate/gateway/lead"

// recentMax bounds the recent-events cache: enough for every delivery in
// flight and a few seconds of backlog behind them, at about a kilobyte each.
const recentMax = 16384

// recentEvent is a cached event and the request id that made it.
type recentEvent struct {
	ev        *lead.Event
	requestID string
}

// remember puts just-ingested events that were queued for a destination
// (dests[i] lists evs[i]'s) into the recent cache.
func (s *Store) remember(evs []lead.Event, dests [][]string, requestID string) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for i := range evs {
		if len(dests[i]) == 0 {
			continue
		}
		if old := s.recentRing[s.recentNext]; old != "" {
			delete(s.recent, old)
		}
		s.recentRing[s.recentNext] = evs[i].ID
		s.recent[evs[i].ID] = recentEvent{ev: &evs[i], requestID: requestID}
		s.recentNext = (s.recentNext + 1) % recentMax
	}
}

// recalled returns a cached event and its request id; callers copy the
// event and must not modify what it shares (the lead's fields, assets and
// changed list). ok is false when it is not cached.
func (s *Store) recalled(id string) (e recentEvent, ok bool) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	e, ok = s.recent[id]
	return e, ok
}
