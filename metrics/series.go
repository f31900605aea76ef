package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// labels3 is up to three label values, in the vec's order; code, when
// set, is an HTTP status that stands for the third, kept as a number so
// that finding its series formats nothing.
type labels3 struct {
	a, b, c string
	code    int
}

// series keeps the children of a vec that a request or a refund counts
// in, by their label values. WithLabelValues checks the values' UTF-8,
// hashes them and looks the child up under the vec's lock each time,
// several times per refund; the children never change once made, so
// each is looked up once. The keys are the vec's own series (route
// patterns, dialects, statuses, gateways), already bounded.
type series[T any] struct {
	mu   sync.RWMutex
	m    map[labels3]T
	make func(labels3) T
}

func newSeries[T any](make func(labels3) T) *series[T] {
	return &series[T]{m: map[labels3]T{}, make: make}
}

func (s *series[T]) get(k labels3) T {
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[k]; ok {
		return v
	}
	v = s.make(k)
	s.m[k] = v
	return v
}

func counters1(v *prometheus.CounterVec) *series[prometheus.Counter] {
	return newSeries(func(k labels3) prometheus.Counter { return v.WithLabelValues(k.a) })
}

func counters3(v *prometheus.CounterVec) *series[prometheus.Counter] {
	return newSeries(func(k labels3) prometheus.Counter { return v.WithLabelValues(k.a, k.b, k.c) })
}

func statusCounters(v *prometheus.CounterVec) *series[prometheus.Counter] {
	return newSeries(func(k labels3) prometheus.Counter { return v.WithLabelValues(k.a, k.b, strconv.Itoa(k.code)) })
}

func observers2(v *prometheus.HistogramVec) *series[prometheus.Observer] {
	return newSeries(func(k labels3) prometheus.Observer { return v.WithLabelValues(k.a, k.b) })
}
