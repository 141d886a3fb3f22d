//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"

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
	if err := sc.Verify(); err != nil {
		return err
	}
	return manager.Serve(ctx, sc, func(s *manager.Server) {
		fmt.Fprintf(c.stdout, "serving on %s\n", s.Addr())
	})
}
