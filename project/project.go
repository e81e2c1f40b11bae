package project

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/berthdev/berth/service"
)

// Version is what berth writes into com.docker.compose.version. docker
// compose writes its own version there and reads it only for display; berth
// writes a compose-compatible version so tools that parse it keep working.
const Version = "2.40.3"

// Project is the desired state of one compose project: the compose-go model
// and what berth derives from it for the runtime.
type Project struct {
	// Name is the project name, normalised as docker compose does.
	Name string
	// WorkingDir is the project directory.
	WorkingDir string
	// ComposeFiles are the files loaded, in merge order.
	ComposeFiles []string
	// EnvFiles are the --env-file files given, if any.
	EnvFiles []string
	// Model is the compose-go model with env_file contents resolved into each
	// service's environment, as docker compose runs it.
	Model *types.Project
	// Services are the active services, sorted by name.
	Services []*Service
	// Networks are the networks the active services use, sorted by key.
	Networks []*Network
	// Volumes are the named volumes, sorted by key.
	Volumes []*Volume
	// DisabledServices are services switched off by profiles: containers of
	// theirs are not orphans.
	DisabledServices []string
	// Providers are the active services run by a provider (the compose
	// spec's provider: key) rather than as containers, sorted by name.
	Providers []*Provider

	// common are the labels of every container of the project.
	common map[string]string

	// unresolved is the model before env_file resolution, for ConfigHashes.
	unresolved *types.Project
	// compatibility is Options.Compatibility.
	compatibility bool
}

// ConfigHashes returns the values `docker compose config --hash` prints, by
// service: as docker compose v5 by default, the hash of the services as
// their containers are created (env_file contents merged into environment:
// the containers' label); with resolveEnv false, as docker compose v5's
// --no-env-resolution and v2's default, of the model before that merge.
func (p *Project) ConfigHashes(resolveEnv bool) (map[string]string, error) {
	model := p.unresolved
	if resolveEnv {
		model = p.Model
	}
	out := map[string]string{}
	for name, s := range model.Services {
		h, err := ServiceHash(s)
		if err != nil {
			return nil, err
		}
		out[name] = h
	}
	return out, nil
}

// UpToDate says whether a container whose config hash label is hash runs
// the service's current configuration: hash is what berth or any docker
// compose release line berth knows computes for it (see Hashes).
func (s *Service) UpToDate(hash string) bool {
	return hash == s.Hash || slices.Contains(s.Hashes, hash)
}

// UnresolvedModel is the model before env_file contents are merged into
// each service's environment (config --no-env-resolution).
func (p *Project) UnresolvedModel() *types.Project { return p.unresolved }

// Service is the desired state of one service.
type Service struct {
	// Name is the service key.
	Name string
	// Config is the compose-go model of the service (environment resolved).
	Config types.ServiceConfig
	// Hash is the configuration hash written on its containers (docker
	// compose v5's).
	Hash string
	// Hashes are the hashes that mean a container is up to date: Hash and
	// what the other docker compose release lines compute (ServiceHashes).
	Hashes []string
	// Scale is the number of replicas wanted.
	Scale int
	// Image is the image reference, or project-service for built images.
	Image string
	// Labels are the labels every replica carries (user labels plus the
	// com.docker.compose.* ones), without the per-replica number.
	Labels map[string]string

	// separator joins project, service and number in container names:
	// "-", or "_" in compatibility mode (Options.Compatibility).
	separator string
}

// Network is the desired state of one network.
type Network struct {
	// Key is the network's key in the file ("default", ...).
	Key string
	// Name is the engine-side name (project_key, or name:).
	Name string
	// External networks must exist and are never created or removed.
	External bool
	// Config is the compose-go model of the network.
	Config types.NetworkConfig
	// Hash is the configuration hash written on the network.
	Hash string
	// Labels are the labels the network carries.
	Labels map[string]string
}

// Volume is the desired state of one named volume.
type Volume struct {
	// Key is the volume's key in the file.
	Key string
	// Name is the engine-side name (project_key, or name:).
	Name string
	// External volumes must exist and are never created or removed.
	External bool
	// Config is the compose-go model of the volume.
	Config types.VolumeConfig
	// Hash is the configuration hash written on the volume.
	Hash string
	// Labels are the labels the volume carries.
	Labels map[string]string
}

// Replica is one container a service wants.
type Replica struct {
	// Number is the 1-based replica number.
	Number int
	// Name is the container name: container_name, or project-service-N.
	Name string
	// Labels are the service's labels plus the container number.
	Labels map[string]string
}

// Service returns the active service called name, or nil.
func (p *Project) Service(name string) *Service {
	for _, s := range p.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Replica returns replica number n (1-based) of the service in project.
func (s *Service) Replica(project string, n int) Replica {
	name := s.Config.ContainerName
	if name == "" {
		name = ContainerName(project, s.Name, n)
		if s.separator != "" {
			name = project + s.separator + s.Name + s.separator + strconv.Itoa(n)
		}
	}
	labels := make(map[string]string, len(s.Labels)+1)
	for k, v := range s.Labels {
		labels[k] = v
	}
	labels[service.LabelContainerNumber] = strconv.Itoa(n)
	return Replica{Number: n, Name: name, Labels: labels}
}

// ContainerName is docker compose's default container name.
func ContainerName(project, svc string, n int) string {
	return project + "-" + svc + "-" + strconv.Itoa(n)
}

// ImageName is the image a service runs: its image:, or project-service for
// a service that is only built.
func ImageName(project string, s types.ServiceConfig) string {
	return imageName(project, "-", s)
}

func imageName(project, sep string, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return project + sep + s.Name
}

// Separator joins the parts of a container name, as docker compose's
// api.Separator: "-", or "_" in compatibility mode (docker compose v1's).
func (p *Project) Separator() string {
	if p.compatibility {
		return "_"
	}
	return "-"
}

// derive computes berth's desired state from the loaded model.
func derive(model *types.Project, opts Options, envFiles []string) (*Project, error) {
	model, err := selectServices(model, opts.Services, opts.AllResources)
	if err != nil {
		return nil, err
	}
	applyDefaultPlatform(model)

	p := &Project{
		Name:         model.Name,
		WorkingDir:   model.WorkingDir,
		ComposeFiles: model.ComposeFiles,
		EnvFiles:     envFiles,
		unresolved:   model,

		compatibility: opts.Compatibility,
	}

	if opts.DiscardEnvFiles {
		services := make(types.Services, len(model.Services))
		for name, svc := range model.Services {
			svc.EnvFiles = nil
			services[name] = svc
		}
		m := *model
		m.Services = services
		model = &m
	}
	resolved, err := model.WithServicesEnvironmentResolved(true)
	if err != nil {
		return nil, explain(err, model.ComposeFiles)
	}
	if err := resolved.CheckContainerNameUnicity(); err != nil {
		return nil, explain(err, model.ComposeFiles)
	}
	p.Model = resolved
	p.DisabledServices = resolved.DisabledServiceNames()
	sort.Strings(p.DisabledServices)

	common := map[string]string{
		service.LabelProject:     p.Name,
		service.LabelVersion:     Version,
		service.LabelWorkingDir:  p.WorkingDir,
		service.LabelConfigFiles: strings.Join(p.ComposeFiles, ","),
		service.LabelOneoff:      service.OneoffFalse,
	}
	if len(envFiles) > 0 {
		common[service.LabelEnvironmentFile] = strings.Join(envFiles, ",")
	}
	p.common = common
	for _, name := range resolved.ServiceNames() {
		cfg := resolved.Services[name]
		if cfg.Provider != nil {
			p.Providers = append(p.Providers, &Provider{Name: name, Config: cfg})
			continue
		}
		svc, err := p.newService(name, cfg)
		if err != nil {
			return nil, err
		}
		p.Services = append(p.Services, svc)
	}
	sort.Slice(p.Services, func(i, j int) bool { return p.Services[i].Name < p.Services[j].Name })
	sort.Slice(p.Providers, func(i, j int) bool { return p.Providers[i].Name < p.Providers[j].Name })

	for _, key := range sortedKeys(resolved.Networks) {
		cfg := resolved.Networks[key]
		h, err := NetworkHash(cfg)
		if err != nil {
			return nil, err
		}
		labels := resourceLabels(cfg.Labels, p.Name, service.LabelNetwork, key, h)
		p.Networks = append(p.Networks, &Network{Key: key, Name: cfg.Name, External: bool(cfg.External), Config: cfg, Hash: h, Labels: labels})
	}
	for _, key := range sortedKeys(resolved.Volumes) {
		cfg := resolved.Volumes[key]
		h, err := VolumeHash(cfg)
		if err != nil {
			return nil, err
		}
		labels := resourceLabels(cfg.Labels, p.Name, service.LabelVolume, key, h)
		p.Volumes = append(p.Volumes, &Volume{Key: key, Name: cfg.Name, External: bool(cfg.External), Config: cfg, Hash: h, Labels: labels})
	}
	return p, nil
}

// newService derives the desired state of the container service name.
func (p *Project) newService(name string, cfg types.ServiceConfig) (*Service, error) {
	hashes, err := ServiceHashes(cfg)
	if err != nil {
		return nil, err
	}
	h := hashes[0]
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	for k, v := range p.common {
		labels[k] = v
	}
	labels[service.LabelService] = name
	labels[service.LabelConfigHash] = h
	labels[service.LabelConfigDigest] = ConfigDigest(cfg)
	labels[service.LabelDependsOn] = dependsOnLabel(cfg.DependsOn)
	return &Service{
		Name:   name,
		Config: cfg,
		Hash:   h,
		Hashes: hashes,
		Scale:  cfg.GetScale(),
		Image:  imageName(p.Name, p.Separator(), cfg),
		Labels: labels,

		separator: p.Separator(),
	}, nil
}

// resourceLabels are a network's or volume's labels: the user's, plus the
// project, its key (under keyLabel), the version and the config hash.
func resourceLabels(user map[string]string, projectName, keyLabel, key, hash string) map[string]string {
	labels := make(map[string]string, len(user)+4)
	for k, v := range user {
		labels[k] = v
	}
	labels[service.LabelProject] = projectName
	labels[keyLabel] = key
	labels[service.LabelVersion] = Version
	labels[service.LabelConfigHash] = hash
	return labels
}

// dependsOnLabel renders depends_on as docker compose's label does,
// "svc:condition:restart" joined by commas, sorted so it is stable.
func dependsOnLabel(deps types.DependsOnConfig) string {
	parts := make([]string, 0, len(deps))
	for _, name := range sortedKeys(deps) {
		d := deps[name]
		parts = append(parts, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	return strings.Join(parts, ",")
}

// applyDefaultPlatform gives services without a platform the one
// DOCKER_DEFAULT_PLATFORM names, as docker compose does before hashing.
func applyDefaultPlatform(model *types.Project) {
	platform := model.Environment["DOCKER_DEFAULT_PLATFORM"]
	if platform == "" {
		return
	}
	for name, s := range model.Services {
		if s.Platform == "" {
			s.Platform = platform
			model.Services[name] = s
		}
	}
}
