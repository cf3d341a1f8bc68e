package bench

// Layout places clients in rooms: client i is in tenant room i mod T, and a
// share of the clients (spread evenly over the tenants) is also in display.
type Layout struct {
	Clients int
	Tenants int
	tenant  []int32 // client → tenant index
	display []bool  // client → also in display
}

// NewLayout spreads clients over tenants with displayShare of them (rounded)
// also in the display room.
func NewLayout(clients, tenants int, displayShare float64) *Layout {
	l := &Layout{
		Clients: clients,
		Tenants: tenants,
		tenant:  make([]int32, clients),
		display: make([]bool, clients),
	}
	nDisplay := int(float64(clients)*displayShare + 0.5)
	if nDisplay > clients {
		nDisplay = clients
	}
	if nDisplay < 0 {
		nDisplay = 0
	}
	perTenant := (clients + tenants - 1) / tenants
	for i := 0; i < clients; i++ {
		l.tenant[i] = int32(i % tenants)
	}
	// Walk the clients grouped by tenant (position p = tenant*perTenant + k)
	// and mark every (clients/nDisplay)-th one, so display members are
	// spread over the tenants instead of all landing in one.
	if nDisplay > 0 {
		pos := make([]int, 0, clients)
		for t := 0; t < tenants; t++ {
			for k := 0; k < perTenant; k++ {
				if i := k*tenants + t; i < clients {
					pos = append(pos, i)
				}
			}
		}
		for p, i := range pos {
			if (p*nDisplay)/clients != ((p+1)*nDisplay)/clients {
				l.display[i] = true
			}
		}
	}
	return l
}

// Tenant is the tenant index of client i.
func (l *Layout) Tenant(i int) int { return int(l.tenant[i]) }

// InDisplay reports whether client i is also in the display room.
func (l *Layout) InDisplay(i int) bool { return l.display[i] }

// DisplayClients is the number of clients in the display room.
func (l *Layout) DisplayClients() int {
	n := 0
	for _, d := range l.display {
		if d {
			n++
		}
	}
	return n
}

// Subscribed reports whether client i should receive tenant t's events.
func (l *Layout) Subscribed(i, t int) bool {
	return int(l.tenant[i]) == t || l.display[i]
}
