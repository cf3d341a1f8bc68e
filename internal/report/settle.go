package report

import (
	"fmt"
	"slices"
	"strings"
)

// BasisPoints is 100%: shares and fees are in hundredths of a percent.
const BasisPoints = 10000

// The settlement's one rounding rule, in integer Rupiah. Over each run of
// days in which a stall's share and every fee stay the same (a segment):
//
//	fee(method)  = ⌊net(method) × fee_bp(method) / 10000⌋
//	fees         = Σ fee(method)
//	commission   = ⌊(net − fees) × share_bp / 10000⌋
//	payout       = net − fees − commission
//
// ⌊⌋ rounds down (toward minus infinity, also for a negative net, as when
// refunds outweigh sales). A period's figures are the sums over its
// segments, so commission + payout + fees = net holds exactly, per stall
// and in total, by construction.

// floorDiv is a/b rounded toward minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// ShareAt is tenant's share in basis points on day (0 when none was set).
func (t Terms) ShareAt(tenantID int64, day string) int64 {
	var bp int64
	from := ""
	for _, s := range t.Shares {
		if s.TenantID == tenantID && s.From <= day && s.From >= from {
			bp, from = s.BP, s.From
		}
	}
	return bp
}

// FeeAt is method's fee in basis points on day (0 when none was set).
func (t Terms) FeeAt(method, day string) int64 {
	var bp int64
	from := ""
	for _, f := range t.Fees {
		if f.Method == method && f.From <= day && f.From >= from {
			bp, from = f.BP, f.From
		}
	}
	return bp
}

// Segments splits r at every day inside it from which a share or a fee
// changes: within a segment every stall's terms are constant.
func Segments(r Range, t Terms) []Range {
	var cuts []string
	for _, s := range t.Shares {
		cuts = append(cuts, s.From)
	}
	for _, f := range t.Fees {
		cuts = append(cuts, f.From)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	out := []Range{}
	from := r.From
	for _, c := range cuts {
		if c > r.From && c <= r.To {
			out = append(out, Range{From: from, To: PrevDay(c)})
			from = c
		}
	}
	return append(out, Range{From: from, To: r.To})
}

// SegmentSums are the payment and refund sums of one segment.
type SegmentSums struct {
	Range
	Rows []MoneyRow
}

func (f *SettlementFigures) add(o SettlementFigures) {
	f.Net += o.Net
	f.Fees += o.Fees
	f.Commission += o.Commission
	f.Payout += o.Payout
}

// Settle is the settlement of stalls over r from the sums of each of its
// segments (Segments), with the terms in force on each segment's first
// day. Consecutive segments with the same terms for a stall (split for
// another stall's change) are settled as one.
func Settle(r Range, tz string, stalls []Stall, t Terms, segs []SegmentSums) Settlement {
	out := Settlement{TZ: tz, From: r.From, To: r.To, Stalls: make([]StallSettlement, len(stalls))}
	methods := map[string]bool{}
	for _, s := range segs {
		for _, row := range s.Rows {
			methods[row.Method] = true
		}
	}
	for _, f := range t.Fees {
		methods[f.Method] = true
	}
	names := make([]string, 0, len(methods))
	for m := range methods {
		names = append(names, m)
	}
	slices.Sort(names)
	for i, st := range stalls {
		line := StallSettlement{TenantID: st.ID, Tenant: st.Name, ShareBP: t.ShareAt(st.ID, r.To)}
		var key string
		net := map[string]int64{}
		var share int64
		var fees map[string]int64
		flush := func() {
			var f SettlementFigures
			for _, m := range names {
				f.Net += net[m]
				f.Fees += floorDiv(net[m]*fees[m], BasisPoints)
			}
			f.Commission = floorDiv((f.Net-f.Fees)*share, BasisPoints)
			f.Payout = f.Net - f.Fees - f.Commission
			line.add(f)
			clear(net)
		}
		for j, seg := range segs {
			s := t.ShareAt(st.ID, seg.From)
			fs := make(map[string]int64, len(names))
			var b strings.Builder
			fmt.Fprintf(&b, "%d", s)
			for _, m := range names {
				fs[m] = t.FeeAt(m, seg.From)
				fmt.Fprintf(&b, ",%d", fs[m])
			}
			if j > 0 && b.String() != key {
				flush()
			}
			key, share, fees = b.String(), s, fs
			for _, row := range seg.Rows {
				if row.TenantID != st.ID {
					continue
				}
				switch row.Kind {
				case KindPayment:
					net[row.Method] += row.Amount
				case KindRefund:
					net[row.Method] -= row.Amount
					line.PriorRefunds += row.Prior
				}
			}
		}
		if len(segs) > 0 {
			flush()
		}
		out.Stalls[i] = line
		out.Total.add(line.SettlementFigures)
	}
	return out
}
