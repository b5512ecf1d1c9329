// Package kubernetes_test checks the example's manifests against the
// Kubernetes API types, strictly (a misspelt field is an error, as the API
// server's strict field validation makes it), and their command lines
// against ilities itself.
package kubernetes_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// manifests are the documents of job.yaml, decoded.
type manifests struct {
	configMaps map[string]*corev1.ConfigMap
	claims     map[string]*corev1.PersistentVolumeClaim
	jobs       map[string]*batchv1.Job
}

// decode reads every document of a multi-document YAML file strictly into
// its kind's API type.
func decode(data []byte) (*manifests, error) {
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, claims: map[string]*corev1.PersistentVolumeClaim{}, jobs: map[string]*batchv1.Job{}}
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		var obj interface{ GetName() string }
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		case "batch/v1 Job":
			obj = &batchv1.Job{}
		default:
			return nil, fmt.Errorf("document %d: %s %s: not a kind this example uses", i+1, meta.APIVersion, meta.Kind)
		}
		// As the API server's strict field validation decodes: YAML to
		// JSON, then field names matched case-sensitively, none unknown
		// or repeated (encoding/json would take readonlyRootFilesystem).
		data, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, meta.Kind, err)
		}
		strict, err := kjson.UnmarshalStrict(data, obj)
		if err = errors.Join(append(strict, err)...); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, meta.Kind, err)
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.PersistentVolumeClaim:
			m.claims[o.Name] = o
		case *batchv1.Job:
			m.jobs[o.Name] = o
		}
	}
	return m, nil
}

func readManifests(t *testing.T) ([]byte, *manifests) {
	t.Helper()
	data, err := os.ReadFile("job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(data)
	if err != nil {
		t.Fatalf("job.yaml: %v", err)
	}
	return data, m
}

// The decoding is strict: a misspelt field, or a field of the wrong type,
// fails it.
func TestManifestsDecodeStrictly(t *testing.T) {
	data, m := readManifests(t)
	if len(m.configMaps) != 1 || len(m.claims) != 1 || len(m.jobs) != 2 {
		t.Fatalf("job.yaml holds %d config maps, %d claims, %d jobs; want 1, 1, 2", len(m.configMaps), len(m.claims), len(m.jobs))
	}
	for _, typo := range []struct{ from, to string }{
		{"completionMode: Indexed", "completionMod: Indexed"},
		{"readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"},
		{"completions: 4", "completions: four"},
		{"mountPath: /parts}", "mountpath: /parts}"},
	} {
		bad := strings.Replace(string(data), typo.from, typo.to, 1)
		if bad == string(data) {
			t.Fatalf("%q is not in job.yaml", typo.from)
		}
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("%q for %q decoded without an error", typo.to, typo.from)
		}
	}
}

// The segments form one run: an Indexed Job of N pods at once, each a
// different segment of N, all starting at one instant computed alike, and
// a merge that waits for N parts on the same volume; the names the
// manifests share agree, and the scenario is one ilities loads.
func TestManifestsMakeOneRun(t *testing.T) {
	_, m := readManifests(t)
	run, merge := m.jobs["ilities"], m.jobs["ilities-merge"]
	if run == nil || merge == nil {
		t.Fatalf("jobs %v: want ilities and ilities-merge", m.jobs)
	}
	spec := run.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion ||
		spec.Completions == nil || spec.Parallelism == nil || *spec.Parallelism != *spec.Completions {
		t.Fatalf("job ilities: want an Indexed Job with parallelism = completions")
	}
	n := int(*spec.Completions)
	for _, job := range []*batchv1.Job{run, merge} {
		checkPod(t, job.Name, job.Spec.Template.Spec, m)
	}

	seg := spec.Template.Spec.Containers[0]
	for k := range n {
		args := expand(t, seg, k)
		s, err := runner.ParseSegment(flagValue(t, args, "--segment"))
		if err != nil || s.K != k+1 || s.N != n {
			t.Errorf("pod %d: --segment %s is %v (%v), want %d/%d", k, flagValue(t, args, "--segment"), s, err, k+1, n)
		}
		if out := flagValue(t, args, "--out"); filepath.Dir(out) != "/parts" {
			t.Errorf("pod %d writes its part to %s, not under /parts", k, out)
		}
	}
	if _, err := runner.ParseStartAt(flagValue(t, seg.Args, "--start-at"), time.Now()); err != nil {
		t.Errorf("--start-at: %v", err)
	}
	if !contains(seg.Args, "--no-fail-exit") {
		t.Errorf("a segment whose requirements failed would fail the Job, and end the other segments")
	}
	mergeArgs := merge.Spec.Template.Spec.Containers[0].Args
	if mergeArgs[0] != "merge" || mergeArgs[1] != "/parts" || flagValue(t, mergeArgs, "--wait") != fmt.Sprint(n) {
		t.Errorf("merge %v: want merge /parts --wait=%d", mergeArgs, n)
	}
	if a, b := claimOf(run), claimOf(merge); a == "" || a != b {
		t.Errorf("the segments write to claim %q, the merge reads claim %q", a, b)
	}

	for _, cm := range m.configMaps {
		for name, text := range cm.Data {
			sc, err := scenario.Parse(name, []byte(text))
			if err != nil {
				t.Fatalf("config map %s: %v", cm.Name, err)
			}
			if sc.Target == nil {
				t.Errorf("%s: every segment must load one shared target, not a built-in SUT of its own", name)
			}
		}
	}
}

// checkPod checks what every pod of the example needs: the image make
// image builds, never pulled when loaded, a non-root user, every
// reference ($(VAR), volume, config map, claim) declared.
func checkPod(t *testing.T, job string, pod corev1.PodSpec, m *manifests) {
	t.Helper()
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("job %s: want runAsNonRoot", job)
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
		if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("job %s: volume %s names config map %s, which job.yaml does not define", job, v.Name, v.ConfigMap.Name)
		}
		if c := v.PersistentVolumeClaim; c != nil && m.claims[c.ClaimName] == nil {
			t.Errorf("job %s: volume %s names claim %s, which job.yaml does not define", job, v.Name, c.ClaimName)
		}
	}
	image := makefileImage(t)
	for _, c := range pod.Containers {
		if c.Image != image || c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("job %s: container %s runs %s (pull %s); want %s, the image make image builds, pulled if not present", job, c.Name, c.Image, c.ImagePullPolicy, image)
		}
		for _, vm := range c.VolumeMounts {
			if !volumes[vm.Name] {
				t.Errorf("job %s: container %s mounts %s, not a volume of its pod", job, c.Name, vm.Name)
			}
		}
		checkAccepted(t, c)
	}
}

// makefileImage is the image make image builds by default.
func makefileImage(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	match := regexp.MustCompile(`(?m)^IMAGE\s*\?=\s*(\S+)`).FindSubmatch(data)
	if match == nil {
		t.Fatal("the Makefile sets no IMAGE")
	}
	return string(match[1])
}

var reference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand is a container's arguments as Kubernetes expands them for the
// pod of completion index k: every $(VAR) must be one of its variables.
func expand(t *testing.T, c corev1.Container, k int) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']":
			env[e.Name] = fmt.Sprint(k)
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = reference.ReplaceAllStringFunc(a, func(ref string) string {
			v, ok := env[ref[2:len(ref)-1]]
			if !ok {
				t.Errorf("container %s: %s is not one of its variables: Kubernetes would pass it as it is", c.Name, ref)
			}
			return v
		})
	}
	return args
}

// flagValue is the value of --name=value in args.
func flagValue(t *testing.T, args []string, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s=... in %v", name, args)
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func claimOf(job *batchv1.Job) string {
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

var binary struct {
	path string
	err  error
}

// checkAccepted runs the container's command line, expanded for index 0,
// through ilities with --help: an unknown flag, or a value its type
// refuses, exits 2 before any help is printed.
func checkAccepted(t *testing.T, c corev1.Container) {
	t.Helper()
	if binary.path == "" && binary.err == nil {
		binary.path = filepath.Join(os.TempDir(), fmt.Sprintf("ilities-manifests-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", binary.path, "../../cmd/ilities").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	args := append(expand(t, c, 0), "--help")
	cmd := exec.Command(binary.path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("container %s: ilities %s: %v\n%s", c.Name, strings.Join(args, " "), err, stderr.String())
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.path != "" {
		os.Remove(binary.path)
	}
	os.Exit(code)
}
