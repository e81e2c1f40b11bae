package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

// fakeClient is a hand-written stub of apiClient. Methods a test does not
// set up panic through the nil embedded interface.
type fakeClient struct {
	apiClient

	version string

	mu        sync.Mutex
	calls     []string
	created   []client.ContainerCreateOptions
	connected []client.NetworkConnectOptions
	connNets  []string

	createErr  error
	connectErr error
	removeErr  error
	list       []container.Summary
	inspect    container.InspectResponse
	networks   []network.Summary
	// networkLists, when set, are what NetworkList returns, one per call,
	// before networks
	networkLists [][]network.Summary
	events       chan events.Message
	eventErrs    chan error
	top          client.ContainerTopResult
	archive      string // what CopyFromContainer streams
}

func (f *fakeClient) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeClient) ClientVersion() string { return f.version }
func (f *fakeClient) Close() error          { return nil }

func (f *fakeClient) ContainerCreate(_ context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	f.record("create " + o.Name)
	f.created = append(f.created, o)
	if f.createErr != nil {
		return client.ContainerCreateResult{}, f.createErr
	}
	return client.ContainerCreateResult{ID: "id-" + o.Name}, nil
}

func (f *fakeClient) NetworkConnect(_ context.Context, netw string, o client.NetworkConnectOptions) (client.NetworkConnectResult, error) {
	f.record("connect " + netw + " " + o.Container)
	f.connNets = append(f.connNets, netw)
	f.connected = append(f.connected, o)
	return client.NetworkConnectResult{}, f.connectErr
}

func (f *fakeClient) ContainerRemove(_ context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	f.record(fmt.Sprintf("remove %s force=%v", id, o.Force))
	return client.ContainerRemoveResult{}, f.removeErr
}

func (f *fakeClient) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	b, _ := json.Marshal(o.Filters)
	f.record(fmt.Sprintf("list all=%v filters=%s", o.All, b))
	return client.ContainerListResult{Items: f.list}, nil
}

func (f *fakeClient) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.record("inspect " + id)
	return client.ContainerInspectResult{Container: f.inspect}, nil
}

func (f *fakeClient) NetworkList(_ context.Context, o client.NetworkListOptions) (client.NetworkListResult, error) {
	b, _ := json.Marshal(o.Filters)
	f.record(fmt.Sprintf("network list filters=%s", b))
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.networkLists) > 0 {
		items := f.networkLists[0]
		f.networkLists = f.networkLists[1:]
		return client.NetworkListResult{Items: items}, nil
	}
	return client.NetworkListResult{Items: f.networks}, nil
}

func (f *fakeClient) NetworkCreate(_ context.Context, name string, _ client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	f.record("network create " + name)
	return client.NetworkCreateResult{ID: "net-" + name}, nil
}

func (f *fakeClient) NetworkRemove(_ context.Context, id string, _ client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	f.record("network remove " + id)
	return client.NetworkRemoveResult{}, nil
}

func (f *fakeClient) NetworkCreateChecked(_ context.Context, name string, _ client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	f.record("network create checked " + name)
	return client.NetworkCreateResult{ID: "net-" + name}, nil
}

func (f *fakeClient) Events(ctx context.Context, o client.EventsListOptions) client.EventsResult {
	b, _ := json.Marshal(o.Filters)
	call := fmt.Sprintf("events filters=%s", b)
	if o.Since != "" || o.Until != "" {
		call += fmt.Sprintf(" since=%s until=%s", o.Since, o.Until)
	}
	f.record(call)
	return client.EventsResult{Messages: f.events, Err: f.eventErrs}
}

func (f *fakeClient) ContainerTop(_ context.Context, id string, o client.ContainerTopOptions) (client.ContainerTopResult, error) {
	f.record(fmt.Sprintf("top %s %q", id, o.Arguments))
	return f.top, nil
}

func (f *fakeClient) CopyFromContainer(_ context.Context, id string, o client.CopyFromContainerOptions) (client.CopyFromContainerResult, error) {
	f.record("copy from " + id + " " + o.SourcePath)
	return client.CopyFromContainerResult{Content: io.NopCloser(strings.NewReader(f.archive))}, nil
}

func TestNewCreateRequestPorts(t *testing.T) {
	spec := service.ContainerSpec{
		Name:  "p-web-1",
		Image: "img",
		Ports: []service.PortBinding{
			{HostIP: "127.0.0.1", HostPort: "8080", ContainerPort: 80},
			{HostIP: "::1", HostPort: "8080", ContainerPort: 80, Protocol: "tcp"},
			{HostPort: "9000-9010", ContainerPort: 53, Protocol: "UDP"},
			{ContainerPort: 443},
		},
		Expose: []string{"7000", "7100-7101/udp"},
	}
	req, err := newCreateRequest(spec, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	want := network.PortMap{
		network.MustParsePort("80/tcp"): {
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"},
			{HostIP: netip.MustParseAddr("::1"), HostPort: "8080"},
		},
		network.MustParsePort("53/udp"):  {{HostPort: "9000-9010"}},
		network.MustParsePort("443/tcp"): {{}},
	}
	if got := req.options.HostConfig.PortBindings; !reflect.DeepEqual(got, want) {
		t.Errorf("PortBindings = %v, want %v", got, want)
	}
	var exposed []string
	for p := range req.options.Config.ExposedPorts {
		exposed = append(exposed, p.String())
	}
	slices.Sort(exposed)
	if want := []string{"443/tcp", "53/udp", "7000/tcp", "7100/udp", "7101/udp", "80/tcp"}; !slices.Equal(exposed, want) {
		t.Errorf("ExposedPorts = %v, want %v", exposed, want)
	}

	for _, bad := range []service.PortBinding{{HostIP: "localhost", ContainerPort: 80}} {
		if _, err := newCreateRequest(service.ContainerSpec{Ports: []service.PortBinding{bad}}, "1.41"); err == nil {
			t.Errorf("port %+v: no error", bad)
		}
	}
	if _, err := newCreateRequest(service.ContainerSpec{Expose: []string{"x"}}, "1.41"); err == nil {
		t.Error("expose x: no error")
	}
}

func TestNewCreateRequestMounts(t *testing.T) {
	tests := []struct {
		name       string
		apiVersion string
		mount      service.Mount
		wantMount  *mount.Mount
		wantBind   string
		wantErr    error
	}{
		{
			name:      "bind",
			mount:     service.Mount{Type: service.MountBind, Source: "/src", Target: "/dst", ReadOnly: true, Propagation: "rshared"},
			wantMount: &mount.Mount{Type: mount.TypeBind, Source: "/src", Target: "/dst", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared}},
		},
		{
			name:      "bind plain",
			mount:     service.Mount{Type: service.MountBind, Source: "/src", Target: "/dst"},
			wantMount: &mount.Mount{Type: mount.TypeBind, Source: "/src", Target: "/dst"},
		},
		{
			name:     "bind creating the host path",
			mount:    service.Mount{Type: service.MountBind, Source: "/src", Target: "/dst", CreateHostPath: true},
			wantBind: "/src:/dst",
		},
		{
			name:     "bind creating the host path read-only",
			mount:    service.Mount{Type: service.MountBind, Source: "/src", Target: "/dst", CreateHostPath: true, ReadOnly: true, Propagation: "rslave"},
			wantBind: "/src:/dst:ro,rslave",
		},
		{
			name:      "named volume",
			mount:     service.Mount{Type: service.MountVolume, Source: "p_data", Target: "/data", NoCopy: true},
			wantMount: &mount.Mount{Type: mount.TypeVolume, Source: "p_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		},
		{
			name:      "anonymous volume",
			mount:     service.Mount{Type: service.MountVolume, Target: "/data"},
			wantMount: &mount.Mount{Type: mount.TypeVolume, Target: "/data"},
		},
		{
			name:       "volume subpath",
			apiVersion: "1.45",
			mount:      service.Mount{Type: service.MountVolume, Source: "v", Target: "/data", Subpath: "sub"},
			wantMount:  &mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/data", VolumeOptions: &mount.VolumeOptions{Subpath: "sub"}},
		},
		{
			name:    "volume subpath on an old engine",
			mount:   service.Mount{Type: service.MountVolume, Source: "v", Target: "/data", Subpath: "sub"},
			wantErr: service.ErrUnsupported,
		},
		{
			name:      "tmpfs",
			mount:     service.Mount{Type: service.MountTmpfs, Target: "/run", TmpfsSize: 1 << 20, TmpfsMode: 0o1777},
			wantMount: &mount.Mount{Type: mount.TypeTmpfs, Target: "/run", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}},
		},
		{
			name:    "unknown type",
			mount:   service.Mount{Type: "npipe", Source: "x", Target: "/x"},
			wantErr: service.ErrUnsupported,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := cmpOr(tt.apiVersion, "1.41")
			req, err := newCreateRequest(service.ContainerSpec{Name: "c", Image: "i", Mounts: []service.Mount{tt.mount}}, v)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hc := req.options.HostConfig
			var wantMounts []mount.Mount
			if tt.wantMount != nil {
				wantMounts = []mount.Mount{*tt.wantMount}
			}
			if !reflect.DeepEqual(hc.Mounts, wantMounts) {
				t.Errorf("Mounts = %+v, want %+v", hc.Mounts, wantMounts)
			}
			var wantBinds []string
			if tt.wantBind != "" {
				wantBinds = []string{tt.wantBind}
			}
			if !slices.Equal(hc.Binds, wantBinds) {
				t.Errorf("Binds = %q, want %q", hc.Binds, wantBinds)
			}
		})
	}
}

// cmpOr returns a unless it is empty, else b.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestNewCreateRequestHealthcheck(t *testing.T) {
	h := &service.Healthcheck{
		Test:        []string{"CMD", "true"},
		Interval:    time.Second,
		Timeout:     2 * time.Second,
		StartPeriod: 3 * time.Second,
		Retries:     4,
	}
	req, err := newCreateRequest(service.ContainerSpec{Image: "i", Healthcheck: h}, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	want := &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4}
	if got := req.options.Config.Healthcheck; !reflect.DeepEqual(got, want) {
		t.Errorf("Healthcheck = %+v, want %+v", got, want)
	}

	h.StartInterval = time.Second
	if req, err := newCreateRequest(service.ContainerSpec{Image: "i", Healthcheck: h}, "1.41"); err != nil || req.options.Config.Healthcheck.StartInterval != 0 {
		t.Errorf("start interval on 1.41 (ignored by the engine, as docker compose sends it): %v, %v", err, req.options.Config.Healthcheck)
	}
	req, err = newCreateRequest(service.ContainerSpec{Image: "i", Healthcheck: h}, "1.44")
	if err != nil {
		t.Fatal(err)
	}
	if got := req.options.Config.Healthcheck.StartInterval; got != time.Second {
		t.Errorf("StartInterval = %v", got)
	}

	req, err = newCreateRequest(service.ContainerSpec{Image: "i", Healthcheck: &service.Healthcheck{Test: []string{"NONE"}}}, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	if got := req.options.Config.Healthcheck.Test; !slices.Equal(got, []string{"NONE"}) {
		t.Errorf("disabled healthcheck Test = %q", got)
	}
}

// TestNewCreateRequestNetworkIDs: an endpoint's network ID, when known, is
// in its settings (the engine resolves the network by it at start) and is
// what the networks connected after create are addressed by, so that a name
// several networks share blocks nothing.
func TestNewCreateRequestNetworkIDs(t *testing.T) {
	spec := service.ContainerSpec{Networks: []service.Endpoint{
		{Network: "p_front", NetworkID: "id-front", Priority: 10},
		{Network: "p_back", NetworkID: "id-back"},
		{Network: "p_other"},
	}}
	req, err := newCreateRequest(spec, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	if es := req.options.NetworkingConfig.EndpointsConfig["p_front"]; es == nil || es.NetworkID != "id-front" {
		t.Errorf("primary endpoint = %+v, want NetworkID id-front", es)
	}
	var got []string
	for _, c := range req.connect {
		got = append(got, c.network+"/"+c.settings.NetworkID)
	}
	if want := []string{"id-back/id-back", "p_other/"}; !slices.Equal(got, want) {
		t.Errorf("connected after create = %q, want %q", got, want)
	}
}

func TestNewCreateRequestNetworks(t *testing.T) {
	nets := []service.Endpoint{
		{Network: "p_back", Aliases: []string{"db"}},
		{Network: "p_front", Aliases: []string{"web", "www"}, IPv4Address: "172.30.0.5", Priority: 10},
		{Network: "p_other", IPv6Address: "fd00::5"},
	}
	tests := []struct {
		name        string
		apiVersion  string
		spec        service.ContainerSpec
		wantMode    string
		wantAtStart []string
		wantConnect []string
	}{
		{
			name:        "API 1.41: primary at create, the others connected",
			apiVersion:  "1.41",
			spec:        service.ContainerSpec{Networks: nets},
			wantMode:    "p_front",
			wantAtStart: []string{"p_front"},
			wantConnect: []string{"p_back", "p_other"},
		},
		{
			name:        "API 1.44: all at create",
			apiVersion:  "1.44",
			spec:        service.ContainerSpec{Networks: nets},
			wantMode:    "p_front",
			wantAtStart: []string{"p_back", "p_front", "p_other"},
		},
		{
			name:        "equal priorities keep the spec order",
			apiVersion:  "1.41",
			spec:        service.ContainerSpec{Networks: nets[:1:1]},
			wantMode:    "p_back",
			wantAtStart: []string{"p_back"},
		},
		{
			name:       "network mode host: no networks",
			apiVersion: "1.41",
			spec:       service.ContainerSpec{NetworkMode: "host", Networks: nets},
			wantMode:   "host",
		},
		{
			name:       "network mode of another container",
			apiVersion: "1.44",
			spec:       service.ContainerSpec{NetworkMode: "container:abc"},
			wantMode:   "container:abc",
		},
		{
			name:       "no networks: the engine's default",
			apiVersion: "1.41",
			spec:       service.ContainerSpec{},
			wantMode:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Image = "i"
			req, err := newCreateRequest(tt.spec, tt.apiVersion)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(req.options.HostConfig.NetworkMode); got != tt.wantMode {
				t.Errorf("NetworkMode = %q, want %q", got, tt.wantMode)
			}
			var atStart []string
			if nc := req.options.NetworkingConfig; nc != nil {
				for n := range nc.EndpointsConfig {
					atStart = append(atStart, n)
				}
			}
			slices.Sort(atStart)
			if !slices.Equal(atStart, tt.wantAtStart) {
				t.Errorf("networks at create = %q, want %q", atStart, tt.wantAtStart)
			}
			var connect []string
			for _, ep := range req.connect {
				connect = append(connect, ep.network)
			}
			if !slices.Equal(connect, tt.wantConnect) {
				t.Errorf("networks to connect = %q, want %q", connect, tt.wantConnect)
			}
		})
	}

	req, err := newCreateRequest(service.ContainerSpec{Image: "i", Networks: nets}, "1.44")
	if err != nil {
		t.Fatal(err)
	}
	front := req.options.NetworkingConfig.EndpointsConfig["p_front"]
	if !slices.Equal(front.Aliases, []string{"web", "www"}) || front.IPAMConfig == nil || front.IPAMConfig.IPv4Address != netip.MustParseAddr("172.30.0.5") || front.IPAMConfig.IPv6Address.IsValid() {
		t.Errorf("p_front endpoint = %+v (ipam %+v)", front, front.IPAMConfig)
	}
	if other := req.options.NetworkingConfig.EndpointsConfig["p_other"]; other.IPAMConfig.IPv6Address != netip.MustParseAddr("fd00::5") {
		t.Errorf("p_other ipam = %+v", other.IPAMConfig)
	}

	mac := []service.Endpoint{{Network: "n", MacAddress: "02:42:AC:11:00:02"}, {Network: "o"}}
	req, err = newCreateRequest(service.ContainerSpec{Image: "i", Networks: mac}, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	if req.macAddress != "02:42:ac:11:00:02" || len(req.options.NetworkingConfig.EndpointsConfig["n"].MacAddress) != 0 {
		t.Errorf("mac address of the primary network on 1.41: container-wide %q, endpoint %v; want it container-wide only", req.macAddress, req.options.NetworkingConfig.EndpointsConfig["n"].MacAddress)
	}
	other := []service.Endpoint{{Network: "n"}, {Network: "o", MacAddress: "02:42:ac:11:00:02"}}
	if _, err := newCreateRequest(service.ContainerSpec{Image: "i", Networks: other}, "1.41"); !errors.Is(err, service.ErrUnsupported) {
		t.Errorf("mac address of another network on 1.41: err = %v, want ErrUnsupported", err)
	}
	if _, err := newCreateRequest(service.ContainerSpec{Image: "i", Networks: []service.Endpoint{{Network: "n", MacAddress: "nope"}}}, "1.41"); err == nil || !strings.Contains(err.Error(), `network "n": mac address`) {
		t.Errorf("invalid mac address on 1.41: err = %v", err)
	}
	for _, eps := range [][]service.Endpoint{mac, other} {
		req, err = newCreateRequest(service.ContainerSpec{Image: "i", Networks: eps}, "1.44")
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			if got, want := req.options.NetworkingConfig.EndpointsConfig[ep.Network].MacAddress.String(), strings.ToLower(ep.MacAddress); got != want || req.macAddress != "" {
				t.Errorf("1.44: mac of %s = %q, want %q (container-wide %q, want none)", ep.Network, got, want, req.macAddress)
			}
		}
	}
}

func TestNewCreateRequestLinks(t *testing.T) {
	links := []string{"p-db-1:database", "p-db-1:db-1", "ext:ext"}
	for _, version := range []string{"1.41", "1.44"} {
		req, err := newCreateRequest(service.ContainerSpec{Image: "i", Links: links, Networks: []service.Endpoint{{Network: "a"}, {Network: "b"}}}, version)
		if err != nil {
			t.Fatal(err)
		}
		if got := req.options.HostConfig.Links; !slices.Equal(got, links) {
			t.Errorf("%s: HostConfig.Links = %q, want %q", version, got, links)
		}
		eps := maps.Clone(req.options.NetworkingConfig.EndpointsConfig)
		for _, c := range req.connect {
			eps[c.network] = c.settings
		}
		for _, n := range []string{"a", "b"} {
			if got := eps[n].Links; !slices.Equal(got, links) {
				t.Errorf("%s: links of the endpoint on %s = %q, want %q (as docker compose)", version, n, got, links)
			}
		}
	}
}

// TestCreateContainerWithMAC: on an API 1.41 engine the primary network's
// MAC address goes in the create body's Config.MacAddress, the only one
// those engines read, with the rest of the request as the moby client sends it.
func TestCreateContainerWithMAC(t *testing.T) {
	var got map[string]any
	var query string
	status := http.StatusCreated
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Write([]byte("OK"))
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v1.41/containers/create" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
		query = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusCreated {
			json.NewEncoder(w).Encode(map[string]any{"Id": "c1", "Warnings": []string{}})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"message": "No such image: i:1"})
	}))
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	b, err := New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	spec := service.ContainerSpec{Name: "p-web-1", Image: "i:1", Platform: "linux/amd64", CapAdd: []string{"net_admin"},
		Links:    []string{"p-db-1:database"},
		Networks: []service.Endpoint{{Network: "p_default", Aliases: []string{"web"}, MacAddress: "02:42:ac:11:00:99"}}}
	id, err := b.CreateContainer(t.Context(), spec)
	if err != nil || id != "c1" {
		t.Fatalf("create: %q, %v", id, err)
	}
	if got["MacAddress"] != "02:42:ac:11:00:99" || got["Image"] != "i:1" {
		t.Errorf("body = %v, want MacAddress and Image at the top", got)
	}
	hc, _ := got["HostConfig"].(map[string]any)
	if hc["NetworkMode"] != "p_default" || fmt.Sprint(hc["CapAdd"]) != "[CAP_NET_ADMIN]" || fmt.Sprint(hc["Links"]) != "[p-db-1:database]" {
		t.Errorf("HostConfig = %v", hc)
	}
	nc, _ := got["NetworkingConfig"].(map[string]any)
	if ep := fmt.Sprint(nc["EndpointsConfig"]); !strings.Contains(ep, "Aliases:[web]") || !strings.Contains(ep, "Links:[p-db-1:database]") {
		t.Errorf("EndpointsConfig = %s", ep)
	}
	if query != "name=p-web-1&platform=linux%2Famd64" {
		t.Errorf("query = %q", query)
	}
	status = http.StatusNotFound
	if _, err := b.CreateContainer(t.Context(), spec); !errors.Is(err, service.ErrNotFound) || !strings.Contains(err.Error(), `image "i:1" not found`) {
		t.Errorf("missing image: err = %v", err)
	}
}

func TestNewCreateRequestFields(t *testing.T) {
	initTrue := true
	stop := 1500 * time.Millisecond
	spec := service.ContainerSpec{
		Name:        "p-web-1",
		Image:       "nginx:1",
		Platform:    "linux/arm64/v8",
		Labels:      map[string]string{"a": "b"},
		Entrypoint:  []string{},
		Command:     []string{"nginx", "-g", "daemon off;"},
		Env:         []string{"A=1"},
		WorkingDir:  "/w",
		User:        "1000:1000",
		GroupAdd:    []string{"audio"},
		Hostname:    "web",
		Domainname:  "example.org",
		Tty:         true,
		OpenStdin:   true,
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Init:        &initTrue,
		Privileged:  true,
		ReadOnly:    true,
		StopSignal:  "SIGQUIT",
		StopTimeout: &stop,
		Restart:     service.RestartPolicy{Name: "on-failure", MaxRetries: 3},
		AutoRemove:  true,
		ExtraHosts:  []string{"db:10.0.0.2"},
		DNS:         []string{"1.1.1.1"},
		DNSSearch:   []string{"example.org"},
		DNSOptions:  []string{"ndots:2"},
		CapAdd:      []string{"NET_ADMIN"},
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges:true"},
		Sysctls:     map[string]string{"net.core.somaxconn": "1024"},
		Ulimits:     []service.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
		Resources: service.Resources{
			Memory: 1 << 30, MemoryReservation: 1 << 29, MemorySwap: 2 << 30, NanoCPUs: 1.5e9, CPUShares: 512,
			CpusetCpus: "0-1", PidsLimit: 100, ShmSize: 64 << 20, OomKillDisable: true, OomScoreAdj: -500,
		},
		LogDriver:    "json-file",
		LogOptions:   map[string]string{"max-size": "10m"},
		VolumesFrom:  []string{"other:ro"},
		Ipc:          "shareable",
		Pid:          "host",
		Uts:          "host",
		CgroupParent: "/berth",
		Devices:      []string{"/dev/fuse", "/dev/sda:/dev/xvda:r", "/dev/kvm:rw"},
		Runtime:      "runc",
	}
	req, err := newCreateRequest(spec, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	o := req.options
	if o.Name != "p-web-1" || o.Platform == nil || o.Platform.OS != "linux" || o.Platform.Architecture != "arm64" || o.Platform.Variant != "v8" {
		t.Errorf("name %q platform %+v", o.Name, o.Platform)
	}
	c := o.Config
	wantConfig := &container.Config{
		Hostname: "web", Domainname: "example.org", User: "1000:1000",
		AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, OpenStdin: true, StdinOnce: true,
		Env: []string{"A=1"}, Cmd: []string{"nginx", "-g", "daemon off;"}, Image: "nginx:1", WorkingDir: "/w",
		Entrypoint: []string{}, Labels: map[string]string{"a": "b"}, StopSignal: "SIGQUIT", StopTimeout: new(int),
	}
	*wantConfig.StopTimeout = 2
	if !reflect.DeepEqual(c, wantConfig) {
		t.Errorf("Config = %+v\nwant     %+v", c, wantConfig)
	}
	if c.Entrypoint == nil {
		t.Error("an empty entrypoint (clear it) became nil (keep it)")
	}

	hc := o.HostConfig
	pids, oom := int64(100), true
	wantHost := &container.HostConfig{
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}},
		RestartPolicy:  container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
		AutoRemove:     true,
		VolumesFrom:    []string{"other:ro"},
		CapAdd:         []string{"NET_ADMIN"},
		CapDrop:        []string{"ALL"},
		DNS:            []netip.Addr{netip.MustParseAddr("1.1.1.1")},
		DNSOptions:     []string{"ndots:2"},
		DNSSearch:      []string{"example.org"},
		ExtraHosts:     []string{"db:10.0.0.2"},
		GroupAdd:       []string{"audio"},
		IpcMode:        "shareable",
		OomScoreAdj:    -500,
		PidMode:        "host",
		Privileged:     true,
		ReadonlyRootfs: true,
		SecurityOpt:    []string{"no-new-privileges:true"},
		UTSMode:        "host",
		ShmSize:        64 << 20,
		Sysctls:        map[string]string{"net.core.somaxconn": "1024"},
		Runtime:        "runc",
		Init:           &initTrue,
		Resources: container.Resources{
			CPUShares: 512, Memory: 1 << 30, NanoCPUs: 1.5e9, CgroupParent: "/berth", CpusetCpus: "0-1",
			Devices: []container.DeviceMapping{
				{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
				{PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "r"},
				{PathOnHost: "/dev/kvm", PathInContainer: "/dev/kvm", CgroupPermissions: "rw"},
			},
			MemoryReservation: 1 << 29, MemorySwap: 2 << 30, OomKillDisable: &oom, PidsLimit: &pids,
			Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
		},
	}
	if !reflect.DeepEqual(hc, wantHost) {
		t.Errorf("HostConfig = %+v\nwant         %+v", hc, wantHost)
	}

	// nil keeps the image's entrypoint and command; no zero limits are sent.
	req, err = newCreateRequest(service.ContainerSpec{Image: "i"}, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	if c := req.options.Config; c.Entrypoint != nil || c.Cmd != nil || c.StopTimeout != nil || c.StdinOnce || c.ExposedPorts != nil {
		t.Errorf("empty spec Config = %+v", c)
	}
	if hc := req.options.HostConfig; hc.PidsLimit != nil || hc.OomKillDisable != nil || req.options.Platform != nil {
		t.Errorf("empty spec HostConfig = %+v", hc)
	}

	for _, bad := range []service.ContainerSpec{
		{DNS: []string{"dns.example"}},
		{Devices: []string{"/dev/a:/dev/b:xyz"}},
		{Devices: []string{":/dev/b"}},
		{Platform: "linux//"},
	} {
		if _, err := newCreateRequest(bad, "1.41"); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 0, -time.Second: 0, time.Nanosecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 10 * time.Second: 10} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestCreateContainerConnectsOtherNetworks(t *testing.T) {
	spec := service.ContainerSpec{
		Name:  "p-web-1",
		Image: "img",
		Networks: []service.Endpoint{
			{Network: "p_a", Aliases: []string{"web"}},
			{Network: "p_b", Aliases: []string{"web", "b-alias"}},
		},
	}

	t.Run("API 1.41", func(t *testing.T) {
		f := &fakeClient{version: "1.41"}
		id, err := NewWithClient(f).CreateContainer(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if id != "id-p-web-1" {
			t.Errorf("id = %q", id)
		}
		if want := []string{"create p-web-1", "connect p_b id-p-web-1"}; !slices.Equal(f.calls, want) {
			t.Errorf("calls = %q, want %q", f.calls, want)
		}
		if got := f.connected[0].EndpointConfig.Aliases; !slices.Equal(got, []string{"web", "b-alias"}) {
			t.Errorf("aliases on p_b = %q", got)
		}
		if got := f.created[0].NetworkingConfig.EndpointsConfig; len(got) != 1 || got["p_a"] == nil {
			t.Errorf("endpoints at create = %v", got)
		}
	})

	t.Run("API 1.44", func(t *testing.T) {
		f := &fakeClient{version: "1.44"}
		if _, err := NewWithClient(f).CreateContainer(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
		if want := []string{"create p-web-1"}; !slices.Equal(f.calls, want) {
			t.Errorf("calls = %q, want %q", f.calls, want)
		}
		if got := f.created[0].NetworkingConfig.EndpointsConfig; len(got) != 2 {
			t.Errorf("endpoints at create = %v", got)
		}
	})

	t.Run("a failed connect removes the container", func(t *testing.T) {
		f := &fakeClient{version: "1.41", connectErr: cerrdefs.ErrNotFound.WithMessage("network p_b not found")}
		_, err := NewWithClient(f).CreateContainer(t.Context(), spec)
		if !errors.Is(err, service.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), `create container "p-web-1": connect to network "p_b"`) || !strings.Contains(err.Error(), "network p_b not found") {
			t.Errorf("err = %v", err)
		}
		if want := []string{"create p-web-1", "connect p_b id-p-web-1", "remove id-p-web-1 force=true"}; !slices.Equal(f.calls, want) {
			t.Errorf("calls = %q, want %q", f.calls, want)
		}
	})

	t.Run("a bad spec makes no call", func(t *testing.T) {
		f := &fakeClient{version: "1.41"}
		bad := spec
		bad.Mounts = []service.Mount{{Type: "weird", Target: "/x"}}
		if _, err := NewWithClient(f).CreateContainer(t.Context(), bad); !errors.Is(err, service.ErrUnsupported) {
			t.Errorf("err = %v, want ErrUnsupported", err)
		}
		if len(f.calls) != 0 {
			t.Errorf("calls = %q", f.calls)
		}
	})
}

func TestCreateNetworkAsksForTheDuplicateCheck(t *testing.T) {
	spec := service.NetworkSpec{Name: "p_default", Labels: map[string]string{service.LabelProject: "p"}}
	list := `network list filters={"name":{"p_default":true}}`
	for _, tc := range []struct {
		version string
		want    []string
	}{
		{"1.41", []string{"network create checked p_default", list, list}},
		{"1.43", []string{"network create checked p_default", list, list}},
		{"1.44", []string{"network create p_default"}}, // the engine always checks
		{"1.51", []string{"network create p_default"}},
	} {
		f := &fakeClient{version: tc.version}
		if id, err := NewWithClient(f).CreateNetwork(t.Context(), spec); err != nil || id != "net-p_default" {
			t.Errorf("%s: %q, %v", tc.version, id, err)
		}
		if !slices.Equal(f.calls, tc.want) {
			t.Errorf("%s: calls = %q, want %q", tc.version, f.calls, tc.want)
		}
	}
}

// TestCreateNetworkYieldsToAnOlderDuplicate: on an engine whose duplicate
// check is not atomic, a creator that finds an older network of the name
// after its create removes its own and reports ErrConflict; one whose
// network is the oldest (or the lowest ID of those made at once) keeps it.
func TestCreateNetworkYieldsToAnOlderDuplicate(t *testing.T) {
	spec := service.NetworkSpec{Name: "p_default"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nw := func(id, name string, at time.Time) network.Summary {
		return network.Summary{Network: network.Network{ID: id, Name: name, Created: at}}
	}
	mine := nw("net-p_default", "p_default", t0)
	t.Run("an older one listed late", func(t *testing.T) {
		// the other create began first but its network was not stored yet
		// when this one first looked
		f := &fakeClient{version: "1.41", networkLists: [][]network.Summary{{mine}, {mine, nw("a", "p_default", t0.Add(-time.Millisecond))}}}
		if id, err := NewWithClient(f).CreateNetwork(t.Context(), spec); !errors.Is(err, service.ErrConflict) {
			t.Errorf("%q, %v; want ErrConflict", id, err)
		}
		if !slices.Contains(f.calls, "network remove net-p_default") {
			t.Errorf("calls = %q: own network not removed", f.calls)
		}
	})
	for _, tc := range []struct {
		name    string
		listed  []network.Summary
		wantErr bool
		removed bool
	}{
		{"alone", []network.Summary{nw("net-p_default", "p_default", t0)}, false, false},
		{"other names", []network.Summary{nw("net-p_default", "p_default", t0), nw("a", "p_default_2", t0.Add(-time.Hour))}, false, false},
		{"older other", []network.Summary{nw("net-p_default", "p_default", t0), nw("a", "p_default", t0.Add(-time.Millisecond))}, true, true},
		{"newer other", []network.Summary{nw("net-p_default", "p_default", t0), nw("a", "p_default", t0.Add(time.Millisecond))}, false, false},
		{"same time, lower ID", []network.Summary{nw("net-p_default", "p_default", t0), nw("a", "p_default", t0)}, true, true},
		{"same time, higher ID", []network.Summary{nw("net-p_default", "p_default", t0), nw("z", "p_default", t0)}, false, false},
	} {
		f := &fakeClient{version: "1.41", networks: tc.listed}
		id, err := NewWithClient(f).CreateNetwork(t.Context(), spec)
		if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, service.ErrConflict)) {
			t.Errorf("%s: %q, %v", tc.name, id, err)
		}
		if got := slices.Contains(f.calls, "network remove net-p_default"); got != tc.removed {
			t.Errorf("%s: calls = %q, removed own = %v, want %v", tc.name, f.calls, got, tc.removed)
		}
	}
}

// TestNetworkCreateChecked checks the request an engine before API 1.44
// gets (CheckDuplicate set, every option there) and that its refusal is
// ErrConflict: 20.10 answers 409, some older engines 403.
func TestNetworkCreateChecked(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	var paths []string
	status, message := http.StatusCreated, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Write([]byte("OK"))
			return
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/networks") {
			w.Write([]byte("[]"))
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, body)
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		st, msg := status, message
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		if st == http.StatusCreated {
			json.NewEncoder(w).Encode(map[string]string{"Id": "abc123", "Warning": ""})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}))
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	b, err := New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	spec := service.NetworkSpec{Name: "p_default", Driver: "bridge", Internal: true, Labels: map[string]string{service.LabelProject: "p"},
		IPAM: []service.IPAMPool{{Subnet: "172.31.0.0/24"}}}
	id, err := b.CreateNetwork(t.Context(), spec)
	if err != nil || id != "abc123" {
		t.Fatalf("create: %q, %v", id, err)
	}
	if want := []string{"POST /v1.41/networks/create application/json"}; !slices.Equal(paths, want) {
		t.Errorf("requests = %q, want %q", paths, want)
	}
	body := got[0]
	if body["CheckDuplicate"] != true || body["Name"] != "p_default" || body["Driver"] != "bridge" || body["Internal"] != true {
		t.Errorf("body = %v, want CheckDuplicate true and the spec", body)
	}
	if l, _ := body["Labels"].(map[string]any); l[service.LabelProject] != "p" {
		t.Errorf("labels = %v", body["Labels"])
	}
	if ipam, _ := body["IPAM"].(map[string]any); ipam == nil || fmt.Sprint(ipam["Config"]) != "[map[Subnet:172.31.0.0/24]]" {
		t.Errorf("ipam = %v", body["IPAM"])
	}

	for _, tc := range []struct {
		status int
		msg    string
		want   error
	}{
		{http.StatusConflict, "network with name p_default already exists", service.ErrConflict},
		{http.StatusForbidden, "network with name p_default already exists", service.ErrConflict},
		{http.StatusNotFound, "plugin not found", service.ErrNotFound},
	} {
		mu.Lock()
		status, message = tc.status, tc.msg
		mu.Unlock()
		_, err := b.CreateNetwork(t.Context(), spec)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), `create network "p_default": Error response from daemon: `+tc.msg) {
			t.Errorf("%d: err = %v, want %v with the message", tc.status, err, tc.want)
		}
	}
	mu.Lock()
	status = http.StatusInternalServerError
	mu.Unlock()
	if _, err := b.CreateNetwork(t.Context(), spec); err == nil || errors.Is(err, service.ErrConflict) {
		t.Errorf("500: err = %v", err)
	}
}

func TestNetworkCreateOptions(t *testing.T) {
	opts, err := networkCreateOptions(service.NetworkSpec{
		Name: "n", Driver: "bridge", DriverOpts: map[string]string{"o": "v"}, Labels: map[string]string{"l": "v"},
		Internal: true, Attachable: true, EnableIPv6: true, IPAMDriver: "default",
		IPAM: []service.IPAMPool{{Subnet: "172.30.0.0/16", Gateway: "172.30.0.1", IPRange: "172.30.5.0/24"}, {Subnet: "fd00::/64"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Driver != "bridge" || !opts.Internal || !opts.Attachable || opts.EnableIPv6 == nil || !*opts.EnableIPv6 ||
		opts.Options["o"] != "v" || opts.Labels["l"] != "v" {
		t.Errorf("opts = %+v", opts)
	}
	want := &network.IPAM{Driver: "default", Config: []network.IPAMConfig{
		{Subnet: netip.MustParsePrefix("172.30.0.0/16"), Gateway: netip.MustParseAddr("172.30.0.1"), IPRange: netip.MustParsePrefix("172.30.5.0/24")},
		{Subnet: netip.MustParsePrefix("fd00::/64")},
	}}
	if !reflect.DeepEqual(opts.IPAM, want) {
		t.Errorf("IPAM = %+v, want %+v", opts.IPAM, want)
	}
	if opts, _ := networkCreateOptions(service.NetworkSpec{Name: "n"}); opts.IPAM != nil || opts.EnableIPv6 != nil {
		t.Errorf("plain network: %+v", opts)
	}
	if _, err := networkCreateOptions(service.NetworkSpec{IPAM: []service.IPAMPool{{Subnet: "nope"}}}); err == nil {
		t.Error("bad subnet: no error")
	}
}

func TestHealthFromStatus(t *testing.T) {
	for status, want := range map[string]string{
		"Up 3 seconds (healthy)":         service.HealthHealthy,
		"Up 3 minutes (unhealthy)":       service.HealthUnhealthy,
		"Up 1 second (health: starting)": service.HealthStarting,
		"Up 2 hours":                     "",
		"Exited (0) 2 minutes ago":       "",
		"Up 5 seconds (Paused)":          "",
		"Created":                        "",
		"":                               "",
		"Restarting (1) 2 seconds ago":   "",
		"Up About a minute (healthy)":    service.HealthHealthy,
	} {
		if got := healthFromStatus(status); got != want {
			t.Errorf("healthFromStatus(%q) = %q, want %q", status, got, want)
		}
	}
}

func TestExitCodeFromStatus(t *testing.T) {
	for status, want := range map[string]int{
		"Exited (0) 2 minutes ago":   0,
		"Exited (137) 3 seconds ago": 137,
		"Exited (-1) 1 second ago":   -1,
		"Up 3 seconds":               0,
		"Exited (x) 1 second ago":    0,
		"Exited (3":                  0,
	} {
		if got := exitCodeFromStatus(status); got != want {
			t.Errorf("exitCodeFromStatus(%q) = %d, want %d", status, got, want)
		}
	}
}

func TestListContainers(t *testing.T) {
	f := &fakeClient{version: "1.41", list: []container.Summary{
		{
			ID: "c1", Names: []string{"/other/web", "/p-web-1"}, Image: "nginx", ImageID: "sha256:1",
			Labels: map[string]string{"k": "v"}, State: container.StateRunning, Status: "Up 3 seconds (health: starting)",
			Command: "nginx -g", Created: 1700000000,
			Ports: []container.PortSummary{
				{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{PrivatePort: 443, Type: "tcp"},
			},
			NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{"p_default": {NetworkID: "n1"}}},
			Mounts:          []container.MountPoint{{Type: mount.TypeVolume, Name: "p_data", Source: "/var/lib/docker/volumes/p_data/_data", Destination: "/data"}},
		},
		{
			ID: "c2", Names: []string{"/p-db-1"}, State: container.StateExited, Status: "Exited (2) 1 minute ago",
			Health: &container.HealthSummary{Status: container.Unhealthy},
		},
	}}
	got, err := NewWithClient(f).ListContainers(t.Context(), service.Filter{All: true, Labels: map[string]string{service.LabelProject: "p", "flag": ""}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `list all=true filters={"label":{"com.docker.compose.project=p":true,"flag":true}}`; f.calls[0] != want {
		t.Errorf("call = %s, want %s", f.calls[0], want)
	}
	want := []service.Container{
		{
			ID: "c1", Name: "p-web-1", Image: "nginx", ImageID: "sha256:1", Labels: map[string]string{"k": "v"},
			State: "running", Health: "starting", Status: "Up 3 seconds (health: starting)", Command: "nginx -g",
			Created:  time.Unix(1700000000, 0),
			Networks: map[string]string{"p_default": "n1"},
			Mounts:   []service.MountPoint{{Type: "volume", Name: "p_data", Source: "/var/lib/docker/volumes/p_data/_data", Destination: "/data"}},
			Ports:    []service.Port{{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		},
		{ID: "c2", Name: "p-db-1", State: "exited", Health: "unhealthy", ExitCode: 2, Status: "Exited (2) 1 minute ago", Created: time.Unix(0, 0)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListContainers =\n%+v\nwant\n%+v", got, want)
	}
}

func TestInspectContainer(t *testing.T) {
	f := &fakeClient{version: "1.41", inspect: container.InspectResponse{
		ID: "c1", Name: "/p-web-1", Image: "sha256:1", Path: "sh", Args: []string{"-c", "true"},
		Created: "2024-01-02T03:04:05.123456789Z",
		State: &container.State{
			Status: container.StateRunning, StartedAt: "2024-01-02T03:04:06Z", FinishedAt: "0001-01-01T00:00:00Z",
			Health: &container.Health{Status: container.Healthy},
		},
		Config: &container.Config{Image: "busybox", Labels: map[string]string{"k": "v"}},
		NetworkSettings: &container.NetworkSettings{
			Networks: map[string]*network.EndpointSettings{"p_a": {NetworkID: "na"}, "p_b": {NetworkID: "nb"}},
			Ports: network.PortMap{
				network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "32768"}},
				network.MustParsePort("81/tcp"): nil,
			},
		},
	}}
	c, err := NewWithClient(f).InspectContainer(t.Context(), "p-web-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c1" || c.Name != "p-web-1" || c.Image != "busybox" || c.ImageID != "sha256:1" || c.Command != "sh -c true" ||
		c.State != "running" || c.Health != "healthy" || c.Labels["k"] != "v" {
		t.Errorf("container = %+v", c)
	}
	if !c.Created.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)) || !c.StartedAt.Equal(time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)) || !c.FinishedAt.IsZero() {
		t.Errorf("times: created %v started %v finished %v", c.Created, c.StartedAt, c.FinishedAt)
	}
	if !strings.HasPrefix(c.Status, "Up ") || !strings.HasSuffix(c.Status, " (healthy)") {
		t.Errorf("status = %q", c.Status)
	}
	if want := map[string]string{"p_a": "na", "p_b": "nb"}; !reflect.DeepEqual(c.Networks, want) {
		t.Errorf("networks = %v", c.Networks)
	}
	if want := []service.Port{{HostIP: "127.0.0.1", HostPort: 32768, ContainerPort: 80, Protocol: "tcp"}}; !reflect.DeepEqual(c.Ports, want) {
		t.Errorf("ports = %+v", c.Ports)
	}
}

func TestEventFrom(t *testing.T) {
	ev := eventFrom(events.Message{
		Type: events.ContainerEventType, Action: "die", TimeNano: 1700000000123456789,
		Actor: events.Actor{ID: "c1", Attributes: map[string]string{
			"name": "p-web-1", "image": "busybox", "exitCode": "137", service.LabelProject: "p",
		}},
	})
	want := service.Event{
		Time: time.Unix(0, 1700000000123456789), Action: "die", ContainerID: "c1", ContainerName: "p-web-1",
		Labels: map[string]string{service.LabelProject: "p"}, ExitCode: 137,
		Attributes: map[string]string{"image": "busybox", "exitCode": "137"},
	}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("event = %+v, want %+v", ev, want)
	}
	if ev := eventFrom(events.Message{Action: "health_status: healthy", Time: 5, Actor: events.Actor{ID: "c1"}}); ev.Action != "health_status: healthy" || !ev.Time.Equal(time.Unix(5, 0)) {
		t.Errorf("health event = %+v", ev)
	}
}

func TestEvents(t *testing.T) {
	t.Run("stream error", func(t *testing.T) {
		f := &fakeClient{version: "1.41", events: make(chan events.Message), eventErrs: make(chan error, 1)}
		evs, errc := NewWithClient(f).Events(t.Context(), service.Filter{Labels: map[string]string{"k": "v"}})
		if want := `events filters={"label":{"k=v":true},"type":{"container":true}}`; f.calls[0] != want {
			t.Errorf("call = %s, want %s", f.calls[0], want)
		}
		f.events <- events.Message{Type: events.ContainerEventType, Action: "start", Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "x"}}}
		if ev := <-evs; ev.Action != "start" || ev.ContainerName != "x" {
			t.Errorf("event = %+v", ev)
		}
		f.eventErrs <- io.ErrUnexpectedEOF
		if _, ok := <-evs; ok {
			t.Error("events channel not closed after an error")
		}
		if err := <-errc; !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v", err)
		}
		if _, ok := <-errc; ok {
			t.Error("error channel not closed")
		}
	})
	t.Run("context done", func(t *testing.T) {
		f := &fakeClient{version: "1.41", events: make(chan events.Message), eventErrs: make(chan error, 1)}
		ctx, cancel := context.WithCancel(t.Context())
		evs, errc := NewWithClient(f).Events(ctx, service.Filter{})
		cancel()
		for range evs {
		}
		if err, ok := <-errc; ok {
			t.Errorf("error after cancel: %v", err)
		}
	})
}

func TestEventsBetween(t *testing.T) {
	f := &fakeClient{version: "1.41", events: make(chan events.Message, 1), eventErrs: make(chan error, 1)}
	since, until := time.Unix(100, 5), time.Unix(200, 0)
	evs, errc := NewWithClient(f).EventsBetween(t.Context(), service.Filter{}, since, until)
	if want := `events filters={"type":{"container":true}} since=100.000000005 until=200.000000000`; f.calls[0] != want {
		t.Errorf("call = %s, want %s", f.calls[0], want)
	}
	f.events <- events.Message{Type: events.ContainerEventType, Action: "kill", Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "x", "signal": "15", "image": "busybox", "l": "v"}}}
	ev := <-evs
	if want := map[string]string{"signal": "15", "image": "busybox"}; !reflect.DeepEqual(ev.Attributes, want) || ev.Labels["l"] != "v" {
		t.Errorf("event = %+v, want attributes %v", ev, want)
	}
	// the engine ends the stream at until with EOF: an end, not an error
	f.eventErrs <- io.EOF
	for range evs {
	}
	if err, ok := <-errc; ok {
		t.Errorf("error at until: %v", err)
	}
}

func TestTop(t *testing.T) {
	titles := []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}
	procs := [][]string{{"root", "4242", "4200", "0", "04:03", "?", "00:00:00", "sleep 600"}}
	for _, tt := range []struct {
		args []string
		call string
	}{
		{nil, `top p-web-1 []`},
		{[]string{"-o", "pid,comm"}, `top p-web-1 ["-o" "pid,comm"]`},
	} {
		f := &fakeClient{version: "1.41", top: client.ContainerTopResult{Titles: titles, Processes: procs}}
		gotTitles, gotProcs, err := NewWithClient(f).Top(t.Context(), "p-web-1", tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.calls, []string{tt.call}) {
			t.Errorf("calls = %q, want %q", f.calls, tt.call)
		}
		if !slices.Equal(gotTitles, titles) || !reflect.DeepEqual(gotProcs, procs) {
			t.Errorf("Top = %q, %q", gotTitles, gotProcs)
		}
	}
}

func TestCopyFrom(t *testing.T) {
	f := &fakeClient{version: "1.41", archive: "a tar stream"}
	rc, err := NewWithClient(f).CopyFrom(t.Context(), "p-web-1", "/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != f.archive {
		t.Errorf("content = %q, %v", b, err)
	}
	if want := []string{"copy from p-web-1 /etc/hosts"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls = %q, want %q", f.calls, want)
	}
}

// engineStub is an HTTP server speaking just enough of the Engine API for
// the real moby client: every request but the ping gets status and message.
func engineStub(t *testing.T, apiVersion string, status int, message string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", apiVersion)
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Write([]byte("OK"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if message != "" {
			json.NewEncoder(w).Encode(map[string]string{"message": message})
		}
	}))
	t.Cleanup(srv.Close)
	return "tcp://" + srv.Listener.Addr().String()
}

// stubBackend returns a backend made by New on an engineStub.
func stubBackend(t *testing.T, status int, message string) *Backend {
	t.Helper()
	t.Setenv("DOCKER_HOST", engineStub(t, "1.41", status, message))
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	b, err := New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		status  int
		message string
		want    error
	}{
		{http.StatusNotFound, "No such container: p-web-1", service.ErrNotFound},
		{http.StatusConflict, `Conflict. The container name "/p-web-1" is already in use`, service.ErrConflict},
		{http.StatusForbidden, "error while removing network: network p_default id 123 has active endpoints", service.ErrConflict},
		{http.StatusForbidden, "endpoint with name p-web-1 already exists in network p_default", service.ErrConflict},
		{http.StatusBadRequest, `invalid mount config for type "bind": bind source path does not exist: /x`, service.ErrUnsupported},
		{http.StatusNotImplemented, "not implemented", service.ErrUnsupported},
		{http.StatusForbidden, "operation not permitted", nil},
		{http.StatusInternalServerError, "something broke", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.message), func(t *testing.T) {
			b := stubBackend(t, tt.status, tt.message)
			err := b.StartContainer(t.Context(), "p-web-1")
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range []error{service.ErrNotFound, service.ErrConflict, service.ErrUnsupported} {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if msg := err.Error(); !strings.HasPrefix(msg, `start container "p-web-1": `) || !strings.Contains(msg, tt.message) {
				t.Errorf("message %q lacks the object or the engine's text", msg)
			}
		})
	}

	t.Run("missing image", func(t *testing.T) {
		b := stubBackend(t, http.StatusNotFound, "No such image: foo:1")
		_, err := b.CreateContainer(t.Context(), service.ContainerSpec{Name: "p-web-1", Image: "foo:1"})
		if !errors.Is(err, service.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
		if want := `create container "p-web-1": image "foo:1" not found: Error response from daemon: No such image: foo:1: not found`; err.Error() != want {
			t.Errorf("err = %q\nwant    %q", err, want)
		}
	})

	t.Run("copy from a missing path", func(t *testing.T) {
		b := stubBackend(t, http.StatusNotFound, "Could not find the file /nope in container p-web-1")
		_, err := b.CopyFrom(t.Context(), "p-web-1", "/nope")
		if !errors.Is(err, service.ErrNotFound) || !strings.HasPrefix(err.Error(), `copy from container "p-web-1" at "/nope": `) {
			t.Errorf("err = %v, want ErrNotFound naming the container and path", err)
		}
	})

	t.Run("top of a stopped container", func(t *testing.T) {
		b := stubBackend(t, http.StatusConflict, "Container 0123 is not running")
		_, _, err := b.Top(t.Context(), "p-web-1", nil)
		if !errors.Is(err, service.ErrConflict) || !strings.HasPrefix(err.Error(), `top of container "p-web-1": `) {
			t.Errorf("err = %v, want ErrConflict naming the container", err)
		}
	})

	t.Run("304 is success", func(t *testing.T) {
		b := stubBackend(t, http.StatusNotModified, "")
		if err := b.StartContainer(t.Context(), "c"); err != nil {
			t.Errorf("start: %v", err)
		}
		d := time.Second
		if err := b.StopContainer(t.Context(), "c", &d); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

func TestNew(t *testing.T) {
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")

	t.Run("negotiates", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", engineStub(t, "1.43", http.StatusOK, ""))
		b, err := New(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if v := b.APIVersion(); v != "1.43" {
			t.Errorf("APIVersion = %q, want 1.43", v)
		}
	})
	t.Run("too old", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", engineStub(t, "1.40", http.StatusOK, ""))
		if _, err := New(t.Context()); !errors.Is(err, service.ErrUnsupported) {
			t.Errorf("err = %v, want ErrUnsupported", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		host := "unix://" + t.TempDir() + "/docker.sock"
		t.Setenv("DOCKER_HOST", host)
		_, err := New(t.Context())
		if err == nil || !strings.HasPrefix(err.Error(), "cannot reach the Docker engine at "+host+": ") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]container.DeviceMapping{
		"/dev/fuse":             {PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
		"/dev/fuse:r":           {PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "r"},
		"/dev/sda:/dev/xvda":    {PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "rwm"},
		"/dev/sda:/dev/xvda:mw": {PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "mw"},
	} {
		got, err := parseDevice(in)
		if err != nil || got != want {
			t.Errorf("parseDevice(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/a:/b:rr", "/a:/b:c:d", "/a:/b:x"} {
		if _, err := parseDevice(in); err == nil {
			t.Errorf("parseDevice(%q): no error", in)
		}
	}
}
