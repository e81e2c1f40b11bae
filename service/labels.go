package service

// The labels docker compose puts on the objects it manages. berth writes the
// same labels with the same values, so that docker compose sees berth's
// projects as its own and berth sees docker compose's.
const (
	// LabelProject holds the project name on containers, networks and volumes.
	LabelProject = "com.docker.compose.project"
	// LabelService holds the service name on containers.
	LabelService = "com.docker.compose.service"
	// LabelContainerNumber holds the 1-based replica number on service containers
	// (one-off containers have none).
	LabelContainerNumber = "com.docker.compose.container-number"
	// LabelConfigHash holds the configuration hash of the object's desired state.
	// docker compose only lists containers that carry it.
	LabelConfigHash = "com.docker.compose.config-hash"
	// LabelOneoff is "True" on one-off (run) containers and "False" otherwise.
	LabelOneoff = "com.docker.compose.oneoff"
	// LabelSlug holds the random identifier of a one-off container.
	LabelSlug = "com.docker.compose.slug"
	// LabelImage holds the digest or ID of the image a container was created from.
	LabelImage = "com.docker.compose.image"
	// LabelDependsOn holds the service's dependencies as "svc:condition:restart,...".
	LabelDependsOn = "com.docker.compose.depends_on"
	// LabelVersion holds the version of the tool that created the object.
	LabelVersion = "com.docker.compose.version"
	// LabelWorkingDir holds the project's working directory.
	LabelWorkingDir = "com.docker.compose.project.working_dir"
	// LabelConfigFiles holds the project's compose files, comma-separated.
	LabelConfigFiles = "com.docker.compose.project.config_files"
	// LabelEnvironmentFile holds the --env-file paths, comma-separated.
	LabelEnvironmentFile = "com.docker.compose.project.environment_file"
	// LabelReplace holds the name of the container a recreated container replaces.
	LabelReplace = "com.docker.compose.replace"
	// LabelNetwork holds the compose key of a network ("default", ...).
	LabelNetwork = "com.docker.compose.network"
	// LabelVolume holds the compose key of a volume.
	LabelVolume = "com.docker.compose.volume"
	// LabelImageBuilder marks images built by the classic builder ("classic").
	LabelImageBuilder = "com.docker.compose.image.builder"
)

// LabelConfigDigest is berth's own label: the configuration summarised key by
// key (project.ConfigDigest), so that a plan can name the keys that changed.
// docker compose ignores it.
const LabelConfigDigest = "dev.berth.config-digest"

// Values of LabelOneoff. docker compose compares them as strings.
const (
	OneoffTrue  = "True"
	OneoffFalse = "False"
)
