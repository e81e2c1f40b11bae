package confine

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Identity is the user a container's process runs as.
type Identity struct {
	UID, GID int
	Groups   []int
	Home     string
}

// LookupUser resolves a docker user spec ("", "name", "uid", "name:group",
// "uid:gid") and extra groups against the container's /etc/passwd and
// /etc/group, read through readFile, as runc does: a numeric uid absent
// from passwd is used as is with gid 0; a name absent from it is an error.
func LookupUser(spec string, groupAdd []string, readFile func(string) ([]byte, error)) (Identity, error) {
	id := Identity{Home: "/"}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd, _ := readFile("/etc/passwd")
	group, _ := readFile("/etc/group")
	name := ""
	if userPart == "" {
		userPart = "0"
	}
	found := false
	eachLine(passwd, func(f []string) bool {
		if len(f) < 7 || (f[0] != userPart && f[2] != userPart) {
			return true
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return true
		}
		id.UID, id.GID, id.Home, name, found = uid, gid, f[5], f[0], true
		return false
	})
	if !found {
		uid, err := strconv.Atoi(userPart)
		if err != nil {
			return id, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		id.UID, id.GID = uid, 0
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, group)
		if err != nil {
			return id, err
		}
		id.GID = gid
	} else if name != "" {
		eachLine(group, func(f []string) bool {
			if len(f) < 4 {
				return true
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == name {
					if gid, err := strconv.Atoi(f[2]); err == nil && gid != id.GID {
						id.Groups = append(id.Groups, gid)
					}
				}
			}
			return true
		})
	}
	for _, g := range groupAdd {
		gid, err := lookupGroup(g, group)
		if err != nil {
			return id, err
		}
		id.Groups = append(id.Groups, gid)
	}
	return id, nil
}

func lookupGroup(g string, group []byte) (int, error) {
	gid, found := 0, false
	eachLine(group, func(f []string) bool {
		if len(f) >= 3 && (f[0] == g || f[2] == g) {
			if n, err := strconv.Atoi(f[2]); err == nil {
				gid, found = n, true
				return false
			}
		}
		return true
	})
	if found {
		return gid, nil
	}
	if n, err := strconv.Atoi(g); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", g)
}

// eachLine calls fn with the colon-separated fields of each line of a
// passwd-style file until fn returns false.
func eachLine(b []byte, fn func([]string) bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !fn(strings.Split(line, ":")) {
			return
		}
	}
}
