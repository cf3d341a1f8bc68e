package socketio

import (
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
)

// BenchmarkEncode is the Socket.IO side of a broadcast: one 42[...] packet
// per event, shared by every Socket.IO receiver (the hub calls it once).
func BenchmarkEncode(b *testing.B) {
	ev := domain.NewEvent(domain.EventPaymentProcessed, "payment_processed", time.Now(), domain.PaymentProcessedData{
		PaymentID: 1, OrderID: 1, OrderNumber: "T1-001", AmountPaid: 50000, PaymentMethod: domain.MethodCash,
		TransactionReference: "PAY-1706966400000-ABC123", Status: "success", Change: 0, CustomerName: "John Doe",
	}, domain.OrderRooms(1)...)
	ev.ID = 1042
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(Encode(nil, &ev))
	}
	b.ReportMetric(float64(n), "bytes/packet")
}
