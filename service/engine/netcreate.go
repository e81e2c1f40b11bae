package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// apiNetworkNamesUnique is the first API version whose engines refuse a
// second network of the same name on their own; older ones do so only when
// the create request sets CheckDuplicate.
const apiNetworkNamesUnique = "1.44"

// engineClient is the moby client plus the one call it no longer makes the
// way berth needs: a network create with CheckDuplicate, for engines before
// API 1.44. The moby client (github.com/moby/moby/client) dropped that field
// while it still speaks to those engines (down to API 1.40), so the request
// is made here, over the client's own connection to the engine.
type engineClient struct {
	*client.Client
	hc *http.Client
}

// newEngineClient wraps c. Requests of its own go through c's dialer (unix
// socket, TCP or TLS, as DOCKER_HOST and DOCKER_TLS_VERIFY say).
func newEngineClient(c *client.Client) *engineClient {
	dial := c.Dialer()
	return &engineClient{Client: c, hc: &http.Client{Transport: &http.Transport{
		DialContext:     func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}}}
}

// Close releases both clients' idle connections.
func (c *engineClient) Close() error {
	c.hc.CloseIdleConnections()
	return c.Client.Close()
}

// checkedCreateRequest is a network create request with the duplicate check
// asked for (the field engines before API 1.44 read; later ones ignore it).
type checkedCreateRequest struct {
	network.CreateRequest
	CheckDuplicate bool
}

// NetworkCreateChecked creates a network as NetworkCreate does, asking the
// engine to refuse the name if a network has it already: what docker compose
// gets from the docker/docker client it links, which sets CheckDuplicate for
// API versions before 1.44. Errors carry the engine's message and the
// containerd errdefs class of the status code, like the moby client's.
func (c *engineClient) NetworkCreateChecked(ctx context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	req := checkedCreateRequest{CheckDuplicate: true, CreateRequest: network.CreateRequest{
		Name: name, Driver: o.Driver, Scope: o.Scope, EnableIPv4: o.EnableIPv4, EnableIPv6: o.EnableIPv6,
		IPAM: o.IPAM, Internal: o.Internal, Attachable: o.Attachable, Ingress: o.Ingress,
		ConfigOnly: o.ConfigOnly, Options: o.Options, Labels: o.Labels,
	}}
	if o.ConfigFrom != "" {
		req.ConfigFrom = &network.ConfigReference{Network: o.ConfigFrom}
	}
	var out network.CreateResponse
	if err := postJSON(ctx, c.hc, c.ClientVersion(), "/networks/create", req, &out); err != nil {
		return client.NetworkCreateResult{}, err
	}
	res := client.NetworkCreateResult{ID: out.ID}
	if out.Warning != "" {
		res.Warning = []string{out.Warning}
	}
	return res, nil
}

// postJSON posts body, as JSON, to path of API version apiVersion and
// decodes the answer into out. An answer other than 2xx is an error with the
// engine's message, classed as the moby client classes it.
func postJSON(ctx context.Context, hc *http.Client, apiVersion, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	// The host part is not used to connect (the dialer is); the engine
	// accepts any, as the moby client's "api.moby.localhost" shows.
	url := "http://api.moby.localhost"
	if apiVersion != "" {
		url += "/v" + apiVersion
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "berth")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("error during connect: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the engine's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var msg struct{ Message string }
		if json.Unmarshal(raw, &msg) != nil || msg.Message == "" {
			msg.Message = strings.TrimSpace(string(raw))
		}
		return fmt.Errorf("%s: %w", "Error response from daemon: "+msg.Message, classOf(resp.StatusCode))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the engine's answer: %w", err)
	}
	return nil
}

// classOf is the containerd errdefs error for an HTTP status code, as the
// moby client maps them.
func classOf(code int) error {
	switch code {
	case http.StatusBadRequest:
		return cerrdefs.ErrInvalidArgument
	case http.StatusUnauthorized:
		return cerrdefs.ErrUnauthenticated
	case http.StatusForbidden:
		return cerrdefs.ErrPermissionDenied
	case http.StatusNotFound:
		return cerrdefs.ErrNotFound
	case http.StatusConflict:
		return cerrdefs.ErrConflict
	case http.StatusNotImplemented:
		return cerrdefs.ErrNotImplemented
	case http.StatusServiceUnavailable:
		return cerrdefs.ErrUnavailable
	}
	if code >= 500 {
		return cerrdefs.ErrInternal
	}
	return cerrdefs.ErrUnknown
}
