package bolt

import "testing"

// TestLeadRef covers the in-memory indexes' lead ids: every id, minted or
// written by an older version, comes back as it went in, and only the
// minted shape fits in the 12 bytes.
func TestLeadRef(t *testing.T) {
	tests := []struct {
		name, id string
		odd      bool
	}{
		{"none", "", false},
		{"minted", newLeadID(), false},
		{"object id", "65a1b2c3d4e5f60718293a4b", false},
		{"upper case hex", "65A1B2C3D4E5F60718293A4B", true},
		{"all zero", "000000000000000000000000", true},
		{"short legacy", "legacy1", true},
		{"25 hex digits", "65a1b2c3d4e5f60718293a4b0", true},
	}
	var o oddIDs
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := o.ref(tt.id)
			if got := o.name(r); got != tt.id {
				t.Fatalf("name(ref(%q)) = %q", tt.id, got)
			}
			if (r.odd != 0) != tt.odd {
				t.Fatalf("ref(%q).odd = %d, want odd %v", tt.id, r.odd, tt.odd)
			}
			if again := o.ref(tt.id); again != r {
				t.Fatalf("ref(%q) twice: %v then %v", tt.id, r, again)
			}
		})
	}
}
