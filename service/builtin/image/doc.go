// Package image is the built-in runtime's content-addressed image store.
//
// It pulls images from OCI and Docker registries (via go-containerregistry),
// loads `docker save` and OCI image-layout tarballs, records references, and
// exposes stored images: their configuration and their layers, which it keeps
// as received (compressed) and decompresses on demand. It does not unpack
// layers onto a filesystem; that is the job of service/builtin/layer.
//
// # On-disk layout
//
// Everything lives under the root passed to Open (callers pass
// $BERTH_ROOT/images, by default /var/lib/berth/images):
//
//	<root>/
//	  blobs/sha256/<hex>   content-addressed blobs: manifests, image configs
//	                       and layers (compressed exactly as received); the
//	                       file name is the sha256 of the content
//	  refs.json            {"refs": {"<reference>": "sha256:<manifest hex>"}}
//	  lock                 flock(2) lock file, see below
//	  tmp/                 blobs being written, and tarballs being loaded
//
// References in refs.json are normalised with go-containerregistry's name
// package, Docker Hub spelled "docker.io" ("busybox" is recorded as
// "docker.io/library/busybox:latest"; "host:5000/app@sha256:..." stays a
// digest reference). An image loaded without a tag is recorded under its ID
// (the "sha256:..." digest of its config) so that it survives GC. A reference
// maps to the digest of a single-platform image manifest: when a reference
// names an index, the manifest recorded is the one chosen for the platform.
//
// Blobs are written to tmp/, their digest and size verified while writing,
// then renamed into blobs/; a blob already present is not fetched again.
// refs.json is replaced atomically (write a temporary file, then rename).
//
// # Concurrency
//
// Several berth processes may share a store. Writers (Pull, Load, Tag,
// Remove) hold a shared flock on <root>/lock for their whole duration and an
// exclusive one on <root>/lock.refs while they read-modify-write refs.json; GC
// holds an exclusive flock on <root>/lock, so it never deletes a blob that a
// concurrent pull has written but not yet referenced. Readers (Get, List, and
// the layers' Open) take no lock: every file they read is replaced atomically.
package image
