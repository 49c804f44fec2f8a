package activities

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the business metrics the activities count.
type Metrics struct {
	OrdersFulfilled prometheus.Counter
	Emails          *prometheus.CounterVec // purpose, outcome
	Quarantined     *prometheus.CounterVec // reason
}

// NewMetrics registers the activities' metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		OrdersFulfilled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "payflow_orders_fulfilled_total", Help: "Orders fulfilled (access granted and receipt sent)."}),
		Emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payflow_emails_total", Help: "Emails by purpose and outcome: sent, possible_duplicate (sent again after an attempt whose outcome is unknown), outbox, failed, retry."},
			[]string{"purpose", "outcome"}),
		Quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payflow_events_quarantined_total", Help: "Stripe events payflow could not interpret, kept in the quarantine table (once per event), by reason."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.OrdersFulfilled, m.Emails, m.Quarantined)
	return m
}
