package image

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/berthdev/berth/service"
)

func TestApplyConfig(t *testing.T) {
	img := Config{
		Entrypoint: []string{"/docker-entrypoint.sh"},
		Cmd:        []string{"nginx", "-g", "daemon off;"},
		Env:        []string{"PATH=/usr/bin:/bin", "NGINX_VERSION=1.25", "A=1"},
		WorkingDir: "/srv",
		User:       "nginx",
	}
	bare := Config{Cmd: []string{"sh"}}
	tests := []struct {
		name    string
		img     Config
		spec    service.ContainerSpec
		argv    []string
		env     []string
		workdir string
		user    string
		err     bool
	}{
		{
			name:    "image defaults",
			img:     img,
			argv:    []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"},
			env:     []string{"PATH=/usr/bin:/bin", "NGINX_VERSION=1.25", "A=1"},
			workdir: "/srv",
			user:    "nginx",
		},
		{
			name:    "command replaces cmd, entrypoint kept",
			img:     img,
			spec:    service.ContainerSpec{Command: []string{"nginx", "-t"}},
			argv:    []string{"/docker-entrypoint.sh", "nginx", "-t"},
			env:     img.Env,
			workdir: "/srv",
			user:    "nginx",
		},
		{
			name:    "empty command clears cmd",
			img:     img,
			spec:    service.ContainerSpec{Command: []string{}},
			argv:    []string{"/docker-entrypoint.sh"},
			env:     img.Env,
			workdir: "/srv",
			user:    "nginx",
		},
		{
			name:    "entrypoint override drops image cmd",
			img:     img,
			spec:    service.ContainerSpec{Entrypoint: []string{"/bin/sh", "-c"}},
			argv:    []string{"/bin/sh", "-c"},
			env:     img.Env,
			workdir: "/srv",
			user:    "nginx",
		},
		{
			name:    "entrypoint override with command",
			img:     img,
			spec:    service.ContainerSpec{Entrypoint: []string{"/bin/sh", "-c"}, Command: []string{"echo hi"}},
			argv:    []string{"/bin/sh", "-c", "echo hi"},
			env:     img.Env,
			workdir: "/srv",
			user:    "nginx",
		},
		{
			name:    "empty entrypoint clears it, image cmd not used",
			img:     img,
			spec:    service.ContainerSpec{Entrypoint: []string{}, Command: []string{"nginx"}},
			argv:    []string{"nginx"},
			env:     img.Env,
			workdir: "/srv",
			user:    "nginx",
		},
		{
			name: "empty entrypoint and no command",
			img:  img,
			spec: service.ContainerSpec{Entrypoint: []string{}},
			err:  true,
		},
		{
			name: "nothing to run",
			img:  Config{},
			err:  true,
		},
		{
			name:    "env overridden by key, appended, removed; spec workdir and user",
			img:     img,
			spec:    service.ContainerSpec{Env: []string{"A=2", "B=3", "NGINX_VERSION"}, WorkingDir: "/app", User: "1000:1000"},
			argv:    []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"},
			env:     []string{"PATH=/usr/bin:/bin", "A=2", "B=3"},
			workdir: "/app",
			user:    "1000:1000",
		},
		{
			name:    "defaults: PATH, workdir /, root",
			img:     bare,
			spec:    service.ContainerSpec{Env: []string{"X=1"}},
			argv:    []string{"sh"},
			env:     []string{"X=1", "PATH=" + DefaultPath},
			workdir: "/",
		},
		{
			name:    "spec PATH wins",
			img:     img,
			spec:    service.ContainerSpec{Env: []string{"PATH=/opt/bin"}},
			argv:    []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"},
			env:     []string{"PATH=/opt/bin", "NGINX_VERSION=1.25", "A=1"},
			workdir: "/srv",
			user:    "nginx",
		},
		{
			name: "relative workdir rejected",
			img:  bare,
			spec: service.ContainerSpec{WorkingDir: "app"},
			err:  true,
		},
		{
			name:    "relative image workdir made absolute",
			img:     Config{Cmd: []string{"sh"}, WorkingDir: "app/"},
			argv:    []string{"sh"},
			env:     []string{"PATH=" + DefaultPath},
			workdir: "/app",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.img
			envBefore := slices.Clone(img.Env)
			argv, env, workdir, user, err := ApplyConfig(img, tt.spec)
			if tt.err {
				if err == nil {
					t.Fatalf("no error; argv %q", argv)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(argv, tt.argv) {
				t.Errorf("argv %q, want %q", argv, tt.argv)
			}
			if !slices.Equal(env, tt.env) {
				t.Errorf("env %q, want %q", env, tt.env)
			}
			if workdir != tt.workdir {
				t.Errorf("workdir %q, want %q", workdir, tt.workdir)
			}
			if user != tt.user {
				t.Errorf("user %q, want %q", user, tt.user)
			}
			if !slices.Equal(img.Env, envBefore) {
				t.Error("image env modified")
			}
		})
	}
	if _, _, _, _, err := ApplyConfig(Config{}, service.ContainerSpec{}); !errors.Is(err, ErrNoCommand) {
		t.Errorf("err = %v, want ErrNoCommand", err)
	}
}

func TestStopSignalAndHealthcheck(t *testing.T) {
	img := Config{StopSignal: "SIGQUIT", Healthcheck: &Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 3}}
	if got := StopSignal(img, service.ContainerSpec{}); got != "SIGQUIT" {
		t.Errorf("StopSignal = %s", got)
	}
	if got := StopSignal(img, service.ContainerSpec{StopSignal: "SIGINT"}); got != "SIGINT" {
		t.Errorf("StopSignal = %s", got)
	}
	if got := StopSignal(Config{}, service.ContainerSpec{}); got != "SIGTERM" {
		t.Errorf("StopSignal = %s", got)
	}
	h := MergeHealthcheck(img, service.ContainerSpec{Healthcheck: &service.Healthcheck{Timeout: 2 * time.Second}})
	if h == nil || !slices.Equal(h.Test, []string{"CMD", "true"}) || h.Interval != time.Second || h.Timeout != 2*time.Second || h.Retries != 3 {
		t.Errorf("merged healthcheck %+v", h)
	}
	if h := MergeHealthcheck(img, service.ContainerSpec{Healthcheck: &service.Healthcheck{Test: []string{"NONE"}}}); h != nil {
		t.Errorf("NONE: %+v", h)
	}
	if h := MergeHealthcheck(Config{}, service.ContainerSpec{}); h != nil {
		t.Errorf("none at all: %+v", h)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                                "docker.io/library/busybox:latest",
		"busybox:1.36":                           "docker.io/library/busybox:1.36",
		"docker.io/library/busybox":              "docker.io/library/busybox:latest",
		"index.docker.io/me/app:v1":              "docker.io/me/app:v1",
		"localhost:5000/app":                     "localhost:5000/app:latest",
		"ghcr.io/o/r@sha256:" + hex64:            "ghcr.io/o/r@sha256:" + hex64,
		"127.0.0.1:5000/a/b:c":                   "127.0.0.1:5000/a/b:c",
		"registry.example.com:443/team/app:prod": "registry.example.com:443/team/app:prod",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Normalize("UPPER/case"); err == nil {
		t.Error("invalid reference accepted")
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestIsIDAndLoopback(t *testing.T) {
	for s, want := range map[string]bool{
		"sha256:" + hex64: true,
		hex64:             true,
		"sha256:0123":     true,
		"0123456789ab":    false,
		"busybox":         false,
		"sha256:":         false,
		"sha256:xyz":      false,
	} {
		if got := isID(s); got != want {
			t.Errorf("isID(%q) = %v", s, got)
		}
	}
	for s, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true,
		"index.docker.io": false, "10.0.0.1:5000": false, "localhost.example.com": false,
	} {
		if got := isLoopback(s); got != want {
			t.Errorf("isLoopback(%q) = %v", s, got)
		}
	}
}

func TestLoopbackHTTPOnly(t *testing.T) {
	called := 0
	rt := loopbackHTTPOnly{roundTripFunc(func(*http.Request) (*http.Response, error) {
		called++
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	for url, ok := range map[string]bool{
		"http://10.0.0.1:5000/v2/":       false,
		"http://registry.local/v2/":      false,
		"http://127.0.0.1:5000/v2/":      true,
		"http://localhost:5000/v2/":      true,
		"https://registry.example/v2/":   true,
		"https://10.0.0.1:5000/v2/blobs": true,
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		_, err := rt.RoundTrip(req)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v", url, err)
		}
	}
	if called != 4 {
		t.Errorf("next called %d times, want 4", called)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
