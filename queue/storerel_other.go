//go:build !amd64 || race

package queue

import "sync/atomic"

// storeRel stores v at *p with (at least) release ordering; see
// storerel_amd64.go. Elsewhere, and under the race detector, it is
// atomic.StoreUint64.
func storeRel(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
