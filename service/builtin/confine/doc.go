// Package confine is how every process of a built-in container is
// confined, as docker confines it: the capability set (CapSet, docker's
// default set with cap_add and cap_drop), the user and groups it runs as
// (LookupUser, from the container's /etc/passwd and /etc/group), and, on
// Linux, Confinement.Apply, which drops the bounding set, sets
// no_new_privs, loads the seccomp filter (package seccomp) and switches
// ids and capability sets on the calling thread. Entering the container
// (namespaces, cgroup, root) is package builtin's: its init and exec
// helper call Apply last, just before they exec.
package confine
