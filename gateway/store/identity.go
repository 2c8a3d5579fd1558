package store

import (
	"strings"
	"time"

	"leadgate/gateway/lead"
)

// Identity key kinds: the part of an IngestRequest.Identity key before its
// first colon.
const (
	KindEmail = "email"
	KindPhone = "phone"
	KindKey   = "key"
)

// KeyKind is an identity key's kind: KindEmail, KindPhone, KindKey, or ""
// for a key of no known kind.
func KeyKind(key string) string {
	kind, _, ok := strings.Cut(key, ":")
	if !ok {
		return ""
	}
	switch kind {
	case KindEmail, KindPhone, KindKey:
		return kind
	}
	return ""
}

// Resolve applies the identity rule (contract section 4) to one payload's
// identity keys and answers the lead it is, "" for a new lead. lookup says
// which lead an index key names ("" for none) and hasEmail whether a lead
// has an email. The rule:
//   - a payload with an email is the lead with that email; when no lead
//     has it, the first lead found by the payload's phone, then its
//     mapping's key, that has no email yet (the payload adds it), else a
//     new lead: a known email is never reached through a phone or key;
//   - a payload without an email is the lead its phone names (the one
//     most recently seen with it), else the one its key names, else new.
//
// Ingest then points every key of the payload at the lead it resolved to,
// so a phone names the lead most recently seen with it.
func Resolve(keys []string, lookup func(key string) string, hasEmail func(leadID string) (bool, error)) (string, error) {
	var email string
	for _, k := range keys {
		if KeyKind(k) == KindEmail {
			email = k
			break
		}
	}
	if email != "" {
		if id := lookup(email); id != "" {
			return id, nil
		}
	}
	for _, kind := range [...]string{KindPhone, KindKey} {
		for _, k := range keys {
			if KeyKind(k) != kind {
				continue
			}
			id := lookup(k)
			if id == "" {
				continue
			}
			if email == "" {
				return id, nil
			}
			has, err := hasEmail(id)
			if err != nil {
				return "", err
			}
			if !has {
				return id, nil
			}
		}
	}
	return "", nil
}

// HasEmail says whether a lead's stored JSON has an email: the email is
// the first key of a lead's JSON when it is set (lead.AppendLeadJSON and
// encoding/json both write the Lead's fields in order, leaving out an
// empty one), so this needs no decoding.
func HasEmail(leadJSON []byte) bool {
	const prefix = `{"email":`
	return len(leadJSON) >= len(prefix) && string(leadJSON[:len(prefix)]) == prefix
}

// LeadRecord is a lead as the lead index keeps it: the merged lead, its
// version and when it was first and last seen.
type LeadRecord struct {
	ID string
	// Version is the lead's lead_version: 1 when it was created, one
	// more for each stored change.
	Version int64
	// FirstSeen and LastSeen are the received_at of the lead's first and
	// latest payloads. A lead not seen for storage.lead_retention leaves
	// the index (SweepLeads).
	FirstSeen, LastSeen time.Time
	// Keys are the identity keys that were pointed at the lead; a key
	// names the lead only while the index still points it there (a phone
	// moves to the lead most recently seen with it).
	Keys []string
	// Sources names the sources whose payloads touched the lead (made,
	// changed or saw it again), sorted; at most the gateway's sources.
	Sources []string
	Lead    lead.Lead
}
