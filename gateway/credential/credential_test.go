package credential

import "testing"

func TestEqual(t *testing.T) {
	tests := []struct {
		name      string
		got, want string
		equal     bool
	}{
		{"same", "tok-123", "tok-123", true},
		{"different", "tok-123", "tok-124", false},
		{"prefix", "tok", "tok-123", false},
		{"longer", "tok-123-extra", "tok-123", false},
		{"empty against a key", "", "tok-123", false},
		{"both empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal([]byte(tt.got), []byte(tt.want)); got != tt.equal {
				t.Fatalf("Equal(%q, %q) = %v, want %v", tt.got, tt.want, got, tt.equal)
			}
		})
	}
}
