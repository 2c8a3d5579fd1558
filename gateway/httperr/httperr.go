// Package httperr is the gateway's one vocabulary of HTTP errors. An Error
// keeps what the client is told (Msg, Details) apart from what is logged
// (Err), after Tailscale's tsweb.HTTPError, and is answered in one of two
// shapes: the contract's JSON error (Body), or LeadSquared's under /v2/
// (LeadSquared). The server's one error handler, the console and the
// LeadSquared-compatible API all answer with it.
//
// It imports nothing of Leadgate's, so that every HTTP face can.
package httperr

import "net/http"

// Error is an HTTP error answer.
type Error struct {
	// Code is the HTTP status.
	Code int
	// Msg is what the client is told.
	Msg string
	// Details are sent with Msg in the contract's shape.
	Details []any
	// Type is the LeadSquared ExceptionType; empty derives it from Code.
	Type string
	// Err is logged, never sent.
	Err error
	// RetryAfter, when positive, is sent as Retry-After in whole seconds.
	RetryAfter int
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the logged cause.
func (e *Error) Unwrap() error { return e.Err }

// Body is the contract's JSON error.
type Body struct {
	Error   string `json:"error"`
	Details []any  `json:"details"`
}

// Body returns e in the contract's shape; details are never null.
func (e *Error) Body() Body {
	details := e.Details
	if details == nil {
		details = []any{}
	}
	return Body{Error: e.Msg, Details: details}
}

// LeadSquaredBody is LeadSquared's error shape.
type LeadSquaredBody struct {
	Status           string `json:"Status"`
	ExceptionType    string `json:"ExceptionType"`
	ExceptionMessage string `json:"ExceptionMessage"`
}

// LeadSquared exception types the gateway answers with.
const (
	TypeUnknown         = "MXUnknownException"
	TypeUnauthorized    = "MXUnAuthorizedAccessException"
	TypeInvalidAPI      = "MXInvalidAPIException"
	TypeRateLimited     = "MXAPIRateLimitExceededException"
	TypeInvalidInput    = "MXInvalidInputException"
	TypeMandatory       = "MXMandatoryAttributeMissingException"
	TypeDoesNotExist    = "MXDoesNotExistException"
	leadSquaredStatusKO = "Error"
)

// LeadSquared returns e in LeadSquared's shape. A 5xx tells nothing but
// ref, the reference its log line carries; otherwise the type is e.Type,
// or the one LeadSquared uses for e.Code.
func (e *Error) LeadSquared(ref string) LeadSquaredBody {
	b := LeadSquaredBody{Status: leadSquaredStatusKO, ExceptionType: e.Type, ExceptionMessage: e.Msg}
	if e.Code >= http.StatusInternalServerError {
		b.ExceptionType = TypeUnknown
		b.ExceptionMessage = "The API call failed. Retry later; if it persists, report reference " + ref + " to the gateway's operator."
		return b
	}
	if b.ExceptionType != "" {
		return b
	}
	switch e.Code {
	case http.StatusUnauthorized:
		b.ExceptionType = TypeUnauthorized
	case http.StatusNotFound:
		b.ExceptionType = TypeInvalidAPI
	case http.StatusTooManyRequests:
		b.ExceptionType = TypeRateLimited
	default:
		b.ExceptionType = TypeInvalidInput
	}
	return b
}
