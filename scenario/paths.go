package scenario

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// pathPolicy says where the files a scenario names (body_file) may be:
// under the scenario file's folder, written relative to it, or under a
// folder the user allowed (Scenario.AllowPaths, from --allow-paths). A
// file is also refused when it is not a regular file (a device such as
// /dev/zero, a named pipe, a directory) or is larger than its cap.
type pathPolicy struct {
	base  string   // the scenario's folder; "." when it has no file
	allow []string // more folders, from --allow-paths
}

func (s *Scenario) paths() pathPolicy {
	base := "."
	if s.File != "" {
		base = filepath.Dir(s.File)
	}
	return pathPolicy{base: base, allow: s.AllowPaths}
}

const allowHint = "or allow another folder with --allow-paths DIR"

// resolve returns the file name refers to, symbolic links followed, once
// it is known to be under an allowed folder: as written (so a missing
// file outside says so, not that it is missing), then as resolved (so a
// link cannot lead out).
func (p pathPolicy) resolve(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", errors.New("a path cannot contain a NUL byte")
	}
	candidate := filepath.Join(p.base, name)
	if filepath.IsAbs(name) {
		candidate = filepath.Clean(name)
	}
	if err := p.allowed(name, candidate, underDirLexically); err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(candidate)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read %s: %w", candidate, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return "", err
	}
	if err := p.allowed(name, real, underDir); err != nil {
		return "", err
	}
	return real, nil
}

// allowed says why path (name as written, resolved) may not be read, if so.
func (p pathPolicy) allowed(name, path string, under func(dir, path string) bool) error {
	for _, dir := range p.allow {
		if under(dir, path) {
			return nil
		}
	}
	baseAbs, _ := filepath.Abs(p.base)
	switch {
	case filepath.IsAbs(name):
		return fmt.Errorf("an absolute path is allowed only under a folder given with --allow-paths DIR; name a file relative to the scenario's folder (%s)", baseAbs)
	case !under(p.base, path):
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return fmt.Errorf("%s is outside the scenario's folder (%s); name a file under it, %s", path, baseAbs, allowHint)
	}
	return nil
}

// underDir reports whether path (absolute, links resolved) is dir or under
// it, dir's links resolved too.
func underDir(dir, path string) bool {
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	return underDirLexically(d, path)
}

// underDirLexically reports whether path is dir or under it, as written.
func underDirLexically(dir, path string) bool {
	d, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	p, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// check resolves name and checks that it is a regular file of at most
// maxBytes, returning its path and size.
func (p pathPolicy) check(name string, maxBytes int64) (string, int64, error) {
	path, err := p.resolve(name)
	if err != nil {
		return "", 0, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	if err := regular(path, info, maxBytes); err != nil {
		return "", 0, err
	}
	return path, info.Size(), nil
}

// regular refuses what is not a regular file of at most maxBytes.
func regular(path string, info fs.FileInfo, maxBytes int64) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", path, fileKind(info.Mode()))
	}
	if info.Size() > maxBytes {
		why := limitBodyFile.Why
		if maxBytes == MaxDataFileBytes {
			why = limitDataFile.Why
		}
		return fmt.Errorf("%s is %s, over the limit of %s (%s)", path, Size(info.Size()), Size(maxBytes), why)
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// read returns the content of the file name refers to: checked as check
// does before it is opened, checked again once open (it may have been
// replaced meanwhile), and read through a LimitReader.
func (p pathPolicy) read(name string, maxBytes int64) ([]byte, error) {
	path, _, err := p.check(name, maxBytes)
	if err != nil {
		return nil, err
	}
	f, err := openNoBlock(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := regular(path, info, maxBytes); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%s grew past the limit of %s while read", path, Size(maxBytes))
	}
	return data, nil
}

// ReadBody returns a request's body: the inline body, or the content of
// body_file, a path relative to the scenario file's folder (or under a
// folder in AllowPaths), a regular file of at most MaxBodyFileBytes.
func (s *Scenario) ReadBody(r Request) ([]byte, error) {
	if r.BodyFile == "" {
		return []byte(r.Body), nil
	}
	return s.paths().read(r.BodyFile, MaxBodyFileBytes)
}
