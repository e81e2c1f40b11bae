package servicetest

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berthdev/berth/service"
)

// brokenEnv names, in the child process, the contract violation
// TestBrokenBackendChild runs the suite against.
const brokenEnv = "SERVICETEST_BROKEN_VARIANT"

// broken is a Fake that breaks the contract one way, named by variant, to
// show that the suite notices.
type broken struct {
	*Fake
	variant string
}

func (b *broken) CreateContainer(ctx context.Context, spec service.ContainerSpec) (string, error) {
	id, err := b.Fake.CreateContainer(ctx, spec)
	if b.variant == "duplicate-accepted" && errors.Is(err, service.ErrConflict) {
		return "0123456789ab", nil
	}
	return id, err
}

func (b *broken) StartContainer(ctx context.Context, id string) error {
	if c, ok := b.Fake.Container(id); b.variant == "start-not-idempotent" && ok && c.State == service.StateRunning {
		return service.ErrConflict
	}
	return b.Fake.StartContainer(ctx, id)
}

func (b *broken) InspectContainer(ctx context.Context, id string) (service.Container, error) {
	c, err := b.Fake.InspectContainer(ctx, id)
	if b.variant == "notfound-unwrapped" && err != nil {
		err = errors.New(err.Error())
	}
	return c, err
}

func (b *broken) ListContainers(ctx context.Context, f service.Filter) ([]service.Container, error) {
	if b.variant == "list-ignores-all" {
		f.All = true
	}
	cs, err := b.Fake.ListContainers(ctx, f)
	for i := range cs {
		switch b.variant {
		case "list-name-slash":
			cs[i].Name = "/" + cs[i].Name
		case "list-without-networks":
			cs[i].Networks = nil
		}
	}
	return cs, err
}

func (b *broken) RemoveNetwork(ctx context.Context, id string) error {
	err := b.Fake.RemoveNetwork(ctx, id)
	if b.variant == "network-in-use-removed" && errors.Is(err, service.ErrConflict) {
		return nil
	}
	return err
}

func (b *broken) RemoveVolume(ctx context.Context, name string, force bool) error {
	err := b.Fake.RemoveVolume(ctx, name, force)
	if b.variant == "volume-in-use-removed" && errors.Is(err, service.ErrConflict) {
		return nil
	}
	return err
}

func (b *broken) WaitContainer(ctx context.Context, id string) (int, error) {
	if b.variant == "wait-returns-early" {
		c, err := b.Fake.InspectContainer(ctx, id)
		return c.ExitCode, err
	}
	return b.Fake.WaitContainer(ctx, id)
}

func (b *broken) Events(ctx context.Context, f service.Filter) (<-chan service.Event, <-chan error) {
	if b.variant == "events-unfiltered" {
		f = service.Filter{}
	}
	return b.Fake.Events(ctx, f)
}

func (b *broken) Logs(ctx context.Context, id string, opts service.LogOptions, stdout, stderr io.Writer) error {
	switch b.variant {
	case "logs-one-stream":
		stderr = stdout
	case "logs-follow-ignored":
		opts.Follow = false
	}
	return b.Fake.Logs(ctx, id, opts, stdout, stderr)
}

func (b *broken) BuildImage(ctx context.Context, spec service.BuildSpec, buildContext io.Reader, progress io.Writer) (string, error) {
	if b.variant == "build-not-cached" {
		spec.NoCache = true
	}
	return b.Fake.BuildImage(ctx, spec, buildContext, progress)
}

func (b *broken) RemoveImage(ctx context.Context, ref string, force bool) error {
	if b.variant == "image-in-use-removed" {
		force = true
	}
	return b.Fake.RemoveImage(ctx, ref, force)
}

// TestBrokenBackendChild runs the suite against a broken Fake; only
// TestSuiteDetectsBrokenBackends runs it, in a child process.
func TestBrokenBackendChild(t *testing.T) {
	variant := os.Getenv(brokenEnv)
	if variant == "" {
		t.Skip("run by TestSuiteDetectsBrokenBackends")
	}
	Run(t, func(t *testing.T) service.Backend {
		return &broken{Fake: newTestFake(t), variant: variant}
	}, Config{Image: "busybox", Prefix: "broken", Simulated: true})
}

// TestSuiteDetectsBrokenBackends checks that the suite can fail: against a
// Fake broken in one way, the subtest of that behaviour must fail.
func TestSuiteDetectsBrokenBackends(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("in the child process")
	}
	for _, tt := range []struct{ variant, failing string }{
		{"duplicate-accepted", "CreateDuplicateName"},
		{"start-not-idempotent", "ContainerLifecycle"},
		{"notfound-unwrapped", "ContainerNotFound"},
		{"list-ignores-all", "ListContainers"},
		{"list-name-slash", "ListContainers"},
		{"list-without-networks", "NetworkAttachments"},
		{"network-in-use-removed", "NetworkAttachments"},
		{"volume-in-use-removed", "VolumeInUse"},
		{"wait-returns-early", "ExitCode"},
		{"events-unfiltered", "Events"},
		{"logs-one-stream", "Logs"},
		{"logs-follow-ignored", "LogsFollow"},
		{"build-not-cached", "BuildImage"},
		{"image-in-use-removed", "RemoveImage"},
	} {
		t.Run(tt.variant, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenBackendChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tt.variant)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a backend with %s (err %v):\n%s", tt.variant, err, out)
			}
			if want := "--- FAIL: TestBrokenBackendChild/" + tt.failing + " "; !strings.Contains(string(out), want) {
				t.Errorf("against %s, subtest %s did not fail:\n%s", tt.variant, tt.failing, out)
			}
		})
	}
}
