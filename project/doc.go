// Package project turns compose files into berth's desired state.
//
// Loading is compose-go's work (interpolation, .env, env_file, several -f
// files, overrides, profiles, extends, include); this package calls it the way
// docker compose does, then derives what the runtime needs: the project name,
// per service its replicas (names project-service-N), the com.docker.compose.*
// labels and the configuration hash exactly as docker compose computes it, and
// the networks and volumes with their names, labels and hashes. A broken file
// gives LoadErrors that name the file, line, service and key.
//
// Loading is bounded: before compose-go reads a file, guard checks its size,
// nesting, values, ${...} forms and published port ranges against limits
// (guard.go) that keep any file, however written, to a fraction of a second
// and a few tens of MB; after it, checkValues refuses values the engine would
// refuse later (values.go). testdata/hostile holds the corpus that proves it.
//
// It imports nothing from the engine or the backends.
package project
