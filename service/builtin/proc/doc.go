// Package proc is the built-in runtime's process side, what runs inside or
// right next to a container: the container's init (InitMain: overlayfs
// root, mounts, /dev, confinement, then exec of the command, from the
// InitConfig the shim sends on fd 3), the exec helper that enters a
// running container (ExecMain, from an ExecConfig), the reaping PID 1 of
// init: true (ReaperMain), terminals (OpenPty, PtyReader, SetWinsize), and
// what a caller reads of a process (StartTime, ExitStatus, StartError).
// Package builtin's Dispatch runs the hidden subcommands; the shim that
// supervises a container, and everything that needs its record, stay in
// builtin.
package proc
