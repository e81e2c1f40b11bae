// Package engine implements service.Backend on the Docker Engine API, through
// the maintained moby client (github.com/moby/moby/client and
// github.com/moby/moby/api).
//
// # Connection and versions
//
// New reads the usual environment (DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH, DOCKER_API_VERSION), pings the engine and negotiates the
// API version: berth never pins one, although DOCKER_API_VERSION does, as it
// does for the docker CLI. Engines from API 1.41 (Docker 20.10) up are
// supported, and Podman's Docker-compatible socket too. Where the engine's
// version matters the backend adapts:
//
//   - Below API 1.44 a container can only be created on one network; the
//     others are joined with NetworkConnect between create and start.
//   - Below API 1.44 the engine refuses a second network with a name already
//     taken only when the create asks it to (CheckDuplicate), which the moby
//     client no longer sends: CreateNetwork sends that request itself, over
//     the client's dialer (engineClient). The engine's check is not atomic
//     (creates sent at the same instant all succeed on Docker 20.10), so
//     CreateNetwork then lists the name, twice, and every creator keeps the
//     oldest network, the others removing theirs (ErrConflict). What is left
//     (a creator killed in between) is found and removed by reconcile's
//     observe. Containers join networks by ID where the caller knows it
//     (service.Endpoint.NetworkID), so a name that is ambiguous for a moment
//     fails nothing. Volumes need none of this: the engine holds one volume
//     per name.
//   - Below API 1.44 the engine reads a container's MAC address from its
//     Config.MacAddress only, for the network it is created on, a field the
//     moby client's types no longer have: a MAC address on the primary
//     network is sent there, in a create request of the backend's own
//     (engineClient again), as docker compose v2 does.
//   - Features the engine would silently ignore (a MAC address on another
//     network and the healthcheck start interval below 1.44, volume subpaths
//     below 1.45) give service.ErrUnsupported instead.
//
// # Images
//
// BuildImage uses the classic builder (builder version 1), which every
// engine has, BuildKit needing a session (and buildx) the backend does not
// provide; its output is decoded from the engine's JSON message stream and
// written line by line. PullImage and PushImage send the credentials the
// docker CLI would: from config.json in $DOCKER_CONFIG or ~/.docker, its
// "auths" entries, or the credential helper that credsStore or credHelpers
// names (docker-credential-<name>, when it is on PATH), for the registry of
// the reference (Docker Hub's under "https://index.docker.io/v1/"); without
// any, they go anonymous. Builds get the credentials of every registry the
// file names, for their base images.
//
// # Errors
//
// Errors are classified at the edge with containerd's errdefs, which the
// moby client uses for HTTP status codes: not found becomes
// service.ErrNotFound, conflict and already-exists become
// service.ErrConflict (as do the engine's 403 answers for a network that
// still has endpoints or a container already on a network), invalid
// parameter and not implemented become service.ErrUnsupported. The engine's
// own message is kept: every error reads "<operation> <object> "<name>":
// <engine message>: <sentinel>", and both the sentinel and the moby error are
// reachable with errors.Is and errors.As. Pulls, pushes and the FROM steps
// of builds, whose failures the engine often reports in the stream or with
// a status code that says nothing of them, also take messages such as
// "manifest unknown" or "repository does not exist" for ErrNotFound.
//
// # Tests
//
// The backend talks to the engine through apiClient, a private interface
// listing only the client methods it calls, so that unit tests use a small
// hand-written fake. The integration tests run against a real engine when
// one answers, skip otherwise, and fail under CI=true.
package engine
