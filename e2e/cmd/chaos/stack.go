package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/secure-agent/secure-agent/deploy/local/stack"
)

// replicas runs two processes of every service.
var replicas = map[string]int{"orchestrator": 2, "extractor": 2, "publisher": 2, "health": 2}

// supervisedStack is the running stack with its supervisor, which starts
// every killed process again (as a container orchestrator would).
type supervisedStack struct {
	s *stack.Stack
	// ctx ends on Ctrl-C or when the supervisor gives up on a process.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error // the supervisor's result
}

// startStack starts the local profile with production timings (the
// default ack wait of 60 s) and supervises it.
func startStack(ctx context.Context, cfg config, dataDir string) (*supervisedStack, error) {
	s, err := stack.Start(ctx, stack.Options{
		Root: cfg.root, DataDir: dataDir, Profile: "local", PortBase: cfg.portBase,
		Replicas: replicas, StartTimeout: 3 * time.Minute, Progress: os.Stderr,
		// Every kill is a restart: the supervisor must never give up.
		Restarts: 100000,
	})
	if err != nil {
		return nil, fmt.Errorf("start the stack: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	superCtx, stopSupervisor := context.WithCancel(context.Background())
	st := &supervisedStack{s: s, ctx: runCtx, done: make(chan error, 1)}
	go func() {
		err := s.Wait(superCtx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "chaos: the supervisor gave up: %v\n", err)
			cancel()
		}
		st.done <- err
	}()
	st.cancel = func() { stopSupervisor(); cancel() }
	return st, nil
}

// stop ends the supervisor, then the stack; it returns the supervisor's
// error, if it gave up, and the stack's.
func (st *supervisedStack) stop() error {
	st.cancel()
	superErr := <-st.done
	fmt.Fprintln(os.Stderr, "chaos: stopping the stack")
	stopErr := st.s.Stop()
	if superErr != nil {
		superErr = fmt.Errorf("the supervisor gave up on a process: %w", superErr)
	}
	if stopErr != nil {
		stopErr = fmt.Errorf("stop the stack: %w", stopErr)
	}
	return errors.Join(superErr, stopErr)
}
