//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit statuses, as documented in the package comment.
const (
	exitOK    = 0 // success
	exitError = 1 // the command failed (see its message on standard error)
	exitUsage = 2 // the command line was wrong
)

// A command is one subcommand: its name, its synopsis and help text, and
// the function that runs it. Each lives in its own file.
type command struct {
	name     string
	synopsis string // arguments after the name, for the usage line
	summary  string // one line for the command list
	help     string // the rest of --help, after the flags
	run      func(c *cli, args []string) int
}

// cli carries what every command needs: where to write, and the context
// that SIGINT/SIGTERM cancels.
type cli struct {
	ctx            context.Context
	stdout, stderr io.Writer
	cmd            *command
}

// commands is filled by the init functions of the command files.
var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		c, ok := commands[args[1]]
		if !ok {
			fmt.Fprintf(stderr, "mproc help: unknown command %q\n", args[1])
			usage(stderr)
			return exitUsage
		}
		return c.run(&cli{ctx: ctx, stdout: stdout, stderr: stderr, cmd: c}, append([]string{"--help"}, args[2:]...))
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mproc: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.run(&cli{ctx: ctx, stdout: stdout, stderr: stderr, cmd: c}, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `mproc shows and cleans what mproc keeps in shared memory (/dev/shm/mproc.*).

Usage: mproc COMMAND [ARGUMENTS]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
"mproc help COMMAND" or "mproc COMMAND --help" describes one command.
Exit status: 0 success, 1 error, 2 usage error.
`)
}

// flags returns a flag set for the command whose usage prints the
// command's help.
func (c *cli) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("mproc "+c.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors itself
	return fs
}

// printHelp writes the command's full help to w.
func (c *cli) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: mproc %s %s\n\n%s\n", c.cmd.name, c.cmd.synopsis, c.cmd.summary)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintln(w, "\nFlags:")
			first = false
		}
		arg, text := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		fmt.Fprintf(w, "  --%s%s\n        %s\n", f.Name, arg, text)
	})
	if c.cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.cmd.help))
	}
}

// parse parses args with fs, allowing flags after positional arguments
// ("mproc ls 'jobs-*' --json"); "--" ends the flags. On --help it prints
// the help to stdout and returns exitOK with done set; on a bad flag it
// prints the error and the help to stderr and returns exitUsage.
func (c *cli) parse(fs *flag.FlagSet, args []string) (positional []string, code int, done bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printHelp(c.stdout, fs)
			return nil, exitOK, true
		}
		if err != nil {
			return nil, c.usageError(fs, "%v", err), true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, exitOK, false
		}
		// fs.Parse stops at the first positional argument or after "--".
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), exitOK, false
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError reports a wrong command line: the message, the usage line
// and where the help is.
func (c *cli) usageError(fs *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "mproc %s: %s\nUsage: mproc %s %s\nRun \"mproc %s --help\" for more.\n",
		c.cmd.name, fmt.Sprintf(format, a...), c.cmd.name, c.cmd.synopsis, c.cmd.name)
	return exitUsage
}

// fail reports an error and returns exitError.
func (c *cli) fail(format string, a ...any) int {
	c.errorf(format, a...)
	return exitError
}

// errorf reports an error without deciding the exit status.
func (c *cli) errorf(format string, a ...any) {
	fmt.Fprintf(c.stderr, "mproc %s: %s\n", c.cmd.name, fmt.Sprintf(format, a...))
}
