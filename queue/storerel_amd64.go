//go:build amd64 && !race

package queue

// storeRel stores v at *p with release ordering: every load and store
// this goroutine made before it is visible to any process that sees v.
// On amd64 (total store order) that is a plain MOV, where
// atomic.StoreUint64 is an XCHG, a full barrier that stalls until the
// store buffer drains (tens of cycles each, seven of them per Put). It
// is for stores whose order is all that matters, or that a later full
// barrier (a CAS, an atomic store, ring.fence) publishes to sleepers: the
// record header and position words written under plock or clock. Under the
// race detector storerel_other.go uses atomic.StoreUint64, so the
// detector still sees the store as synchronised.
//
// Implemented in storerel_amd64.s, so the compiler can neither reorder
// it with the calls around it nor merge it away.
//
//go:noescape
func storeRel(p *uint64, v uint64)
