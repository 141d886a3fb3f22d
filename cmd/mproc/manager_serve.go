//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/mproc/mproc/manager"
)

// The manager package's server, for "mproc manager serve".
func init() { serveManager = serveWithManager }

func serveWithManager(ctx context.Context, c *cli, cfg managerConfig) error {
	sc := manager.DefaultServerConfig()
	sc.Address = cfg.address
	sc.Authkey = cfg.authkey
	sc.AllowRemote = cfg.allowRemote
	sc.Serializer = cfg.serializer
	sc.GrowProcs = true // the server is this process's only work
	if len(cfg.shared) > 0 {
		sc.Registry = manager.SyncRegistry()
		for id, base := range cfg.shared {
			if err := sc.Registry.Register(manager.Type{TypeID: id, Base: base, Shared: true}); err != nil {
				return err
			}
		}
	}
	sc.ErrorLog = func(format string, args ...any) {
		fmt.Fprintln(c.stderr, "mproc manager: "+strings.TrimSuffix(fmt.Sprintf(format, args...), "\n"))
	}
	if err := checkAddress(cfg.address, cfg.allowRemote); err != nil {
		return err
	}
	if err := sc.Verify(); err != nil {
		return err
	}
	return manager.Serve(ctx, sc, func(s *manager.Server) {
		fmt.Fprintf(c.stdout, "serving on %s\n", s.Addr())
	})
}

// checkAddress refuses what the library would take but a command-line
// user cannot use, in the command line's words: an empty socket path
// (the kernel would pick an abstract name nobody learns), a non-loopback
// TCP host without --allow-remote. A socket file that nothing listens on
// (left by a killed server) is removed so the server can start again; any
// other file at the path is refused, not replaced.
func checkAddress(address string, allowRemote bool) error {
	a, err := manager.ParseAddress(address)
	if err != nil {
		return err
	}
	switch a.Network {
	case "tcp":
		host, _, err := net.SplitHostPort(a.Addr)
		if err != nil {
			return nil // the library reports it
		}
		if !allowRemote && !isLoopback(host) {
			return fmt.Errorf("address %q is not a loopback address: pass --allow-remote to listen on it (the traffic is authenticated, not encrypted)", address)
		}
	case "unix":
		switch {
		case a.Addr == "":
			return fmt.Errorf("address %q: empty socket path", address)
		case strings.HasPrefix(a.Addr, "@") || strings.HasPrefix(a.Addr, "\x00"):
			return nil // abstract: no file
		}
		return removeStaleSocket(a.Addr)
	}
	return nil
}

// isLoopback reports whether host names a loopback address, as the
// manager package decides it.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// removeStaleSocket removes the socket file at path if nothing listens on
// it, and refuses a path that holds anything else.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket path: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket path %s exists and is not a socket; not replacing it", path)
	}
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	switch {
	case err == nil:
		conn.Close()
		return fmt.Errorf("socket path %s is in use: a server is listening on it", path)
	case errors.Is(err, syscall.ECONNREFUSED):
		// Stale: its server is gone.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale socket: %w", err)
		}
	}
	return nil // anything else: listen reports it
}
