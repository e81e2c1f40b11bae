package engine

import (
	"context"

	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/berthdev/berth/service"
)

// volumeFrom maps the engine's description of a volume.
func volumeFrom(v volume.Volume) service.Volume {
	return service.Volume{Name: v.Name, Driver: v.Driver, Labels: v.Labels, Mountpoint: v.Mountpoint}
}

// ListVolumes returns the volumes whose labels match f.
func (b *Backend) ListVolumes(ctx context.Context, f service.Filter) ([]service.Volume, error) {
	res, err := b.c.VolumeList(ctx, client.VolumeListOptions{Filters: labelFilters(f)})
	if err != nil {
		return nil, wrapf(err, "list volumes")
	}
	out := make([]service.Volume, 0, len(res.Items))
	for _, v := range res.Items {
		out = append(out, volumeFrom(v))
	}
	return out, nil
}

// InspectVolume returns a volume; ErrNotFound if there is none.
func (b *Backend) InspectVolume(ctx context.Context, name string) (service.Volume, error) {
	res, err := b.c.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err != nil {
		return service.Volume{}, wrapf(err, "inspect volume %q", name)
	}
	return volumeFrom(res.Volume), nil
}

// CreateVolume creates a volume. Creating a volume that exists with the same
// driver returns it unchanged (its labels are not updated); with another
// driver the engine refuses.
func (b *Backend) CreateVolume(ctx context.Context, spec service.VolumeSpec) (service.Volume, error) {
	res, err := b.c.VolumeCreate(ctx, client.VolumeCreateOptions{
		Name:       spec.Name,
		Driver:     spec.Driver,
		DriverOpts: spec.DriverOpts,
		Labels:     spec.Labels,
	})
	if err != nil {
		return service.Volume{}, wrapf(err, "create volume %q", spec.Name)
	}
	return volumeFrom(res.Volume), nil
}

// RemoveVolume removes a volume; ErrConflict while a container uses it,
// ErrNotFound if there is none (also with force, which the engine would
// otherwise take as success).
func (b *Backend) RemoveVolume(ctx context.Context, name string, force bool) error {
	if force {
		if _, err := b.c.VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err != nil {
			return wrapf(err, "remove volume %q", name)
		}
	}
	_, err := b.c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: force})
	return wrapf(err, "remove volume %q", name)
}
