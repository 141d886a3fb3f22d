package main

import (
	"context"
	"time"
)

// futex/: the cross-process wake-up itself. mproc's side is the futex
// package (Wait/Wake on shared words), which every blocking primitive
// above it uses; its peers are what else could carry a wake-up.

func init() {
	register(&Figure{
		Name:  "futex/wake-rtt",
		Unit:  MicrosPerOp,
		Doc:   "round trip between 2 processes: the parent wakes the child on one shared word, the child wakes it back on another",
		Quick: Params{Ops: 5_000, Procs: 2},
		Full:  Params{Ops: 20_000, Procs: 2},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc futex", Kind: KindMproc, Run: pingPongRun("futex")},
			pySide("fig_futex.py"), // two multiprocessing.Semaphores, the nearest Python has
			{Name: "chan", Kind: KindGo, Run: chanPingPong},
			{Name: "spin", Kind: KindLimit, Run: pingPongRun("spin")},
			{Name: "socketpair", Kind: KindLimit, Run: socketRun(true)},
		},
	})
}

// chanPingPong is Go's in-process round trip: two goroutines and two
// unbuffered channels.
func chanPingPong(ctx context.Context, p Params) (time.Duration, error) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := range p.Ops {
		ping <- i
		<-pong
	}
	d := time.Since(t0)
	close(ping)
	return d, nil
}
