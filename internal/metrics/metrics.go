// Package metrics exposes posd's Prometheus metrics: connections, rooms,
// events by type (the seed's "analytics on event types"), deliveries,
// slow-consumer closes, queue depth and API latency by route and status.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/posd/posd/internal/domain"
)

// Live is what the metrics read at scrape time.
type Live interface {
	Active() int
	RoomSizes() map[string]int
	QueueDepth() (total, max int)
}

// Metrics implements hub.Metrics and api.Observer.
type Metrics struct {
	reg *prometheus.Registry

	// Hot-path counters are plain atomics, read by collectors at scrape
	// time: a delivery costs one atomic add, not a map lookup.
	delivered atomic.Int64
	slow      atomic.Int64
	joins     atomic.Int64
	holes     atomic.Int64
	events    sync.Map // name → *atomic.Int64

	requests *prometheus.HistogramVec

	webhookAttempts *prometheus.CounterVec
	webhookLatency  prometheus.Histogram
}

// New registers every metric; live may be set later with SetLive.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	for _, name := range domain.EventNames {
		m.events.Store(name, new(atomic.Int64))
	}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "posd_http_request_duration_seconds",
		Help:    "API request latency by route and status.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "status"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests,
		counterFunc("posd_deliveries_total", "Events handed to connection queues (live and replayed).", &m.delivered),
		counterFunc("posd_slow_consumer_closes_total", "Connections closed because their queue overflowed.", &m.slow),
		counterFunc("posd_room_joins_total", "Rooms joined by connections (at connect and by join ops).", &m.joins),
		counterFunc("posd_log_holes_total", "Times this node found an event id missing above its position in the log (it waits, never skips).", &m.holes),
		&eventsCollector{m: m},
	)
	return m
}

func counterFunc(name, help string, v *atomic.Int64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
}

// SetLive registers the gauges that read the hub.
func (m *Metrics) SetLive(l Live) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posd_connections", Help: "Open socket connections (native and Socket.IO)."},
			func() float64 { return float64(l.Active()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posd_rooms", Help: "Rooms with at least one connection."},
			func() float64 { return float64(len(l.RoomSizes())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posd_queue_depth_frames", Help: "Frames waiting in all connection queues."},
			func() float64 { t, _ := l.QueueDepth(); return float64(t) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posd_queue_depth_max_frames", Help: "Frames waiting in the fullest connection queue."},
			func() float64 { _, mx := l.QueueDepth(); return float64(mx) }),
	)
}

// SetLag registers the gauge of how far this node's delivery is behind
// the log's head, read at scrape time.
func (m *Metrics) SetLag(lag func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "posd_log_lag_events",
		Help: "Events committed to the log that this node has not yet handed to its connections.",
	}, lag))
}

// LogHole counts an id found missing above the follower's position.
func (m *Metrics) LogHole() { m.holes.Add(1) }

// Handler serves /metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Delivered counts n frames queued to connections.
func (m *Metrics) Delivered(n int) { m.delivered.Add(int64(n)) }

// SlowConsumerClosed counts a slow-consumer close.
func (m *Metrics) SlowConsumerClosed() { m.slow.Add(1) }

// SlowConsumerCloses is how many slow consumers this node has closed.
func (m *Metrics) SlowConsumerCloses() int64 { return m.slow.Load() }

// Joined counts a room join.
func (m *Metrics) Joined() { m.joins.Add(1) }

// EventPublished counts an event by name.
func (m *Metrics) EventPublished(name string) {
	if v, ok := m.events.Load(name); ok {
		v.(*atomic.Int64).Add(1)
	}
}

// ObserveRequest records an API request.
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

// eventsCollector reports posd_events_total{event=...} from the atomics.
type eventsCollector struct{ m *Metrics }

var eventsDesc = prometheus.NewDesc("posd_events_total", "Events published, by event name.", []string{"event"}, nil)

func (c *eventsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- eventsDesc }

func (c *eventsCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.events.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(v.(*atomic.Int64).Load()), k.(string))
		return true
	})
}

// SetWebhooks registers the webhook metrics: attempts by endpoint and
// outcome, their latency, and how far each endpoint this node delivers is
// behind the log (lags is read at scrape time).
func (m *Metrics) SetWebhooks(lags func() map[int64]int64) {
	m.webhookAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "posd_webhook_deliveries_total",
		Help: "Webhook delivery attempts by endpoint id and outcome (success, http_error, network_error, refused).",
	}, []string{"endpoint", "outcome"})
	m.webhookLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "posd_webhook_delivery_seconds",
		Help:    "Time from sending a webhook to its answer (or failure).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.reg.MustRegister(m.webhookAttempts, m.webhookLatency, &lagCollector{lags: lags})
}

// WebhookDelivery records one webhook attempt.
func (m *Metrics) WebhookDelivery(endpoint int64, outcome string, d time.Duration) {
	if m.webhookAttempts == nil {
		return
	}
	m.webhookAttempts.WithLabelValues(strconv.FormatInt(endpoint, 10), outcome).Inc()
	m.webhookLatency.Observe(d.Seconds())
}

// lagCollector reports posd_webhook_lag_events{endpoint=...}.
type lagCollector struct{ lags func() map[int64]int64 }

var lagDesc = prometheus.NewDesc("posd_webhook_lag_events",
	"Log ids between the log's head and a webhook endpoint's cursor, for the endpoints this node delivers.", []string{"endpoint"}, nil)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for id, lag := range c.lags() {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag), strconv.FormatInt(id, 10))
	}
}
