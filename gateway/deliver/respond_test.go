package deliver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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

// TestSendForAnswerKeepsAtMostMaxAnswer: the answer to relay is kept whole
// up to MaxAnswer bytes; a longer one is not kept (the gateway answers
// itself), whatever the status says.
func TestSendForAnswerKeepsAtMostMaxAnswer(t *testing.T) {
	tests := []struct {
		name string
		code int
		size int
		keep bool
	}{
		{"small 2xx", 201, 60, true},
		{"4xx kept too", 422, 30, true},
		{"exactly the bound", 200, MaxAnswer, true},
		{"one byte over", 200, MaxAnswer + 1, false},
		{"empty", 204, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat("x", tt.size)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/vnd.ledsak+json")
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, body)
			}))
			defer srv.Close()
			s := &HTTPSender{}
			res, ans, _ := s.SendForAnswer(context.Background(), &Destination{Name: "x", URL: srv.URL, AllowPrivate: true}, sampleEvent())
			if res.Code != tt.code {
				t.Fatalf("code = %d, want %d", res.Code, tt.code)
			}
			if (ans != nil) != tt.keep {
				t.Fatalf("answer kept = %v, want %v", ans != nil, tt.keep)
			}
			if ans != nil && (ans.Status != tt.code || ans.ContentType != "application/vnd.ledsak+json" || string(ans.Body) != body) {
				t.Fatalf("answer = %d %q %d bytes, want %d, the content type and the %d bytes sent", ans.Status, ans.ContentType, len(ans.Body), tt.code, tt.size)
			}
		})
	}
}
