package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every tenant's clients are spread over every node, evenly, even when the
// tenant count is a multiple of the node count.
func TestSpreadClients(t *testing.T) {
	for _, tc := range []struct{ clients, tenants, nodes int }{
		{3000, 10, 3}, {3000, 10, 5}, {1000, 6, 3}, {7, 1, 3}, {100, 10, 1}, {11, 4, 2},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			l := NewLayout(tc.clients, tc.tenants, 0)
			per := make([][]int, tc.tenants)
			for i := range per {
				per[i] = make([]int, tc.nodes)
			}
			total := make([]int, tc.nodes)
			for i := range tc.clients {
				n := spread(i, tc.tenants, tc.nodes)
				per[l.Tenant(i)][n]++
				total[n]++
			}
			for tn, counts := range per {
				if lo, hi := minMax(counts); hi-lo > 1 {
					t.Errorf("tenant %d's clients per node %v: uneven", tn, counts)
				}
			}
			if lo, hi := minMax(total); hi-lo > min(tc.tenants, tc.nodes) {
				t.Errorf("clients per node %v: uneven", total)
			}
		})
	}
}

func minMax(v []int) (lo, hi int) {
	lo, hi = v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// The driver sends the orders round robin over the nodes, every tenant's
// orders reaching every node.
func TestDriverSpreadsOrders(t *testing.T) {
	const nodes, tenants, orders = 3, 6, 36
	var mu sync.Mutex
	got := map[string]int{} // "node tenant" → orders
	var next atomic.Int64
	apis := make([]*api, nodes)
	for n := range nodes {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body strings.Builder
			buf := make([]byte, 512)
			k, _ := r.Body.Read(buf)
			body.Write(buf[:k])
			tenant := strings.TrimPrefix(strings.SplitN(body.String(), ",", 2)[0], `{"tenant_id":`)
			mu.Lock()
			got[fmt.Sprint(n, " ", tenant)]++
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":%d}`, next.Add(1))
		}))
		t.Cleanup(srv.Close)
		apis[n] = newAPI(srv.URL, "", 4)
		t.Cleanup(apis[n].close)
	}
	ids := []int64{11, 12, 13, 14, 15, 16}
	epoch := time.Now()
	d := &driver{apis: apis, tenantIDs: ids, rate: 1000, duration: orders * time.Millisecond, workers: 4,
		now: func() int64 { return int64(time.Since(epoch)) }, out: &sink[placed]{}}
	st := d.run(context.Background())
	if st.OK != orders || st.Failed != 0 {
		t.Fatalf("driver: %d ok, %d failed (%s); want %d ok", st.OK, st.Failed, st.FirstErr, orders)
	}
	for n := range nodes {
		for _, id := range ids {
			if c := got[fmt.Sprint(n, " ", id)]; c != orders/nodes/tenants {
				t.Errorf("node %d got %d orders of tenant %d, want %d (all: %v)", n, c, id, orders/nodes/tenants, got)
			}
		}
	}
}
