package native

import (
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
)

// BenchmarkEncode is the native side of a broadcast: the complete WebSocket
// frame, built once and written as-is to every native receiver.
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
	b.ReportMetric(float64(n), "bytes/frame")
}
