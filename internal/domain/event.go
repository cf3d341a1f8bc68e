package domain

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// Event names as clients subscribe to them (Socket.IO event names, the native
// protocol's "event" field) and the envelope types that go with them.
const (
	EventOrderCreated       = "order:created"
	EventOrderStatusChanged = "order:status_changed"
	EventOrderCancelled     = "order:cancelled"
	EventPaymentProcessed   = "payment:processed"
	EventPaymentRefunded    = "payment:refunded"
	EventQRScanned          = "qr:scanned"
	EventNotification       = "notification"
	EventAlert              = "alert"

	TypeSystemAlert = "system_alert"
)

// EventNames lists every event name, in the order docs/protocol.md lists them.
var EventNames = []string{
	EventOrderCreated, EventOrderStatusChanged, EventOrderCancelled,
	EventPaymentProcessed, EventPaymentRefunded, EventQRScanned,
	EventNotification, EventAlert,
}

// Alert severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// Severities lists every alert severity, the gravest first.
var Severities = []string{SeverityError, SeverityWarning, SeverityInfo}

// ValidSeverity reports whether s is one of Severities: the service checks
// it, and the CLI before it sends, to say so without a round trip.
func ValidSeverity(s string) bool { return slices.Contains(Severities, s) }

// Event is one row of the event log. ID is its offset: strictly increasing in
// commit order. Rooms says who receives it; RoomAll reaches every connection.
type Event struct {
	ID        int64
	Name      string
	Type      string
	Timestamp time.Time
	Data      json.RawMessage // nil for alerts
	Severity  string          // alerts only
	Message   string          // alerts only
	Rooms     []string
}

// TimeFormat is RFC 3339 in UTC with whole seconds, as in the seed.
const TimeFormat = "2006-01-02T15:04:05Z"

// AppendEnvelope appends the seed's envelope plus "id" to b, by hand: it runs
// once per broadcast and must not go through reflection.
func (e *Event) AppendEnvelope(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	if e.Name == EventAlert {
		b = append(b, `,"severity":`...)
		b = appendJSONString(b, e.Severity)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, e.Message)
	}
	b = append(b, `,"timestamp":"`...)
	b = e.Timestamp.UTC().AppendFormat(b, TimeFormat)
	b = append(b, '"')
	if e.Name != EventAlert {
		b = append(b, `,"data":`...)
		if len(e.Data) == 0 {
			b = append(b, "{}"...)
		} else {
			b = append(b, e.Data...)
		}
	}
	return append(b, '}')
}

// Envelope returns the envelope as a fresh byte slice.
func (e *Event) Envelope() []byte { return e.AppendEnvelope(make([]byte, 0, 256+len(e.Data))) }

// MarshalJSON renders the envelope, so an Event in an API response looks
// exactly like the one on the socket (plus the event name).
func (e Event) MarshalJSON() ([]byte, error) {
	b := []byte(`{"event":`)
	b = appendJSONString(b, e.Name)
	b = append(b, `,"rooms":`...)
	rooms, _ := json.Marshal(e.Rooms)
	b = append(b, rooms...)
	b = append(b, `,"payload":`...)
	b = e.AppendEnvelope(b)
	return append(b, '}'), nil
}

func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s) // rare path: escape properly
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Data of each event, with exactly the seed's fields (listed in
// docs/protocol.md, Events): its clients read them by these names.

type OrderCreatedData struct {
	OrderID      int64  `json:"order_id"`
	OrderNumber  string `json:"order_number"`
	CustomerName string `json:"customer_name"`
	TotalAmount  int64  `json:"total_amount"`
	ItemsCount   int64  `json:"items_count"`
	Status       Status `json:"status"`
}

type OrderStatusChangedData struct {
	OrderID        int64  `json:"order_id"`
	OrderNumber    string `json:"order_number"`
	PreviousStatus Status `json:"previous_status"`
	NewStatus      Status `json:"new_status"`
	Transition     string `json:"transition"`
	CustomerName   string `json:"customer_name"`
}

type OrderCancelledData struct {
	OrderID      int64  `json:"order_id"`
	OrderNumber  string `json:"order_number"`
	Reason       string `json:"reason"`
	CustomerName string `json:"customer_name"`
	RefundAmount int64  `json:"refund_amount"`
}

type PaymentProcessedData struct {
	PaymentID            int64  `json:"payment_id"`
	OrderID              int64  `json:"order_id"`
	OrderNumber          string `json:"order_number"`
	AmountPaid           int64  `json:"amount_paid"`
	PaymentMethod        Method `json:"payment_method"`
	TransactionReference string `json:"transaction_reference"`
	Status               string `json:"status"`
	Change               int64  `json:"change"`
	CustomerName         string `json:"customer_name"`
}

type PaymentRefundedData struct {
	RefundID             int64  `json:"refund_id"`
	OrderID              int64  `json:"order_id"`
	OrderNumber          string `json:"order_number"`
	RefundAmount         int64  `json:"refund_amount"`
	TransactionReference string `json:"transaction_reference"`
	OriginalPaymentID    int64  `json:"original_payment_id"`
	Reason               string `json:"reason"`
	CustomerName         string `json:"customer_name"`
}

type QRScannedData struct {
	QRID         int64  `json:"qr_id"`
	OrderID      int64  `json:"order_id"`
	OrderNumber  string `json:"order_number"`
	Token        string `json:"token"`
	Status       string `json:"status"`
	ScannedCount int64  `json:"scanned_count"`
	CustomerName string `json:"customer_name"`
}

// NewEvent builds an unsaved event (ID 0) with data marshalled once.
func NewEvent(name, typ string, now time.Time, data any, rooms ...string) Event {
	// Text is carried verbatim, as the API echoes it: no HTML escaping of
	// < > & (the payload is JSON for programs, not markup).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		panic("domain: event data does not marshal: " + err.Error()) // our own structs: a bug
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	return Event{Name: name, Type: typ, Timestamp: now.UTC(), Data: raw, Rooms: rooms}
}

// OrderRooms are the rooms every order, payment and QR event of a tenant goes to.
func OrderRooms(tenantID int64) []string { return []string{TenantRoom(tenantID), RoomDisplay} }
