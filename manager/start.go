//go:build linux

package manager

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mproc/mproc/pickle"
	"github.com/mproc/mproc/process"
)

// Starting a server in a child process (Python's manager.start(), and
// multiprocessing.Manager()). The child is this executable run again by
// package process: programs that call process.Main() first thing in main
// (or TestMain) can start one. The server's configuration and authkey
// travel on a pipe, not in the child's arguments or environment; the child
// answers with the address it listens on.

// childServerFunc is the name under which the child function is registered.
const childServerFunc = "mproc/manager.server"

func init() {
	process.Register(childServerFunc, runChildServer)
}

var registries struct {
	mu sync.Mutex
	m  map[string]func() *Registry
}

// RegisterRegistry names a function making a registry, so that Start can
// run a server with custom types in a child process (StartConfig.Registry):
// call it from an init function, so that the child has it too.
func RegisterRegistry(name string, makeRegistry func() *Registry) {
	registries.mu.Lock()
	defer registries.mu.Unlock()
	if registries.m == nil {
		registries.m = make(map[string]func() *Registry)
	}
	registries.m[name] = makeRegistry
}

func lookupRegistry(name string) (func() *Registry, bool) {
	registries.mu.Lock()
	defer registries.mu.Unlock()
	f, ok := registries.m[name]
	return f, ok
}

// StartConfig configures Start. A nil *StartConfig means the defaults.
type StartConfig struct {
	// Server configures the server in the child. Its functions
	// (AllowCall, ErrorLog) and Registry cannot travel to another process
	// and must be nil; use Registry below for custom types.
	Server *ServerConfig

	// Registry names a registry registered with RegisterRegistry; empty
	// means SyncRegistry().
	Registry string

	// Client configures the returned client.
	Client *ClientConfig

	// Stderr receives the child's standard error (nil: this process's).
	Stderr io.Writer
}

// childConfig is what the parent sends the child on its pipe.
type childConfig struct {
	Address          string
	Authkey          []byte
	Registry         string
	AllowRemote      bool
	MaxMessageSize   int64
	Limits           pickle.Limits
	TrustClients     bool
	HandshakeTimeout time.Duration
	MaxConnections   int
	SessionGrace     time.Duration
	LegacyChallenge  bool
	RefuseMD5        bool
	Serializer       string
}

// Start runs a manager server in a child process and returns a client
// connected to it (Python's manager.start()). The child is a daemon: it
// dies with this process. Manager.Shutdown stops it and waits for it.
// The child raises its own GOMAXPROCS when as many of its threads wait in
// reads as it has Ps (many busy clients), so that a P stays free.
func Start(ctx context.Context, cfg *StartConfig) (*Manager, error) {
	if cfg == nil {
		cfg = &StartConfig{}
	}
	sc := cfg.Server
	if sc == nil {
		sc = DefaultServerConfig()
	}
	if sc.AllowCall != nil || sc.ErrorLog != nil || sc.Registry != nil {
		return nil, fmt.Errorf("%w: StartConfig.Server must not set AllowCall, ErrorLog or Registry (use StartConfig.Registry)", ErrConfig)
	}
	if err := sc.Verify(); err != nil {
		return nil, err
	}
	if sc.Serializer == serializerXMLRPC {
		return nil, fmt.Errorf("%w: the Go client speaks pickle, not %s", ErrConfig, serializerXMLRPC)
	}
	if cfg.Registry != "" {
		if _, ok := lookupRegistry(cfg.Registry); !ok {
			return nil, fmt.Errorf("%w: no registry registered as %q", ErrConfig, cfg.Registry)
		}
	}
	authkey := sc.Authkey
	if authkey == nil {
		authkey = NewAuthkey()
	}
	cc := childConfig{
		Address: sc.Address, Authkey: authkey, Registry: cfg.Registry, AllowRemote: sc.AllowRemote,
		MaxMessageSize: sc.MaxMessageSize, Limits: sc.Limits, TrustClients: sc.TrustClients,
		HandshakeTimeout: sc.HandshakeTimeout, MaxConnections: sc.MaxConnections,
		SessionGrace: sc.SessionGrace, LegacyChallenge: sc.LegacyChallenge, RefuseMD5: sc.RefuseMD5,
		Serializer: sc.Serializer,
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("manager: start: %w", err)
	}
	addrR, addrW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, fmt.Errorf("manager: start: %w", err)
	}
	p, err := process.Start(childServerFunc, &process.Options{
		Name:   "SyncManager-server",
		Files:  []*os.File{cfgR, addrW},
		Daemon: true,
		Stderr: cfg.Stderr,
	})
	cfgR.Close()
	addrW.Close()
	if err != nil {
		cfgW.Close()
		addrR.Close()
		return nil, fmt.Errorf("manager: start: %w", err)
	}
	fail := func(err error) (*Manager, error) {
		p.Kill()
		p.JoinTimeout(5 * time.Second)
		return nil, err
	}
	err = json.NewEncoder(cfgW).Encode(cc)
	cfgW.Close()
	if err != nil {
		addrR.Close()
		return fail(fmt.Errorf("manager: start: sending the configuration: %w", err))
	}
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(addrR).ReadString('\n')
		ch <- answer{line, err}
	}()
	var ans answer
	select {
	case ans = <-ch:
	case <-ctx.Done():
		addrR.Close()
		return fail(ctx.Err())
	}
	addrR.Close()
	line := strings.TrimSpace(ans.line)
	if ans.err != nil || !strings.HasPrefix(line, "ADDRESS ") {
		if msg, ok := strings.CutPrefix(line, "ERROR "); ok {
			return fail(fmt.Errorf("manager: start: server failed: %s", msg))
		}
		return fail(fmt.Errorf("manager: start: the server process exited before listening: %v", errors.Join(ans.err, errors.New(line))))
	}
	m, err := Connect(ctx, strings.TrimPrefix(line, "ADDRESS "), authkey, cfg.Client)
	if err != nil {
		return fail(err)
	}
	m.proc = p
	return m, nil
}

// Process returns the server's process for a manager made by Start (nil
// otherwise).
func (m *Manager) Process() *process.Process { return m.proc }

// runChildServer is the child side of Start.
func runChildServer(a *process.Args) error {
	cfgR, addrW := a.File(0), a.File(1)
	var cc childConfig
	err := json.NewDecoder(cfgR).Decode(&cc)
	cfgR.Close()
	if err != nil {
		fmt.Fprintf(addrW, "ERROR reading the configuration: %v\n", err)
		return err
	}
	reg := SyncRegistry()
	if cc.Registry != "" {
		f, ok := lookupRegistry(cc.Registry)
		if !ok {
			fmt.Fprintf(addrW, "ERROR no registry %q in the server process\n", cc.Registry)
			return fmt.Errorf("manager: no registry %q", cc.Registry)
		}
		reg = f()
	}
	s, err := NewServer(&ServerConfig{
		Address: cc.Address, Authkey: cc.Authkey, Registry: reg, AllowRemote: cc.AllowRemote,
		MaxMessageSize: cc.MaxMessageSize, Limits: cc.Limits, TrustClients: cc.TrustClients,
		HandshakeTimeout: cc.HandshakeTimeout, MaxConnections: cc.MaxConnections,
		SessionGrace: cc.SessionGrace, LegacyChallenge: cc.LegacyChallenge, RefuseMD5: cc.RefuseMD5,
		Serializer: cc.Serializer,
		GrowProcs:  true, // this process is the server alone
	})
	if err == nil {
		err = s.Listen()
	}
	if err != nil {
		fmt.Fprintf(addrW, "ERROR %v\n", err)
		addrW.Close()
		return err
	}
	a0 := s.Addr()
	fmt.Fprintf(addrW, "ADDRESS %s:%s\n", a0.Network, a0.Addr)
	addrW.Close()
	if err := s.Serve(); !errors.Is(err, ErrShutdown) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}
