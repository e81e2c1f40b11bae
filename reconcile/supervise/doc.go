// Package supervise runs what a command does while it stays attached to
// containers: the attached up (Up: the services' output until they stop,
// the abort flags, Ctrl+C → stop, the exit code), run's one-off container
// (Run: create, attach, start, wait, --rm, as plans Apply runs), attach
// (Attach) and exec (Exec). Every change it makes to containers is a plan
// step applied by reconcile.Apply. It knows the runtime only through the
// service contract; what is printed and how the user's terminal behaves
// come in through small interfaces (Output, Terminal) the CLI implements.
package supervise
