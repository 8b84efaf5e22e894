// Package metrics defines the gateway's Prometheus metrics. It counts; it
// never records a secret, a sender id or a client address as a label, so
// the metrics endpoint cannot leak who talked to the agent.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gateway/buildinfo"
)

// Route classes label requests without exposing paths.
const (
	RouteHealth   = "health"
	RouteAuth     = "auth"
	RouteAdmin    = "admin"
	RouteChannels = "channels"
	RouteMetrics  = "metrics"
	RouteProxy    = "proxy"
	RouteWS       = "websocket"
)

var routes = []string{RouteHealth, RouteAuth, RouteAdmin, RouteChannels, RouteMetrics, RouteProxy, RouteWS}

var codeClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Metrics holds every collector. One instance lives for the whole process
// (config reloads keep counting).
type Metrics struct {
	Registry *prometheus.Registry

	requests   map[string][5]prometheus.Counter // route -> code class
	latency    map[string]prometheus.Observer
	auth       *prometheus.CounterVec
	upstreamE  prometheus.Counter
	upstreamL  prometheus.Observer
	websockets prometheus.Gauge
	reloads    *prometheus.CounterVec
	storeL     *prometheus.HistogramVec
	storeE     *prometheus.CounterVec
}

// Sources are live values read at scrape time.
type Sources struct {
	// Lockouts returns the number of lockouts so far.
	Lockouts func() float64
	// Decisions calls yield with every policy decision count (channel,
	// action, count); metrics does not need to know policy's types.
	Decisions func(yield func(channel, action string, n uint64))
}

// New registers every metric in a fresh registry.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg, requests: map[string][5]prometheus.Counter{}, latency: map[string]prometheus.Observer{}}
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_requests_total", Help: "Requests by route class and status class."}, []string{"route", "code"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_request_duration_seconds", Help: "Request latency by route class.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route"})
	// Resolve every label combination once: the hot path is an index.
	for _, r := range routes {
		var cs [5]prometheus.Counter
		for i, c := range codeClasses {
			cs[i] = req.WithLabelValues(r, c)
		}
		m.requests[r] = cs
		m.latency[r] = lat.WithLabelValues(r)
	}
	m.auth = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_auth_total", Help: "Authentication outcomes by method and result."}, []string{"method", "result"})
	m.upstreamE = prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_upstream_errors_total", Help: "Upstream requests that failed (502)."})
	ul := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gateway_upstream_duration_seconds", Help: "Time to the upstream's response headers.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60}})
	m.upstreamL = ul
	m.websockets = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gateway_websockets_open", Help: "Open proxied WebSocket connections."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_config_reloads_total", Help: "Config reloads by result."}, []string{"result"})
	m.storeL = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_store_operation_duration_seconds",
		Help: "State store operations by backend and operation.", Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}},
		[]string{"backend", "op"})
	m.storeE = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_store_errors_total",
		Help: "State store operations that failed (unreachable or refused), by backend and operation."}, []string{"backend", "op"})
	// gateway_build_info is 1 with the build's identity in its labels, the
	// Prometheus convention (join on it to see which version served).
	bi := buildinfo.Get()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gateway_build_info", Help: "Always 1; the labels say which build is running."}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(bi.Version, bi.Commit, bi.GoVersion).Set(1)
	reg.MustRegister(build)
	reg.MustRegister(req, lat, m.auth, m.upstreamE, ul, m.websockets, m.reloads, m.storeL, m.storeE,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.Lockouts != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_lockouts_total", Help: "Clients locked out after too many failures."}, src.Lockouts))
	}
	if src.Decisions != nil {
		reg.MustRegister(policyCollector{each: src.Decisions})
	}
	return m
}

// Request records one finished request.
func (m *Metrics) Request(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	i := status/100 - 1
	if i < 0 || i > 4 {
		i = 4
	}
	if cs, ok := m.requests[route]; ok {
		cs[i].Inc()
		m.latency[route].Observe(d.Seconds())
	}
}

// Auth records an authentication outcome: result is success, failure,
// missing or locked.
func (m *Metrics) Auth(method, result string) {
	if m != nil {
		m.auth.WithLabelValues(method, result).Inc()
	}
}

// UpstreamError counts a failed upstream request.
func (m *Metrics) UpstreamError() {
	if m != nil {
		m.upstreamE.Inc()
	}
}

// Upstream records the time to an upstream's response headers.
func (m *Metrics) Upstream(d time.Duration) {
	if m != nil {
		m.upstreamL.Observe(d.Seconds())
	}
}

// WebSocket adjusts the open WebSocket gauge by delta.
func (m *Metrics) WebSocket(delta float64) {
	if m != nil {
		m.websockets.Add(delta)
	}
}

// Reload counts a config reload ("ok" or "rejected").
func (m *Metrics) Reload(result string) {
	if m != nil {
		m.reloads.WithLabelValues(result).Inc()
	}
}

// StoreOp records one state store operation. Operations refused at once
// because the store is known to be down count as errors without a
// duration.
func (m *Metrics) StoreOp(backend, op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.storeE.WithLabelValues(backend, op).Inc()
	}
	if d > 0 {
		m.storeL.WithLabelValues(backend, op).Observe(d.Seconds())
	}
}

// Handler serves the registry in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

type policyCollector struct {
	each func(yield func(channel, action string, n uint64))
}

var policyDesc = prometheus.NewDesc("gateway_policy_decisions_total", "Policy decisions by channel and action.", []string{"channel", "action"}, nil)

func (p policyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- policyDesc }

func (p policyCollector) Collect(ch chan<- prometheus.Metric) {
	p.each(func(channel, action string, n uint64) {
		ch <- prometheus.MustNewConstMetric(policyDesc, prometheus.CounterValue, float64(n), channel, action)
	})
}

// Transport wraps rt to time upstream responses.
func (m *Metrics) Transport(rt http.RoundTripper) http.RoundTripper {
	if m == nil {
		return rt
	}
	return timedTransport{rt: rt, m: m}
}

type timedTransport struct {
	rt http.RoundTripper
	m  *Metrics
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	t.m.Upstream(time.Since(start))
	return resp, err
}
