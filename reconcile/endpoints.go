package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berthdev/berth/service"
)

// EndpointsVersion is the version of the JSON shape of Endpoints (berth
// endpoints --format json): a field renamed or removed raises it.
const EndpointsVersion = 1

// EndpointsDocument is the JSON of berth endpoints --format json and of
// berth test --endpoints-file (version EndpointsVersion).
type EndpointsDocument struct {
	Version   int        `json:"version"`
	Project   string     `json:"project"`
	Endpoints []Endpoint `json:"endpoints"`
}

// NewEndpointsDocument is the document of project's endpoints (an empty
// list, not null, when there are none).
func NewEndpointsDocument(project string, eps []Endpoint) EndpointsDocument {
	if eps == nil {
		eps = []Endpoint{}
	}
	return EndpointsDocument{Version: EndpointsVersion, Project: project, Endpoints: eps}
}

// Endpoint is a published port of a service's container, as a client on
// this host reaches it.
type Endpoint struct {
	// Service and Replica (the container number) say whose port it is;
	// Container is the container's name.
	Service   string `json:"service"`
	Replica   int    `json:"replica"`
	Container string `json:"container"`
	// Target and Protocol are the port in the container.
	Target   int    `json:"target"`
	Protocol string `json:"protocol"`
	// Host and Port are where to connect: a port published on every
	// address is given as loopback (127.0.0.1, or ::1 when published on
	// IPv6 only).
	Host string `json:"host"`
	Port int    `json:"port"`
}

// Address is host:port, with brackets around an IPv6 host.
func (e Endpoint) Address() string {
	if strings.Contains(e.Host, ":") {
		return "[" + e.Host + "]:" + strconv.Itoa(e.Port)
	}
	return e.Host + ":" + strconv.Itoa(e.Port)
}

// Endpoints lists the published ports of the running containers of
// project (one-offs left out), of the services named or all, sorted by
// service, replica, target port and protocol. A port published on both
// IPv4 and IPv6 is listed once, on IPv4.
func Endpoints(ctx context.Context, b service.Backend, project string, services []string) ([]Endpoint, error) {
	cs, err := b.ListContainers(ctx, service.Filter{Labels: map[string]string{service.LabelProject: project}})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", project, err)
	}
	var out []Endpoint
	for _, c := range cs {
		svc := c.Labels[service.LabelService]
		if c.Labels[service.LabelOneoff] == service.OneoffTrue || (len(services) > 0 && !slices.Contains(services, svc)) {
			continue
		}
		n, _ := strconv.Atoi(c.Labels[service.LabelContainerNumber])
		seen := map[string]int{} // target/protocol → index in out, for the IPv4-over-IPv6 choice
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			e := Endpoint{Service: svc, Replica: n, Container: c.Name, Target: int(p.ContainerPort),
				Protocol: p.Protocol, Host: p.HostIP, Port: int(p.HostPort)}
			if e.Protocol == "" {
				e.Protocol = "tcp"
			}
			v6 := strings.Contains(e.Host, ":")
			switch e.Host {
			case "", "0.0.0.0":
				e.Host = "127.0.0.1"
			case "::":
				e.Host = "::1"
			}
			key := strconv.Itoa(e.Target) + "/" + e.Protocol
			if i, ok := seen[key]; ok {
				if !v6 && strings.Contains(out[i].Host, ":") {
					out[i] = e
				}
				continue
			}
			seen[key] = len(out)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		switch {
		case a.Service != b.Service:
			return strings.Compare(a.Service, b.Service)
		case a.Replica != b.Replica:
			return a.Replica - b.Replica
		case a.Target != b.Target:
			return a.Target - b.Target
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
	return out, nil
}

// EndpointEnv names the endpoints for a test process's environment:
// <SERVICE>_<PORT>_HOST, <SERVICE>_<PORT>_PORT and <SERVICE>_<PORT>
// (host:port), the service upper-cased with - and . as _, a protocol other
// than tcp appended to the port (WEB_53_UDP). They name the first replica;
// a service with several also gets <SERVICE>_<N>_<PORT>... for each.
func EndpointEnv(eps []Endpoint) []string {
	replicas := map[string]map[int]bool{}
	for _, e := range eps {
		if replicas[e.Service] == nil {
			replicas[e.Service] = map[int]bool{}
		}
		replicas[e.Service][e.Replica] = true
	}
	name := strings.NewReplacer("-", "_", ".", "_")
	var out []string
	first := map[string]bool{}
	for _, e := range eps {
		port := strconv.Itoa(e.Target)
		if e.Protocol != "tcp" {
			port += "_" + strings.ToUpper(e.Protocol)
		}
		svc := strings.ToUpper(name.Replace(e.Service))
		var prefixes []string
		if key := e.Service + "/" + port; !first[key] {
			first[key] = true
			prefixes = append(prefixes, svc+"_"+port)
		}
		if len(replicas[e.Service]) > 1 {
			prefixes = append(prefixes, svc+"_"+strconv.Itoa(e.Replica)+"_"+port)
		}
		for _, p := range prefixes {
			out = append(out, p+"_HOST="+e.Host, p+"_PORT="+strconv.Itoa(e.Port), p+"="+e.Address())
		}
	}
	return out
}
