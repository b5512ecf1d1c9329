package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Renderer writes a result in one format. Every output of the report
// package has this shape, so that callers can pick one by name or write
// them all.
type Renderer func(w io.Writer, res *Result) error

// OutputFile is one file that WriteFiles puts in an output directory.
type OutputFile struct {
	Name   string
	Render Renderer
}

// outputFiles are the files of an --out directory besides the PNG charts,
// in the order they are written (result.json first: whatever fails later,
// the measurements are kept). figs are the charts report.html embeds.
// Adding a format is one line here.
func outputFiles(figs []Figure) []OutputFile {
	return []OutputFile{
		{"result.json", WriteJSON},
		{"summary.md", WriteMarkdown},
		{"junit.xml", WriteJUnit},
		{"latency.hlog", WriteHdrLog},
		{"report.html", HTMLRenderer(figs)},
	}
}

// OutputFiles returns the files WriteFiles writes besides the charts, in order.
func OutputFiles() []OutputFile {
	return outputFiles(nil)
}

// formats are the renderers a user can name (ilities run --format): the
// one list the CLI's flags, help and completion and the docs are read from
// or checked against. Adding a format is one line here.
var formats = map[string]Renderer{
	"text":     WriteText,
	"json":     WriteJSON,
	"markdown": WriteMarkdown,
}

// formatAliases are other spellings RendererFor accepts, left out of
// Formats so that help and completion offer each format once.
var formatAliases = map[string]string{"md": "markdown"}

// Formats lists the names RendererFor accepts, sorted.
func Formats() []string {
	names := make([]string, 0, len(formats))
	for name := range formats {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// RendererFor returns the renderer of a format name such as "text".
func RendererFor(format string) (Renderer, error) {
	return byFormat(formats, format)
}

// byFormat looks a format name (or an alias) up in a table of renderers.
func byFormat[R any](table map[string]R, format string) (R, error) {
	if name, ok := formatAliases[format]; ok {
		format = name
	}
	r, ok := table[format]
	if !ok {
		return r, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats(), ", "))
	}
	return r, nil
}

// WriteFiles creates dir (and its parents) and writes every output file of
// res into it: result.json, summary.md, junit.xml, latency.hlog,
// report.html and the PNG charts. Each file is written to a temporary name
// and renamed into place, so an interrupted write never leaves a truncated
// result.json. The charts are drawn once, for both the PNG files and the
// page; a chart that cannot be drawn is reported after every other file
// has been written. It returns the names of the files it wrote, in order,
// so that a caller can say where they went.
func WriteFiles(dir string, res *Result) (written []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	figs, figErr := Figures(res)
	for _, f := range outputFiles(figs) {
		if err := writeFileAtomic(filepath.Join(dir, f.Name), res, f.Render); err != nil {
			return written, err
		}
		written = append(written, f.Name)
	}
	if err := WritePNGs(dir, figs); err != nil {
		return written, err
	}
	for _, fig := range figs {
		written = append(written, fig.File)
	}
	if figErr != nil {
		return written, fmt.Errorf("drawing charts: %w", figErr)
	}
	return written, nil
}

// WritePNGs writes each figure into dir under its file name.
func WritePNGs(dir string, figs []Figure) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating chart directory: %w", err)
	}
	for _, fig := range figs {
		png := fig.PNG
		err := WriteAtomic(filepath.Join(dir, fig.File), func(w io.Writer) error {
			_, err := w.Write(png)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes one rendering of res to path, atomically like WriteFiles.
func WriteFile(path string, res *Result, render Renderer) error {
	return writeFileAtomic(path, res, render)
}

func writeFileAtomic(path string, res *Result, render Renderer) error {
	return WriteAtomic(path, func(w io.Writer) error { return render(w, res) })
}

// WriteAtomic writes path through write: to a temporary name in the same
// directory, then renamed into place, so that a reader never sees a
// truncated file. Every output file of the tool is written this way, with
// mode 0644.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	buf := bufio.NewWriter(tmp)
	if err := write(buf); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; results are meant to be shared.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
