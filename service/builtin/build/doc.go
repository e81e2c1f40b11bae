// Package build builds images from a Dockerfile for berth's built-in
// runtime, into its image store (service/builtin/image), as docker's
// classic builder does: one instruction after the other, RUN steps in
// containers of the runtime (through a Runner), each COPY, ADD, RUN and
// WORKDIR that changes files adding one layer.
//
// # Dockerfiles
//
// Dockerfiles are parsed with BuildKit's parser
// (github.com/moby/buildkit/frontend/dockerfile/parser and instructions),
// and variables expanded with its shell lexer, so that the syntax
// (continuations, the escape directive, JSON and shell forms, quoting,
// ${VAR:-default}) is docker's. Supported: FROM (an image in the store,
// scratch or an earlier stage; AS name; --platform is ignored), ARG (before
// FROM too, with BuildKit's automatic TARGETPLATFORM, TARGETARCH, ...
// arguments), ENV, LABEL, MAINTAINER, WORKDIR (created when missing, owned
// by the USER, as BuildKit does), USER, EXPOSE, VOLUME,
// STOPSIGNAL, CMD, ENTRYPOINT, HEALTHCHECK, SHELL, RUN (with --network),
// COPY (--from a stage, by name or index, or an image; --chown by number
// or by name, looked up in the image's /etc/passwd and /etc/group; octal
// --chmod; --link is accepted and changes nothing) and ADD of local files,
// extracting local tar archives (uncompressed, gzip or bzip2). ONBUILD,
// heredocs, ADD of URLs, RUN --mount, --security and --device, COPY
// --parents and --exclude are refused with an error wrapping
// service.ErrUnsupported; so is a base image with ONBUILD triggers. The
// stages the target does not need (through FROM or COPY --from) are not
// built.
//
// # Reproducibility and the cache
//
// Builds are reproducible: layers are uncompressed tar streams with
// entries in path order, no user or group names and whole-second times
// (COPY keeps the sources' modification times); the image config's
// "created" time and its history's are the base image's (the Unix epoch
// for scratch), so the same context and spec give the same image ID and a
// changed file another.
//
// RUN steps are not reproducible, so their results are cached, keyed by
// the image they ran in (its ID) and everything else they are given
// (command, environment with the build arguments, user, working
// directory, network, extra hosts): an unchanged RUN on an unchanged image
// is not run again, unless BuildSpec.NoCache. The cache lives next to the
// store's blobs:
//
//	<store root>/buildcache/run/<key>.json    a step's result: the diff ID of
//	                                          its layer, or none
//	<store root>/buildcache/layers/<hex>.tar  the layers of cached steps,
//	                                          hard links to the store's
//	                                          blobs once stored (so that GC
//	                                          of the store does not lose
//	                                          them)
//	<store root>/buildcache/tmp/              builds' temporary files
//
// Nothing prunes the cache; deleting buildcache/ (between builds) only
// makes the next builds run their RUN steps again.
//
// While a build runs, the images its RUN steps run in are recorded in the
// store as "localhost/berth-build:<build>-<step>", and removed when it
// ends.
package build
