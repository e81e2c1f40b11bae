// Package network is the built-in runtime's networking, below the state
// records: the Linux bridge of a network with its subnet and iptables rules,
// a container's veth endpoints (bridge_linux.go), the DNS server that
// answers container names on the bridges' gateways (dns.go, fed through
// Source), and the userspace proxy that publishes ports (ports.go). It
// knows nothing of how package builtin stores containers and networks: the
// callers pass plain values.
package network
