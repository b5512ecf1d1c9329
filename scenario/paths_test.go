package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBodyFilePaths: body_file is read from the scenario's folder, or from
// a folder allowed with --allow-paths; an escape (absolute, "..", a link
// out), a special file and a file over the cap are refused, by validate
// and again by ReadBody.
func TestBodyFilePaths(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "scenarios")
	other := filepath.Join(root, "other")
	for _, d := range []string{dir, other, filepath.Join(dir, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, size int) {
		if err := os.WriteFile(path, []byte(strings.Repeat("b", size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "body.json"), 10)
	write(filepath.Join(dir, "sub", "body.json"), 10)
	write(filepath.Join(other, "body.json"), 10)
	write(filepath.Join(dir, "big.bin"), MaxBodyFileBytes+1)
	write(filepath.Join(dir, "max.bin"), MaxBodyFileBytes)
	if err := os.Symlink(filepath.Join(other, "body.json"), filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		allow      []string
		want       string // "" when allowed
	}{
		{"in the folder", "body.json", nil, ""},
		{"in a subfolder", "sub/body.json", nil, ""},
		{"at the size cap", "max.bin", nil, ""},
		{"past the size cap", "big.bin", nil, "over the limit of 16MiB"},
		{"up and out", "../other/body.json", nil, "is outside the scenario's folder"},
		{"up and back in", "../scenarios/body.json", nil, ""},
		{"a link out", "link.json", nil, "is outside the scenario's folder"},
		{"a link out, allowed", "link.json", []string{other}, ""},
		{"absolute", filepath.Join(other, "body.json"), nil, "an absolute path is allowed only under a folder given with --allow-paths"},
		{"absolute, allowed", filepath.Join(other, "body.json"), []string{other}, ""},
		{"up and out, allowed", "../other/body.json", []string{other}, ""},
		{"a named pipe", "pipe", nil, "is a named pipe (FIFO), not a regular file"},
		{"a directory", "sub", nil, "is a directory, not a regular file"},
		{"a device", "/dev/zero", []string{"/dev"}, "is a character device, not a regular file"},
		{"missing", "nope.json", nil, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := &Scenario{File: filepath.Join(dir, "s.yaml"), AllowPaths: tc.allow}
			r := Request{BodyFile: tc.file}
			_, _, checkErr := sc.paths().check(tc.file, MaxBodyFileBytes)
			body, readErr := sc.ReadBody(r)
			for what, err := range map[string]error{"validate": checkErr, "ReadBody": readErr} {
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%s: %v, want %q", what, err, tc.want)
				}
			}
			if tc.want == "" && len(body) == 0 {
				t.Error("empty body")
			}
		})
	}
}
