#!/usr/bin/env bash
# deps.sh installs and starts what berth's tests need on a Debian machine:
# the Debian packages below and a running Docker engine (dockerd) on the
# default socket. There is no systemd on our machines, so dockerd is started
# directly in the background. docker-compose is Debian's Python docker-compose
# v1 (1.29.2), the other side of the interoperability tests
# (e2e/interop_test.go).
#
# It is idempotent, and fast when everything is already in place: one
# dpkg-query and one `docker info`. Run it as root (installing and starting
# dockerd need root; a check that finds everything in place does not).
#
# Environment:
#   BERTH_DOCKERD_LOG   where a dockerd started here logs
#                       (default /var/log/berth-dockerd.log)
#   BERTH_DOCKERD_WAIT  seconds to wait for dockerd to answer (default 60)
set -euo pipefail

packages=(docker.io docker-compose busybox-static docker-registry iproute2 util-linux ca-certificates)
dockerd_log=${BERTH_DOCKERD_LOG:-/var/log/berth-dockerd.log}
dockerd_wait=${BERTH_DOCKERD_WAIT:-60}
dockerd_pidfile=/var/run/docker.pid
default_host=unix:///var/run/docker.sock
started_pid= # the dockerd this script started, if any

log() { printf 'deps: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

need_root() {
	if [[ $(id -u) -ne 0 ]]; then
		die "$1 needs root; run this script as root"
	fi
}

# install_packages installs the packages that are not installed yet, running
# apt-get update once, and only if something is missing.
install_packages() {
	local missing=() name status
	declare -A installed=()
	# One dpkg-query for all packages; unknown ones make it exit non-zero.
	while read -r name status; do
		[[ $status == installed ]] && installed[$name]=1
	done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
	for name in "${packages[@]}"; do
		[[ -n ${installed[$name]:-} ]] || missing+=("$name")
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	need_root "installing ${missing[*]}"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}"
}

engine_answers() {
	timeout 20 docker info >/dev/null 2>&1
}

# mount_cgroups mounts the cgroup hierarchies when nothing did (no systemd).
mount_cgroups() {
	if ! mountpoint -q /sys/fs/cgroup && command -v cgroupfs-mount >/dev/null; then
		log "mounting cgroups with cgroupfs-mount"
		cgroupfs-mount || log "cgroupfs-mount failed; dockerd may not start"
	fi
}

# running_dockerd prints the pid in dockerd's pid file when that process is
# a live dockerd; it prints nothing for a missing or stale pid file.
running_dockerd() {
	local pid comm
	[[ -r $dockerd_pidfile ]] || return 0
	pid=$(tr -dc '0-9' <"$dockerd_pidfile")
	[[ -n $pid ]] || return 0
	comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
	if [[ $comm == dockerd ]]; then
		echo "$pid"
	fi
}

start_dockerd() {
	local pid
	pid=$(running_dockerd)
	if [[ -n $pid ]]; then
		# A dockerd that is starting (or restarting containers) owns the
		# socket: wait for it rather than start a second one.
		log "dockerd (pid $pid) is running but not answering yet; waiting"
		return 0
	fi
	need_root "starting dockerd"
	command -v dockerd >/dev/null || die "dockerd not found although docker.io is installed"
	if [[ -e $dockerd_pidfile ]]; then
		log "removing stale $dockerd_pidfile"
		rm -f "$dockerd_pidfile"
	fi
	# dockerd reuses the containerd named in this pid file when that pid is
	# alive: drop the file if the pid now belongs to something else.
	local ctrd_pidfile=/var/run/docker/containerd/containerd.pid
	if [[ -r $ctrd_pidfile ]]; then
		pid=$(tr -dc '0-9' <"$ctrd_pidfile")
		if [[ -z $pid || $(cat "/proc/$pid/comm" 2>/dev/null || true) != containerd ]]; then
			log "removing stale $ctrd_pidfile"
			rm -f "$ctrd_pidfile"
		fi
	fi
	mount_cgroups
	mkdir -p "$(dirname "$dockerd_log")"
	log "starting dockerd (log: $dockerd_log)"
	printf -- '--- %s: started by %s\n' "$(date -u +%FT%TZ)" "$0" >>"$dockerd_log"
	# setsid: the daemon outlives this script and the make that ran it, and
	# does not get the terminal's signals.
	nohup setsid dockerd >>"$dockerd_log" 2>&1 </dev/null &
	started_pid=$!
}

# alive reports whether process $1 runs (a zombie does not count).
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
	[[ -n $state && $state != Z ]]
}

fail_with_log() {
	log "error: $*"
	if [[ -r $dockerd_log ]]; then
		log "last lines of $dockerd_log:"
		tail -n 30 "$dockerd_log" >&2
	fi
	exit 1
}

wait_engine() {
	local deadline=$((SECONDS + dockerd_wait))
	until engine_answers; do
		if [[ -n $started_pid ]] && ! alive "$started_pid"; then
			local other
			other=$(running_dockerd)
			if [[ -z $other ]]; then
				fail_with_log "dockerd (pid $started_pid) exited before the engine answered"
			fi
			# Lost a race with another start (say, a second deps.sh).
			log "dockerd (pid $other) owns the engine; waiting for it"
			started_pid=
		fi
		if ((SECONDS >= deadline)); then
			fail_with_log "the Docker engine did not answer within ${dockerd_wait}s"
		fi
		sleep 0.5
	done
}

ensure_engine() {
	if engine_answers; then
		return 0
	fi
	local host=${DOCKER_HOST:-$default_host}
	if [[ $host != "$default_host" && $host != unix:///run/docker.sock ]]; then
		die "no Docker engine answers at DOCKER_HOST=$host, and this script only starts one on $default_host"
	fi
	start_dockerd
	wait_engine
	log "Docker engine is up: $(docker info --format '{{.ServerVersion}}' 2>/dev/null)"
}

install_packages
ensure_engine
