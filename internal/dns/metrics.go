package dns

import (
	"net/http"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, named like CoreDNS's so
// dashboards built for kube-dns's port 9153 read them.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	responses *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coredns_dns_requests_total", Help: "DNS requests by transport and query type.",
		}, []string{"proto", "type"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coredns_dns_responses_total", Help: "DNS responses by rcode.",
		}, []string{"rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "coredns_dns_request_duration_seconds", Help: "Time to answer, by whether berth answered or forwarded.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16),
		}, []string{"source"}),
	}
	m.reg.MustRegister(m.requests, m.responses, m.duration)
	return m
}

func (m *metrics) observe(proto string, q dns.Question, resp *dns.Msg, forwarded bool, took time.Duration) {
	m.requests.WithLabelValues(proto, dns.TypeToString[q.Qtype]).Inc()
	m.responses.WithLabelValues(dns.RcodeToString[resp.Rcode]).Inc()
	source := "cluster"
	if forwarded {
		source = "forward"
	}
	m.duration.WithLabelValues(source).Observe(took.Seconds())
}

// MetricsHandler serves the server's metrics in the Prometheus format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}
