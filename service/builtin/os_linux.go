package builtin

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func supportedOS() error { return nil }

func unixSignalNum(name string) syscall.Signal { return unix.SignalNum(name) }
