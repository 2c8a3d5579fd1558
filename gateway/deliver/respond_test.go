package deliver

import (
	"strconv"
	"testing"
)

// TestRelayable: which answers of a respond destination become the inbound
// answer. A retried status asks the gateway to come back later, which it
// does, so it is not relayed: the stored lead is not answered as a failure.
func TestRelayable(t *testing.T) {
	tests := []struct {
		code int
		want bool
	}{
		{200, true}, {201, true}, {204, true}, {299, true},
		{400, true}, {401, true}, {404, true}, {409, true}, {410, true}, {422, true}, {499, true},
		{408, false}, {425, false}, {429, false},
		{0, false}, {100, false}, {301, false}, {302, false}, {500, false}, {502, false}, {503, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			if got := relayable(tt.code); got != tt.want {
				t.Fatalf("relayable(%d) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}
