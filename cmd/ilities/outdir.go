package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// outputName is how an output is named in --out NAME=URL, the form other
// load tools give live outputs (influxdb=http://..., json=file).
var outputName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// outDir is --out DIR, the folder a command writes its files into. A value
// that names an output (influxdb=http://...) is an error rather than the
// name of a new folder: ilities streams to none.
type outDir struct{ dir *string }

// outDirFlag gives cmd --out DIR.
func outDirFlag(cmd *cobra.Command, dir *string, usage string) {
	cmd.Flags().Var(outDir{dir}, "out", usage)
}

func (o outDir) Set(value string) error {
	if name, _, ok := strings.Cut(value, "="); ok && outputName.MatchString(name) {
		return fmt.Errorf("ilities has no %q output (outputs written NAME=URL: none; run, attack and serve give live metrics to Prometheus with --metrics-addr); --out takes the folder to write the results into (./%s=... for a folder so named)", name, name)
	}
	*o.dir = value
	return nil
}

func (o outDir) String() string {
	if o.dir == nil {
		return ""
	}
	return *o.dir
}

func (outDir) Type() string { return "DIR" }

// filesWritten is the one line that says where a run's files went: the
// files by name, the charts counted, and the folder.
//
//	wrote result.json, summary.md, junit.xml, latency.hlog, report.html and 4 charts (PNG) to results/
func filesWritten(dir string, names []string) string {
	var files []string
	charts := 0
	for _, name := range names {
		if filepath.Ext(name) == ".png" {
			charts++
			continue
		}
		files = append(files, name)
	}
	switch {
	case charts == 1:
		files = append(files, "1 chart (PNG)")
	case charts > 1:
		files = append(files, fmt.Sprintf("%d charts (PNG)", charts))
	}
	list := strings.Join(files, ", ")
	if i := strings.LastIndex(list, ", "); i >= 0 {
		list = list[:i] + " and " + list[i+2:]
	}
	return "wrote " + list + " to " + filepath.Clean(dir) + string(filepath.Separator)
}
