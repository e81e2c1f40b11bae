package servicetest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/berthdev/berth/service"
)

// copyFile copies a file of content into the container at /name.
func (h *harness) copyFile(c service.Copier, id, name, content string) {
	h.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h.noErr(tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}), "tar header")
	_, err := tw.Write([]byte(content))
	h.noErr(err, "tar write")
	h.noErr(tw.Close(), "tar close")
	h.noErr(c.CopyTo(h.ctx(), id, "/", &buf), "CopyTo")
}

func testEventsBetween(h *harness) {
	eh := need[service.EventHistory](h)
	since := time.Now().Add(-time.Second)
	id := h.create(h.sleeper("c"))
	h.start(id)
	h.stop(id)
	until := time.Now().Add(time.Second)
	time.Sleep(time.Until(until)) // the stream ends at once: until is past
	ctx, cancel := context.WithTimeout(h.ctx(), waitTimeout)
	defer cancel()
	evs, errs := eh.EventsBetween(ctx, h.filter(false), since, until)
	var actions []string
	for ev := range evs {
		if ev.ContainerID != id {
			continue
		}
		actions = append(actions, ev.Action)
		if ev.Time.Before(since) || ev.Time.After(until) {
			h.t.Errorf("EventsBetween: %q at %v, outside [%v, %v]", ev.Action, ev.Time, since, until)
		}
	}
	if ctx.Err() != nil {
		h.t.Fatalf("EventsBetween: the stream did not end at until (%v)", until)
	}
	if err := <-errs; err != nil {
		h.t.Errorf("EventsBetween ended with %v, want no error at until", err)
	}
	for _, want := range []string{"start", "die"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			h.t.Errorf("EventsBetween replayed %q, want %s among them", actions, want)
		}
	}
}

func testCommit(h *harness) {
	cm := need[service.Committer](h)
	c := need[service.Copier](h)
	rm := need[service.ImageRemover](h) // to remove the image made
	ref := h.imageRef("img")
	h.cleanup("image "+ref, func(ctx context.Context) error { return rm.RemoveImage(ctx, ref, true) })
	spec := h.sleeper("c")
	id := h.create(spec)
	h.start(id)
	h.copyFile(c, id, "servicetest-committed.txt", "committed\n")
	imgID, err := cm.CommitContainer(h.ctx(), id, service.CommitOptions{Reference: ref, Comment: "servicetest", Pause: true})
	h.noErr(err, "CommitContainer")
	img := h.inspectImage(ref)
	if img.ID != imgID || !strings.HasPrefix(imgID, "sha256:") {
		h.t.Errorf("CommitContainer returned %q, InspectImage(%q).ID is %q", imgID, ref, img.ID)
	}
	if !hasLabels(img.Labels, spec.Labels) {
		h.t.Errorf("committed image labels %v, want the container's %v", img.Labels, spec.Labels)
	}
	if c := h.inspect(id); c.State != service.StateRunning {
		h.t.Errorf("container %s after CommitContainer with Pause, want running", c.State)
	}
	_, err = cm.CommitContainer(h.ctx(), h.name("absent"), service.CommitOptions{})
	h.wantErr(err, service.ErrNotFound, "CommitContainer of a missing container", h.name("absent"))
}

func testExport(h *harness) {
	ex := need[service.Exporter](h)
	c := need[service.Copier](h)
	id := h.create(h.sleeper("c"))
	h.start(id)
	h.copyFile(c, id, "servicetest-exported.txt", "exported\n")
	rc, err := ex.ExportContainer(h.ctx(), id)
	h.noErr(err, "ExportContainer")
	found := false
	for _, e := range h.readTar(rc, "ExportContainer") {
		if strings.HasPrefix(e.name, "/") || strings.HasPrefix(e.name, "./") {
			h.t.Errorf("ExportContainer: entry %q, want names relative to the root", e.name)
		}
		if e.name == "servicetest-exported.txt" {
			found = true
			if e.data != "exported\n" {
				h.t.Errorf("ExportContainer: the copied file holds %q", e.data)
			}
		}
	}
	if !found {
		h.t.Errorf("ExportContainer: no servicetest-exported.txt, the file copied in")
	}
	_, err = ex.ExportContainer(h.ctx(), h.name("absent"))
	if !errors.Is(err, service.ErrNotFound) {
		h.t.Errorf("ExportContainer of a missing container = %v, want ErrNotFound", err)
	}
}
