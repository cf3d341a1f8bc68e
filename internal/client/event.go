package client

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/posd/posd/internal/domain"
)

// Envelope is an event as clients receive it: the seed's envelope plus the
// event's log id. Alerts carry Severity and Message instead of Data.
type Envelope struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data,omitempty"`
	Severity  string          `json:"severity,omitempty"`
	Message   string          `json:"message,omitempty"`
}

// Event is one event with its name (e.g. "order:created"), as the stream
// delivers it and as GET /api/events lists it (Rooms only there).
type Event struct {
	Name    string   `json:"event"`
	Rooms   []string `json:"rooms,omitempty"`
	Payload Envelope `json:"payload"`
}

// ID is the event's log id.
func (e Event) ID() int64 { return e.Payload.ID }

// Decode unmarshals the event's data into v (one of the domain.*Data types).
func (e Event) Decode(v any) error {
	if len(e.Payload.Data) == 0 {
		return fmt.Errorf("event %d (%s) has no data", e.Payload.ID, e.Name)
	}
	if err := json.Unmarshal(e.Payload.Data, v); err != nil {
		return fmt.Errorf("event %d (%s): %w", e.Payload.ID, e.Name, err)
	}
	return nil
}

// OrderID is the order an order, payment or QR event is about (0 otherwise).
func (e Event) OrderID() int64 {
	switch e.Name {
	case domain.EventOrderCreated, domain.EventOrderStatusChanged, domain.EventOrderCancelled,
		domain.EventPaymentProcessed, domain.EventPaymentRefunded, domain.EventQRScanned:
		var d struct {
			OrderID int64 `json:"order_id"`
		}
		if json.Unmarshal(e.Payload.Data, &d) == nil {
			return d.OrderID
		}
	}
	return 0
}
