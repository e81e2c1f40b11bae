// Package layer unpacks OCI/Docker image layers (tar streams) into a
// directory for berth's built-in runtime, on Linux, in pure Go.
//
// # Safety model
//
// A layer is untrusted input. The unpacker opens the target root once as a
// directory file descriptor and never resolves a path through the host's
// namespace afterwards:
//
//   - Every entry name is normalised: a leading "/" is stripped (Docker does
//     the same, so "/etc/x" lands in <root>/etc/x), "." components are
//     dropped, and any name containing a ".." component is rejected with an
//     error naming the entry. The hardlink target of a TypeLink entry is
//     normalised and checked the same way.
//   - The parent directory of each entry is resolved with openat2(2) and
//     RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS relative to the root fd: the
//     kernel treats the root as "/" for that walk, so ".." and absolute
//     symlinks met on the way (an earlier entry "evil -> /etc", then
//     "evil/passwd") stay inside the root and land in <root>/etc/passwd.
//     Missing parents are created (mode 0755), one component at a time, in
//     the same contained way; a parent that is a dangling symlink is
//     followed inside the root and its target created, as Docker does.
//   - The last component is never followed: it is created relative to the
//     parent fd with the *at system calls (mkdirat, openat with
//     O_CREAT|O_EXCL|O_NOFOLLOW, symlinkat, linkat without
//     AT_SYMLINK_FOLLOW, mknodat), after removing any existing non-directory
//     (or a directory replaced by a non-directory), and ownership, xattrs and
//     times are applied with AT_SYMLINK_NOFOLLOW semantics (xattrs through
//     /proc/self/fd/<parent fd>/<name> with lsetxattr, so /proc must be
//     mounted when a layer carries xattrs).
//   - Hardlink targets are resolved with the same contained walk; a target
//     that does not exist inside the root is an error.
//   - Block and character devices are skipped (and listed in
//     Stats.Skipped) unless Options.AllowDevices is set.
//
// openat2 needs Linux 5.6 or later; on an older kernel Unpack fails with
// "openat2 unavailable: kernel 5.6+ required" instead of falling back to a
// weaker scheme.
//
// # Modes
//
// With Options.Overlay false ("flattened"), layers are applied one over the
// other into the same directory: a whiteout file ".wh.<name>" removes <name>
// (recursively) from what earlier layers left, and the opaque marker
// ".wh..wh..opq" empties its directory of everything earlier layers put there
// while keeping what the current layer adds.
//
// With Options.Overlay true, each layer is unpacked into its own, empty
// directory that will be an overlayfs lower dir: a whiteout becomes an
// overlay whiteout (a 0/0 character device, created even when AllowDevices
// is false) and an opaque marker sets the "trusted.overlay.opaque" xattr to
// "y" on its directory (this needs CAP_SYS_ADMIN).
//
// Other ".wh..wh." names (AUFS metadata) are ignored. Modes, including
// setuid/setgid/sticky bits, are applied after ownership; ownership is
// applied unless Options.IgnoreOwnership; xattrs come from the PAX records
// "SCHILY.xattr.*"; modification times are set on every entry, and on
// directories in a final pass after their contents were written.
package layer
