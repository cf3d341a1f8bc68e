package bench

import (
	"errors"
	"slices"
	"testing"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// --setup against a real posd: the bench stalls are found again on the next
// run instead of added again, and a server with other stalls is not written
// to unless the caller says yes.
func TestSetupReusesBenchStalls(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	a := newAPI(s.URL, "", 2)
	defer a.close()
	ctx := t.Context()

	first, err := a.setupTenants(ctx, 3, false)
	if err != nil {
		t.Fatalf("setup on an empty server: %v", err)
	}
	again, err := a.setupTenants(ctx, 3, false)
	if err != nil || !slices.Equal(first, again) {
		t.Fatalf("second setup = %v (%v), want the same stalls %v", again, err, first)
	}
	tenants := func() []string {
		var body struct {
			Tenants []struct{ Code, Name string } `json:"tenants"`
		}
		s.MustDo(t, 200, "", "GET", "/api/tenants", nil, &body)
		var out []string
		for _, x := range body.Tenants {
			out = append(out, x.Code+"="+x.Name)
		}
		return out
	}
	if got, want := tenants(), []string{"BX1=Bench stall BX1", "BX2=Bench stall BX2", "BX3=Bench stall BX3"}; !slices.Equal(got, want) {
		t.Fatalf("stalls after two setups = %q, want %q", got, want)
	}

	// A real stall appears: the bench refuses to write there, then obeys --yes.
	s.MustDo(t, 201, "", "POST", "/api/tenants", map[string]string{"name": "Warung Nasi Goreng", "code": "NG"}, nil)
	if _, err := a.setupTenants(ctx, 4, false); !errors.Is(err, ErrOtherData) {
		t.Fatalf("setup beside a real stall: err = %v, want ErrOtherData", err)
	}
	if n := len(tenants()); n != 4 {
		t.Fatalf("a refused setup created stalls: %d stalls, want 4", n)
	}
	yes, err := a.setupTenants(ctx, 4, true)
	if err != nil || !slices.Equal(yes[:3], first) || len(yes) != 4 {
		t.Fatalf("setup --yes = %v (%v), want %v and one more", yes, err, first)
	}
	if n := len(tenants()); n != 5 {
		t.Fatalf("stalls after setup --yes of 4 = %d, want 5 (NG and BX1..BX4)", n)
	}
}
