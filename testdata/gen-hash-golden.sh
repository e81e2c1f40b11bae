#!/usr/bin/env bash
# Writes the hash goldens of each fixture under testdata/config from the
# reference docker compose binaries (../../shared/peers): hash.golden from v5.5.0's
# `config --hash '*'`, hash-v2.golden from v2.40.3's. Hashes cover absolute
# paths (bind sources, env_file), so each fixture is copied to
# /tmp/berth-golden/<name> first, where the tests compute them too
# (cmd/cli TestConfigGolden, project TestServiceHashesGolden).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peers=$("$here/../../shared/peers/install")
for dir in "$here"/config/*/; do
	name=$(basename "$dir")
	fixed=/tmp/berth-golden/$name
	rm -rf "$fixed" && mkdir -p "$fixed" && cp -a "$dir". "$fixed"
	args=$(cat "$dir/args" 2>/dev/null || true)
	env=$(cat "$dir/env" 2>/dev/null || true)
	# shellcheck disable=SC2086 # args and env are word lists
	(cd "$fixed" && env -i PATH="$PATH" $env "$peers/docker-compose-v5.5.0" $args config --hash '*') | sed "s#$fixed#<dir>#g" >"$dir/hash.golden"
	# shellcheck disable=SC2086
	(cd "$fixed" && env -i PATH="$PATH" $env "$peers/docker-compose-v2.40.3" $args config --hash '*') | sed "s#$fixed#<dir>#g" >"$dir/hash-v2.golden"
done
