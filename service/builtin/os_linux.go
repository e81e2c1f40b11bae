package builtin

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

func supportedOS() error { return nil }

func unixSignalNum(name string) syscall.Signal { return unix.SignalNum(name) }

func signalNotify(c chan os.Signal) { signal.Notify(c, syscall.SIGTERM, syscall.SIGINT) }
