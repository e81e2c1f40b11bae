//go:build !linux

package builtin

import (
	"fmt"
	"syscall"

	"github.com/berthdev/berth/service"
	"github.com/berthdev/berth/service/builtin/records"
)

func supportedOS() error { return fmt.Errorf("it runs on Linux only: %w", service.ErrUnsupported) }

func unixSignalNum(string) syscall.Signal { return 0 }

func (b *Backend) setUpNetwork(*networkRecord) error            { return errLinuxOnly }
func (b *Backend) tearDownNetwork(networkRecord)                {}
func (b *Backend) ensureDNS() error                             { return errLinuxOnly }
func (b *Backend) stopDNS()                                     {}
func (b *Backend) allocateIPs(string) error                     { return errLinuxOnly }
func (b *Backend) setUpEndpoints(*records.Container, int) error { return errLinuxOnly }
func dnsMain([]string) int                                      { return 1 }

func orderedNetworks(*records.Container) []struct {
	Name string
	A    records.Attachment
} {
	return nil
}

var errLinuxOnly = fmt.Errorf("the built-in runtime runs on Linux only: %w", service.ErrUnsupported)

const dnsCommand = "__berth-dns"

func (s *shim) start() (*run, error) { return nil, errLinuxOnly }

func (b *Backend) hotPlug(string, string) error               { return errLinuxOnly }
func (b *Backend) hotUnplug(*records.Container, string) error { return errLinuxOnly }
