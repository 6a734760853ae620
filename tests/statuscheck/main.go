// crossdeploy-statuscheck reads crossdeploy.io objects from a real API server
// and prints, per object, what the status clients people use make of it:
//
//   - kstatus: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, the library
//     behind kubectl-wait-like tools, Flux's default health checks and
//     cli-utils' appliers;
//   - argo: Argo CD's health for charts/crossdeploy/files/health.lua, run the
//     way Argo CD runs a health script from argocd-cm (argo.go);
//   - flux: Flux's healthCheckExprs from
//     charts/crossdeploy/files/flux-health-checks.yaml, evaluated by Flux's
//     own status reader (github.com/fluxcd/pkg/runtime/cel, the package
//     kustomize-controller builds its health checks with).
//
// One JSON object per line on stdout. Objects are read with GET
// (KIND/NAME arguments), LIST (--all: every CrossAccountDeployment and
// RevisionSource in --namespace) or WATCH (--watch KIND/NAME: prints
// {"watch":"open"} once the watch is established, then one line per event
// until --events events were seen), all through client-go's dynamic client,
// the way the tools' informers and pollers read them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/kustomize"
	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type kind struct {
	name       string
	resource   string
	namespaced bool
}

var kinds = []kind{
	{"CrossAccountDeployment", "crossaccountdeployments", true},
	{"RevisionSource", "revisionsources", true},
	{"TargetAccount", "targetaccounts", false},
}

var aliases = map[string]string{
	"crossaccountdeployment": "CrossAccountDeployment", "crossaccountdeployments": "CrossAccountDeployment", "xad": "CrossAccountDeployment",
	"revisionsource": "RevisionSource", "revisionsources": "RevisionSource", "xrs": "RevisionSource",
	"targetaccount": "TargetAccount", "targetaccounts": "TargetAccount", "xta": "TargetAccount",
}

func kindOf(s string) (kind, error) {
	canonical, ok := aliases[strings.ToLower(s)]
	if !ok {
		return kind{}, fmt.Errorf("unknown kind %q (CrossAccountDeployment/xad, RevisionSource/xrs, TargetAccount/xta)", s)
	}
	for _, k := range kinds {
		if k.name == canonical {
			return k, nil
		}
	}
	panic("unreachable")
}

func (k kind) gvr() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "crossdeploy.io", Version: "v1alpha1", Resource: k.resource}
}

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

type report struct {
	Source             string         `json:"source"`
	Kind               string         `json:"kind"`
	Namespace          string         `json:"namespace,omitempty"`
	Name               string         `json:"name"`
	Generation         int64          `json:"generation"`
	ObservedGeneration *int64         `json:"observedGeneration"`
	HasStatus          bool           `json:"hasStatus"`
	Status             map[string]any `json:"status,omitempty"`
	Kstatus            verdict        `json:"kstatus"`
	Argo               verdict        `json:"argo"`
	Flux               verdict        `json:"flux"`
}

type checker struct {
	argoScript      string
	argoUseOpenLibs bool
	flux            fluxReader
}

// fluxReader wraps Flux's CEL status reader (the engine.StatusReader that
// kustomize-controller hands to its kstatus poller).
type fluxReader struct {
	read func(context.Context, *unstructured.Unstructured) (string, string, error)
}

func (f fluxReader) ReadStatusForObject(ctx context.Context, u *unstructured.Unstructured) (string, string, error) {
	return f.read(ctx, u)
}

func newFluxReader(path string) (fluxReader, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return fluxReader{}, err
	}
	var checks []kustomize.CustomHealthCheck
	if err := yaml.UnmarshalStrict(text, &checks); err != nil {
		return fluxReader{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(checks) == 0 {
		return fluxReader{}, fmt.Errorf("%s holds no health checks", path)
	}
	ctor, err := fluxcel.NewStatusReader(checks)
	if err != nil {
		return fluxReader{}, fmt.Errorf("%s: %w", path, err)
	}
	// The mapper is only used to read objects from the cluster; this
	// program hands the reader objects it has read itself.
	reader := ctor(nil)
	return fluxReader{read: func(ctx context.Context, u *unstructured.Unstructured) (string, string, error) {
		rs, err := reader.ReadStatusForObject(ctx, nil, u)
		if err != nil {
			return "", "", err
		}
		msg := rs.Message
		if rs.Error != nil {
			return rs.Status.String(), msg, rs.Error
		}
		return rs.Status.String(), msg, nil
	}}, nil
}

func (c checker) check(ctx context.Context, source string, u *unstructured.Unstructured) report {
	r := report{
		Source:     source,
		Kind:       u.GetKind(),
		Namespace:  u.GetNamespace(),
		Name:       u.GetName(),
		Generation: u.GetGeneration(),
	}
	if st, ok := u.Object["status"].(map[string]any); ok {
		r.HasStatus = true
		r.Status = st
	}
	if og, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); err == nil && found {
		r.ObservedGeneration = &og
	}

	// Each client gets its own copy: none may see another's mutations.
	if res, err := status.Compute(u.DeepCopy()); err != nil {
		r.Kstatus = verdict{Status: "Error", Error: err.Error()}
	} else {
		r.Kstatus = verdict{Status: res.Status.String(), Message: res.Message}
	}

	if h, err := argoResourceHealth(u.DeepCopy(), c.argoScript, c.argoUseOpenLibs); err != nil {
		r.Argo = verdict{Status: h.Status, Message: h.Message, Error: err.Error()}
	} else if h == nil {
		r.Argo = verdict{Status: ""}
	} else {
		r.Argo = verdict{Status: h.Status, Message: h.Message}
	}

	if s, msg, err := c.flux.ReadStatusForObject(ctx, u.DeepCopy()); err != nil {
		r.Flux = verdict{Status: s, Message: msg, Error: err.Error()}
	} else {
		r.Flux = verdict{Status: s, Message: msg}
	}
	return r
}

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail("encoding output: %v", err)
	}
	fmt.Println(string(b))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "statuscheck: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API server")
	namespace := flag.String("namespace", "", "namespace of CrossAccountDeployments and RevisionSources")
	all := flag.Bool("all", false, "LIST every CrossAccountDeployment and RevisionSource in --namespace")
	watchMode := flag.Bool("watch", false, "WATCH the one KIND/NAME argument (it need not exist yet)")
	events := flag.Int("events", 1, "with --watch: events to report before exiting")
	timeout := flag.Duration("timeout", 60*time.Second, "overall deadline")
	healthLua := flag.String("argo-health", "", "Argo CD health script (charts/crossdeploy/files/health.lua)")
	openLibs := flag.Bool("argo-use-open-libs", false, "as argocd-cm resource.customizations.useOpenLibs.<group>_<kind>: true (default false, as Argo CD)")
	fluxChecks := flag.String("flux-health-checks", "", "Flux healthCheckExprs (charts/crossdeploy/files/flux-health-checks.yaml)")
	flag.Parse()

	if *kubeconfig == "" || *healthLua == "" || *fluxChecks == "" {
		fail("--kubeconfig, --argo-health and --flux-health-checks are required")
	}
	script, err := os.ReadFile(*healthLua)
	if err != nil {
		fail("reading the Argo CD health script: %v", err)
	}
	flux, err := newFluxReader(*fluxChecks)
	if err != nil {
		fail("loading the Flux health checks: %v", err)
	}
	c := checker{argoScript: string(script), argoUseOpenLibs: *openLibs, flux: flux}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		fail("client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	resource := func(k kind) dynamic.ResourceInterface {
		if k.namespaced {
			return client.Resource(k.gvr()).Namespace(*namespace)
		}
		return client.Resource(k.gvr())
	}
	type target struct {
		kind kind
		name string
	}
	var targets []target
	for _, arg := range flag.Args() {
		k, name, ok := strings.Cut(arg, "/")
		if !ok || name == "" {
			fail("argument %q: want KIND/NAME", arg)
		}
		kd, err := kindOf(k)
		if err != nil {
			fail("%v", err)
		}
		if kd.namespaced && *namespace == "" {
			fail("%s is namespaced: --namespace is required", kd.name)
		}
		targets = append(targets, target{kd, name})
	}

	switch {
	case *watchMode:
		if len(targets) != 1 || *all {
			fail("--watch takes exactly one KIND/NAME")
		}
		t := targets[0]
		w, err := resource(t.kind).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + t.name})
		if err != nil {
			fail("watch %s/%s: %v", t.kind.name, t.name, err)
		}
		defer w.Stop()
		emit(map[string]string{"watch": "open"})
		for seen := 0; seen < *events; {
			select {
			case <-ctx.Done():
				fail("watch %s/%s: %d of %d events before the deadline", t.kind.name, t.name, seen, *events)
			case ev, ok := <-w.ResultChan():
				if !ok {
					fail("watch %s/%s closed after %d events", t.kind.name, t.name, seen)
				}
				if ev.Type == watch.Error || ev.Type == watch.Bookmark {
					continue
				}
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					fail("watch %s/%s: unexpected %T", t.kind.name, t.name, ev.Object)
				}
				emit(c.check(ctx, "watch:"+string(ev.Type), u))
				seen++
			}
		}
	case *all:
		if *namespace == "" {
			fail("--all needs --namespace")
		}
		for _, k := range kinds[:2] {
			list, err := resource(k).List(ctx, metav1.ListOptions{})
			if err != nil {
				fail("list %s: %v", k.resource, err)
			}
			for i := range list.Items {
				emit(c.check(ctx, "list", &list.Items[i]))
			}
		}
		for _, t := range targets {
			u, err := resource(t.kind).Get(ctx, t.name, metav1.GetOptions{})
			if err != nil {
				fail("get %s/%s: %v", t.kind.name, t.name, err)
			}
			emit(c.check(ctx, "get", u))
		}
	default:
		if len(targets) == 0 {
			fail("nothing to check: give KIND/NAME arguments, --all or --watch")
		}
		for _, t := range targets {
			u, err := resource(t.kind).Get(ctx, t.name, metav1.GetOptions{})
			if err != nil {
				fail("get %s/%s: %v", t.kind.name, t.name, err)
			}
			emit(c.check(ctx, "get", u))
		}
	}
}
