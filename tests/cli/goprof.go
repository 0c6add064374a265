// goprof writes real Go runtime profiles for the nprof CLI tests: what
// `nprof top` prints must agree with `go tool pprof -top` on the same files.
//
//	go run tests/cli/goprof.go DIR
//
// It writes DIR/heap.pb.gz (no default sample type: pprof picks the last,
// inuse_space), DIR/allocs.pb.gz (default_sample_type alloc_space) and
// DIR/goroutine.pb.gz, and DIR/cpu.pb.gz (300 ms of spinning: nanosecond
// units and a Duration line). Allocation sites and parked goroutines are known, so
// the tests can also look for them by name. Standard library only.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Kept reachable so the heap profile's inuse columns see them.
var retained [][]byte

//go:noinline
func retainBig() {
	for i := 0; i < 64; i++ {
		retained = append(retained, make([]byte, 128<<10))
	}
}

//go:noinline
func retainSmall() {
	for i := 0; i < 2048; i++ {
		retained = append(retained, make([]byte, 1<<10))
	}
}

// Allocates and drops: shows in alloc_space only.
//
//go:noinline
func churn() int {
	n := 0
	for i := 0; i < 4096; i++ {
		b := make([]byte, 4<<10)
		n += len(b)
	}
	return n
}

//go:noinline
func parkA(wg *sync.WaitGroup, ch chan struct{}) {
	wg.Done()
	<-ch
}

//go:noinline
func parkB(wg *sync.WaitGroup, ch chan struct{}) {
	wg.Done()
	<-ch
}

// Busy for `d` of wall time: the CPU profile's main sample site.
//
//go:noinline
func spin(d time.Duration) int {
	n := 0
	for start := time.Now(); time.Since(start) < d; {
		for i := 0; i < 10000; i++ {
			n += i * i
		}
	}
	return n
}

func cpuProfile(dir string) {
	f, err := os.Create(filepath.Join(dir, "cpu.pb.gz"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	spin(300 * time.Millisecond)
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func write(dir, name string) {
	f, err := os.Create(filepath.Join(dir, name+".pb.gz"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goprof DIR")
		os.Exit(2)
	}
	// Every allocation sampled: exact, reproducible sizes per site.
	runtime.MemProfileRate = 1
	retainBig()
	retainSmall()
	churn()
	var wg sync.WaitGroup
	ch := make(chan struct{})
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go parkA(&wg, ch)
	}
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go parkB(&wg, ch)
	}
	wg.Wait()
	// The heap profile reports as of the last completed GC.
	runtime.GC()
	for _, name := range []string{"heap", "allocs", "goroutine"} {
		write(os.Args[1], name)
	}
	close(ch)
	runtime.KeepAlive(retained)
	cpuProfile(os.Args[1])
}
