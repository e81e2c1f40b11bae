// Package archive copies files into and out of a container's root
// filesystem for berth's built-in runtime, with the semantics of docker cp
// (the Engine API's GET and PUT /containers/{id}/archive), on Linux, in
// pure Go.
//
// The root is a host directory holding the container's filesystem (the
// /proc/<pid>/root of a running container, or its mounted rootfs), and it
// is treated as a chroot: every path is resolved inside it, as the
// container would resolve it, and no symbolic link, absolute or relative,
// leads out of it.
//
// # Safety model
//
// The root is opened once as an O_PATH directory file descriptor and
// paths are resolved relative to it with openat2(2) and
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, so that ".." and absolute
// symlinks met on the way stay inside the root.
//
// Archive resolves the parent of the path that way (or the path itself
// when it ends in "/" or "/."), then walks the tree with *at system calls
// relative to directory file descriptors, never following a symlink
// (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW): file contents are read from a
// descriptor opened in its directory and checked to be the file that was
// listed, never through a host path that could be swapped under it. The
// contents of procfs and sysfs directories (a running container's /proc
// and /sys) are not archived.
//
// Extract resolves the destination directory inside the root, then
// rewrites the tar stream so that each entry is named from the root,
// refusing names that climb out of the destination ("../x"), and applies
// it with the layer package's unpacker, which creates every entry relative
// to descriptors resolved inside the root (see package layer): an entry
// written through a symlink the archive (or the container) made lands
// inside the root too.
//
// openat2 needs Linux 5.6 or later. On other systems Archive and Extract
// fail.
package archive
