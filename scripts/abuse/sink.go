package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// sink records the canonical events it is sent.
type sink struct {
	mu     sync.Mutex
	events []sunk
}

type sunk struct {
	email  string
	fields int
	size   int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		Lead struct {
			Email  string         `json:"email"`
			Fields map[string]any `json:"fields"`
		} `json:"lead"`
	}
	json.Unmarshal(body, &ev)
	s.mu.Lock()
	s.events = append(s.events, sunk{email: ev.Lead.Email, fields: len(ev.Lead.Fields), size: len(body)})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) count(email string) int {
	n, _, _ := s.largest(email)
	return n
}

// largest answers how many events of email arrived and the most fields and
// bytes one of them had.
func (s *sink) largest(email string) (n, fields, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.email == email {
			n++
			fields, size = max(fields, e.fields), max(size, e.size)
		}
	}
	return n, fields, size
}
