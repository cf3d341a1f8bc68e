package ops

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// writeSalesCSV writes a sales report as CSV: one line per stall and a
// total line, money in whole Rupiah, one column per payment method.
func writeSalesCSV(w io.Writer, s report.Sales) error {
	cw := csv.NewWriter(w)
	head := []string{"from", "to", "tenant_id", "tenant", "orders", "gross", "refunds", "net"}
	for _, m := range domain.Methods {
		head = append(head, string(m))
	}
	head = append(head, "cancelled", "cancelled_value", "avg_ticket")
	_ = cw.Write(head)
	line := func(id, name string, f report.SalesFigures) {
		rec := []string{s.From, s.To, id, name, num(f.Orders), num(f.Gross), num(f.Refunds), num(f.Net)}
		for _, m := range domain.Methods {
			rec = append(rec, num(f.ByMethod[string(m)]))
		}
		rec = append(rec, num(f.Cancelled), num(f.CancelledValue), num(f.AvgTicket))
		_ = cw.Write(rec)
	}
	for _, st := range s.Stalls {
		line(num(st.TenantID), st.Tenant, st.SalesFigures)
	}
	line("", "total", s.Total)
	cw.Flush()
	return cw.Error()
}

// writeSettlementCSV writes a settlement as CSV: one line per stall and a
// total line.
func writeSettlementCSV(w io.Writer, s report.Settlement) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"from", "to", "closed", "tenant_id", "tenant", "share_bp", "net", "fees", "commission", "payout"})
	closed := strconv.FormatBool(s.Closed)
	for _, st := range s.Stalls {
		_ = cw.Write([]string{s.From, s.To, closed, num(st.TenantID), st.Tenant, num(st.ShareBP), num(st.Net), num(st.Fees), num(st.Commission), num(st.Payout)})
	}
	t := s.Total
	_ = cw.Write([]string{s.From, s.To, closed, "", "total", "", num(t.Net), num(t.Fees), num(t.Commission), num(t.Payout)})
	cw.Flush()
	return cw.Error()
}

func num(n int64) string { return strconv.FormatInt(n, 10) }

// writeFile writes through write to path, by a temporary file renamed
// into place, so a failed export never leaves half a file under the name
// asked for. It returns the absolute path written.
func writeFile(path string, write func(io.Writer) error) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".*")
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	tmp := f.Name()
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("export: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("export: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("export: %w", err)
	}
	return abs, nil
}
