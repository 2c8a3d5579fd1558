package httperr

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func TestBody(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want Body
	}{
		{"no details", &Error{Code: 400, Msg: "bad"}, Body{Error: "bad", Details: []any{}}},
		{"details", &Error{Code: 400, Msg: "bad", Details: []any{"x"}}, Body{Error: "bad", Details: []any{"x"}}},
		{"cause not sent", &Error{Code: 500, Msg: "internal error", Err: errors.New("disk on fire")},
			Body{Error: "internal error", Details: []any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Body(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Body() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLeadSquared(t *testing.T) {
	const ref = "abc123"
	tests := []struct {
		name     string
		err      *Error
		wantType string
		wantMsg  string
	}{
		{"401", &Error{Code: http.StatusUnauthorized, Msg: "no"}, TypeUnauthorized, "no"},
		{"404", &Error{Code: http.StatusNotFound, Msg: "gone"}, TypeInvalidAPI, "gone"},
		{"429", &Error{Code: http.StatusTooManyRequests, Msg: "slow"}, TypeRateLimited, "slow"},
		{"413", &Error{Code: http.StatusRequestEntityTooLarge, Msg: "big"}, TypeInvalidInput, "big"},
		{"own type", &Error{Code: http.StatusNotFound, Type: TypeDoesNotExist, Msg: "no such"}, TypeDoesNotExist, "no such"},
		{"500 tells only the reference", &Error{Code: 500, Type: TypeInvalidInput, Msg: "secret detail", Err: errors.New("x")},
			TypeUnknown, "The API call failed. Retry later; if it persists, report reference abc123 to the gateway's operator."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.err.LeadSquared(ref)
			if got.Status != "Error" || got.ExceptionType != tt.wantType || got.ExceptionMessage != tt.wantMsg {
				t.Fatalf("LeadSquared() = %+v, want type %s, message %q", got, tt.wantType, tt.wantMsg)
			}
		})
	}
}

func TestErrorKeepsTheCauseForTheLog(t *testing.T) {
	cause := errors.New("store down")
	e := &Error{Code: 503, Msg: "retry later", Err: cause}
	if !errors.Is(e, cause) || e.Error() != "retry later: store down" {
		t.Fatalf("Error() = %q, Is(cause) = %v", e.Error(), errors.Is(e, cause))
	}
}
