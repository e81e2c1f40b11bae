// Package publish writes a compose project as an OCI artifact, the way
// docker compose v5's `publish` does, so that `docker compose -f
// oci://REGISTRY/REPO:TAG` (and berth) can run it from the registry.
//
// The artifact is one image manifest (OCI 1.1: artifactType
// application/vnd.docker.compose.project with the empty config; OCI 1.0,
// for registries that refuse that: the config media type
// application/vnd.docker.compose.config.empty.v1+json) whose layers are:
//
//   - each compose file as written (application/vnd.docker.compose.file+yaml,
//     annotation com.docker.compose.file), with every env_file path
//     replaced by "<sha256 of the path>.env" and every local extends file
//     by "<sha256 of the path>.yaml", so no local path leaks;
//   - the extends files, rewritten alike (annotation
//     com.docker.compose.extends=true);
//   - with WithEnv, the env files (application/vnd.docker.compose.envfile,
//     annotation com.docker.compose.envfile);
//   - with ResolveDigests, an override file image-digests.yaml that pins
//     each service's image to the digest its registry has.
//
// Before that, Check refuses what docker compose refuses (services with
// only a build section, local include files) and asks Confirm before
// publishing bind mounts, data that looks sensitive, env_file declarations
// and literal config contents. Publish pushes through a Registry (berth's is
// service/registry's Client), and falls back to OCI 1.0 when the registry
// refuses the 1.1 manifest.
//
// ResolveImageDigests is also what `config --resolve-image-digests` uses.
package publish
