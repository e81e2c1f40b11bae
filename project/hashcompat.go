package project

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
)

// A release is a line of docker compose releases whose service hash berth
// reproduces. docker compose hashes the JSON of compose-go's ServiceConfig,
// so the hash depends on the field order and JSON tags of the compose-go
// that a release links, not only on the service. berth does not hash its
// own compose-go's encoding: it re-encodes the service the way each
// release's compose-go does (field order, fields that release knows, the
// few values encoded differently), so that a compose-go upgrade in berth
// moves no hash (TestConfigHashGolden holds the reference binaries' values).
type release struct {
	// name is the docker compose line; compose is the compose-go version
	// its encoding comes from.
	name, compose string
	// order is ServiceConfig's JSON keys in that compose-go's field order;
	// keys it does not list are left out.
	order []string
	// fix, when set, rewrites one key's value (raw JSON of berth's
	// compose-go), returning one or more variants (the release encodes
	// the same model differently, or berth's model cannot tell two of its
	// models apart).
	fix func(key string, v json.RawMessage) ([]json.RawMessage, error)
}

// serviceKeys214 are ServiceConfig's keys in compose-go v2.9–v2.14's order
// (v2.9 lacks pre_start, which a v2.9 encoding never holds).
var serviceKeys214 = []string{"profiles", "annotations", "attach", "build", "develop", "blkio_config", "cap_add", "cap_drop",
	"cgroup_parent", "cgroup", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime",
	"cpus", "cpuset", "cpu_shares", "command", "configs", "container_name", "credential_spec", "depends_on", "deploy",
	"device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "dockerfile", "domainname", "entrypoint", "provider",
	"environment", "env_file", "expose", "extends", "external_links", "extra_hosts", "group_add", "gpus", "hostname",
	"healthcheck", "image", "init", "ipc", "isolation", "labels", "label_file", "links", "logging", "log_driver",
	"log_opt", "mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "mac_address", "models", "net",
	"network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports",
	"privileged", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size",
	"stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits",
	"use_api_socket", "user", "userns_mode", "uts", "volume_driver", "volumes", "volumes_from", "working_dir",
	"pre_start", "post_start", "pre_stop"}

// releases are the lines berth reproduces, the one whose hash berth writes
// first.
var releases = []release{
	{name: "docker compose v5", compose: "compose-go v2.14", order: serviceKeys214, fix: fixV5},
	{name: "docker compose v2.3x-v2.40", compose: "compose-go v2.9", order: serviceKeys214, fix: fixV2},
}

// fixV5 re-encodes what compose-go v2.14 encodes differently from berth's.
func fixV5(key string, v json.RawMessage) ([]json.RawMessage, error) {
	switch key {
	case "networks":
		// use_service_name_alias came later.
		out, err := mapObjects(v, func(o *object) { o.drop("use_service_name_alias") })
		return []json.RawMessage{out}, err
	case "pre_start":
		// A pre_start hook was a ServiceHook.
		out, err := listObjects(v, func(o *object) {
			o.keep("command", "image", "user", "privileged", "working_dir", "environment", "per_replica")
		})
		return []json.RawMessage{out}, err
	}
	return []json.RawMessage{v}, nil
}

// fixV2 re-encodes what compose-go v2.9 encodes differently: on top of
// v2.14's differences, an env_file that is required is its path alone,
// and a bind's create_host_path was a plain bool (emitted when true)
// where berth's compose-go leaves out true. berth's model has true both
// for a short-syntax bind (v2.9: true, emitted) and for a long-syntax one
// without the key (v2.9: false, left out): every combination is given
// (bindVariants).
func fixV2(key string, v json.RawMessage) ([]json.RawMessage, error) {
	switch key {
	case "pre_start":
		return nil, nil // v2.9 has no pre_start: left out
	case "env_file":
		var files []map[string]json.RawMessage
		if err := json.Unmarshal(v, &files); err != nil {
			return nil, err
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(v, &raw); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		b.WriteByte('[')
		for i, f := range files {
			if i > 0 {
				b.WriteByte(',')
			}
			if _, optional := f["required"]; !optional {
				b.Write(f["path"]) // format is lost, as v2.9 loses it
				continue
			}
			// path, required, format: the same fields in the same order.
			enc, err := objectOf(raw[i], func(*object) {})
			if err != nil {
				return nil, err
			}
			b.Write(enc)
		}
		b.WriteByte(']')
		return []json.RawMessage{b.Bytes()}, nil
	case "volumes":
		return bindVariants(v)
	}
	return fixV5(key, v)
}

// maxBindVariants bounds the variants of a service's volumes (every
// combination of the possible syntaxes of its binds); past it, the binds
// all take their first, then all their last possibility.
const maxBindVariants = 64

// bindVariants re-encodes a service's volumes for compose-go v2.9. A bind
// whose create_host_path berth's model leaves out (true) may have been
// written in three ways, which v2.9 encodes differently: the short syntax
// (create_host_path true, emitted), the long syntax with a bind: key (left
// out) and, when the bind has nothing else, the long syntax without one
// (no bind object at all).
func bindVariants(v json.RawMessage) ([]json.RawMessage, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, err
	}
	alts := make([][]json.RawMessage, len(list)) // the possible encodings of each volume
	for i, item := range list {
		o, err := parseObject(item)
		if err != nil {
			return nil, err
		}
		bind, ok := o.get("bind")
		if !ok {
			alts[i] = []json.RawMessage{item}
			continue
		}
		b, err := parseObject(bind)
		if err != nil {
			return nil, err
		}
		if raw, ok := b.get("create_host_path"); ok {
			if string(raw) == "false" {
				b.drop("create_host_path") // v2.9's false is left out
			}
			o.set("bind", b.encode())
			alts[i] = []json.RawMessage{o.encode()}
			continue
		}
		long := o.encode()
		short, err := objectOf(bind, (*object).insertCreateHostPath)
		if err != nil {
			return nil, err
		}
		o.set("bind", short)
		alts[i] = []json.RawMessage{o.encode(), long}
		if len(b.keys) == 0 {
			o.drop("bind")
			alts[i] = append(alts[i], o.encode())
		}
	}
	n := 1
	for _, a := range alts {
		if n *= len(a); n > maxBindVariants {
			break
		}
	}
	var picks [][]int // for each variant, the alternative of each volume
	if n <= maxBindVariants {
		pick := make([]int, len(alts))
		for {
			picks = append(picks, slices.Clone(pick))
			i := 0
			for ; i < len(pick); i++ {
				if pick[i]++; pick[i] < len(alts[i]) {
					break
				}
				pick[i] = 0
			}
			if i == len(pick) {
				break
			}
		}
	} else {
		first, last := make([]int, len(alts)), make([]int, len(alts))
		for i, a := range alts {
			last[i] = len(a) - 1
		}
		picks = [][]int{first, last}
	}
	out := make([]json.RawMessage, 0, len(picks))
	for _, pick := range picks {
		var b bytes.Buffer
		b.WriteByte('[')
		for i, a := range alts {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(a[pick[i]])
		}
		b.WriteByte(']')
		out = append(out, b.Bytes())
	}
	return out, nil
}

// encodings returns the JSON that r's compose-go gives s (s as hashable
// returns it), in every variant.
func (r release) encodings(s types.ServiceConfig) ([][]byte, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	outs := [][]byte{[]byte("{")}
	for _, k := range r.order {
		v, ok := fields[k]
		if !ok {
			continue
		}
		vs := []json.RawMessage{v}
		if r.fix != nil {
			if vs, err = r.fix(k, v); err != nil {
				return nil, fmt.Errorf("%s (%s encoding): %w", k, r.compose, err)
			}
		}
		if len(vs) == 0 {
			continue
		}
		key, _ := json.Marshal(k)
		var next [][]byte
		for _, o := range outs {
			for _, v := range vs {
				b := bytes.Clone(o)
				if len(b) > 1 {
					b = append(b, ',')
				}
				b = append(append(append(b, key...), ':'), v...)
				next = append(next, b)
			}
		}
		outs = next
	}
	for i := range outs {
		outs[i] = append(outs[i], '}')
	}
	return outs, nil
}

// object is a JSON object whose key order is kept.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func parseObject(raw json.RawMessage) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	o := &object{vals: map[string]json.RawMessage{}}
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not an object: %s", raw)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.keys = append(o.keys, k)
		o.vals[k] = v
	}
	return o, nil
}

func (o *object) get(k string) (json.RawMessage, bool) { v, ok := o.vals[k]; return v, ok }

func (o *object) set(k string, v json.RawMessage) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) drop(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

// keep leaves only the keys listed, in the list's order.
func (o *object) keep(keys ...string) {
	var kept []string
	for _, k := range keys {
		if _, ok := o.vals[k]; ok {
			kept = append(kept, k)
		}
	}
	o.keys = kept
}

// insertCreateHostPath adds "create_host_path": true to a bind, where
// ServiceVolumeBind has it: after selinux and propagation, before
// recursive.
func (o *object) insertCreateHostPath() {
	const k = "create_host_path"
	o.vals[k] = json.RawMessage("true")
	at := 0
	for i, key := range o.keys {
		if key == "selinux" || key == "propagation" {
			at = i + 1
		}
	}
	o.keys = append(o.keys[:at], append([]string{k}, o.keys[at:]...)...)
}

func (o *object) encode() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		b.Write(key)
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

func objectOf(raw json.RawMessage, f func(*object)) (json.RawMessage, error) {
	o, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	f(o)
	return o.encode(), nil
}

// listObjects applies f to every object of a JSON list.
func listObjects(raw json.RawMessage, f func(*object)) (json.RawMessage, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, item := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		enc, err := objectOf(item, f)
		if err != nil {
			return nil, err
		}
		b.Write(enc)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// mapObjects applies f to every object value of a JSON object (sorted by
// key, as encoding/json writes maps); null values stay null.
func mapObjects(raw json.RawMessage, f func(*object)) (json.RawMessage, error) {
	o, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	for _, k := range o.keys {
		if string(o.vals[k]) == "null" {
			continue
		}
		enc, err := objectOf(o.vals[k], f)
		if err != nil {
			return nil, err
		}
		o.vals[k] = enc
	}
	return o.encode(), nil
}
