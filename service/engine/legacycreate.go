package engine

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// legacyCreateBody is a container create request carrying the
// container-wide MacAddress, which engines before API 1.44 read (and apply
// to the endpoint of the network the container is created on) while they
// ignore the per-endpoint one; the moby client's container.Config no
// longer has the field.
type legacyCreateBody struct {
	*container.Config
	MacAddress       string                    `json:",omitempty"`
	HostConfig       *container.HostConfig     `json:",omitempty"`
	NetworkingConfig *network.NetworkingConfig `json:",omitempty"`
}

// ContainerCreateWithMAC creates a container as ContainerCreate does, with
// macAddress as the container's Config.MacAddress: what docker compose
// v2 sends engines before API 1.44 for a service's mac_address. Errors carry
// the engine's message and the containerd errdefs class of the status
// code, like the moby client's.
func (c *engineClient) ContainerCreateWithMAC(ctx context.Context, o client.ContainerCreateOptions, macAddress string) (client.ContainerCreateResult, error) {
	q := url.Values{}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	if p := o.Platform; p != nil && p.OS != "" {
		q.Set("platform", strings.Join(slices.DeleteFunc([]string{p.OS, p.Architecture, p.Variant}, func(s string) bool { return s == "" }), "/"))
	}
	body := legacyCreateBody{Config: o.Config, MacAddress: macAddress, HostConfig: o.HostConfig, NetworkingConfig: o.NetworkingConfig}
	if hc := o.HostConfig; hc != nil {
		// as the moby client sends them: "CAP_X", sorted, once each
		n := *hc
		n.CapAdd, n.CapDrop = normalizeCaps(hc.CapAdd), normalizeCaps(hc.CapDrop)
		body.HostConfig = &n
	}
	path := "/containers/create"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out container.CreateResponse
	if err := postJSON(ctx, c.hc, c.ClientVersion(), path, body, &out); err != nil {
		return client.ContainerCreateResult{}, err
	}
	return client.ContainerCreateResult{ID: out.ID, Warnings: out.Warnings}, nil
}

// normalizeCaps writes capabilities as the moby client does: upper case,
// with the "CAP_" prefix ("ALL" aside), sorted, without duplicates.
func normalizeCaps(caps []string) []string {
	if caps == nil {
		return nil
	}
	out := make([]string, len(caps))
	for i, c := range caps {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out[i] = c
	}
	slices.Sort(out)
	return slices.Compact(out)
}
