package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/posd/posd/internal/domain"
)

// status maps an error code to its HTTP status. It is the one place where
// errors become statuses.
func status(code domain.Code) int {
	switch code {
	case domain.CodeInvalid:
		return http.StatusBadRequest
	case domain.CodeUnauthorized:
		return http.StatusUnauthorized
	case domain.CodeForbidden:
		return http.StatusForbidden
	case domain.CodeNotFound:
		return http.StatusNotFound
	case domain.CodeConflict:
		return http.StatusConflict
	case domain.CodeUnprocessable, domain.CodeIdemMismatch:
		return http.StatusUnprocessableEntity
	case domain.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case domain.CodeRateLimited:
		return http.StatusTooManyRequests
	case domain.CodeUnavailable, domain.CodeStorageFull:
		return http.StatusServiceUnavailable
	case domain.CodeTimeout:
		return http.StatusRequestTimeout
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error struct {
		Code    domain.Code    `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details,omitempty"`
	} `json:"error"`
}

// writeError answers with the error's status and body. Internal errors are
// logged here, once, and the client sees only "internal error".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := domain.ErrorCode(err)
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		code = domain.CodeTooLarge
		err = domain.Errorf(code, "request body is larger than %d bytes", maxErr.Limit)
	}
	if code == domain.CodeInternal {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	// A refusal that passes (rate limits, a full disk) says when to retry.
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(int(ra.RetryAfter().Seconds()+0.999)))
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = domain.ErrorMessage(err)
	if code != domain.CodeInternal {
		body.Error.Details = domain.ErrorDetails(err)
	}
	writeJSON(w, status(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // bodies are JSON for programs, not HTML
	err := enc.Encode(v)
	b := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	_, _ = w.Write([]byte{'\n'})
}
