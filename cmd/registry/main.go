// Command plugboard-registry runs the Plugboard service registry. It takes no
// arguments; PLUGBOARD_* environment variables configure it (see --help).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/caarlos0/env/v11"

	"github.com/plugboard/plugboard/registry/registryd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := registryd.Main(ctx, os.Args[1:], env.ToMap(os.Environ()), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "plugboard-registry:", err)
		os.Exit(1)
	}
}
