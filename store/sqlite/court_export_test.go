package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/posd/posd/store/storetest"
)

// LoadCourt writes a generated court straight into s's tables: its
// stalls, then each day's orders, payments, status history and event
// counts and the orders' timings in multi-row INSERTs, one transaction a day.
func LoadCourt(ctx context.Context, s *Store, spec storetest.CourtSpec) (storetest.CourtTotals, error) {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		for id := 1; id <= spec.Stalls; id++ {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, code, created_at) VALUES (?, ?, ?, ?)`,
				id, fmt.Sprintf("Stall %d", id), fmt.Sprintf("S%02d", id), spec.Start.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storetest.CourtTotals{}, err
	}
	return storetest.GenerateCourt(spec, func(d storetest.CourtDay) error {
		return s.writeTx(ctx, func(tx *sql.Tx) error {
			ins := func(table, cols string, n int, row func(i int) []any) error {
				width := strings.Count(cols, ",") + 1
				const batch = 400
				for lo := 0; lo < n; lo += batch {
					hi := min(lo+batch, n)
					var args []any
					for i := lo; i < hi; i++ {
						args = append(args, row(i)...)
					}
					one := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
					q := `INSERT INTO ` + table + ` (` + cols + `) VALUES ` + strings.TrimSuffix(strings.Repeat(one+",", hi-lo), ",")
					if _, err := tx.ExecContext(ctx, q, args...); err != nil {
						return fmt.Errorf("load %s: %w", table, err)
					}
				}
				return nil
			}
			err := ins("orders", "id, tenant_id, seq, order_number, customer_name, status, total_amount, paid_amount, refunded_amount, created_at, updated_at", len(d.Orders), func(i int) []any {
				o := d.Orders[i]
				return []any{o.ID, o.TenantID, o.Seq, o.Number, "Budi", o.Status, o.Total, o.Paid, o.Refunded, o.CreatedAt, o.UpdatedAt}
			})
			if err == nil {
				tenant := make(map[int64]int64, len(d.Orders))
				for _, o := range d.Orders {
					tenant[o.ID] = o.TenantID
				}
				err = ins("payments", "id, kind, order_id, counter_id, method, amount, amount_paid, status, reference, original_payment_id, refunded_amount, created_at, tenant_id", len(d.Payments), func(i int) []any {
					p := d.Payments[i]
					var orig any
					if p.OriginalID != 0 {
						orig = p.OriginalID
					}
					return []any{p.ID, p.Kind, p.OrderID, nil, p.Method, p.Amount, p.Amount, "success", p.Reference, orig, p.Refunded, p.CreatedAt, tenant[p.OrderID]}
				})
			}
			if err == nil {
				err = ins("order_status_history", "order_id, tenant_id, status, at", len(d.History), func(i int) []any {
					h := d.History[i]
					return []any{h.OrderID, h.TenantID, h.Status, h.At}
				})
			}
			if err == nil {
				tm, ids := d.Timings()
				err = ins("order_timings", "order_id, tenant_id, created_at, preparing_at, ready_at, completed_at, cancelled_at", len(tm), func(i int) []any {
					o := tm[i]
					return []any{ids[i], o.TenantID, o.Created, o.Preparing, o.Ready, o.Completed, o.Cancelled}
				})
			}
			if err == nil {
				err = ins("event_counts", "bucket, tenant_id, name, n", len(d.Counts), func(i int) []any {
					c := d.Counts[i]
					return []any{c.Start, c.TenantID, c.Name, c.Count}
				})
			}
			return err
		})
	})
}
