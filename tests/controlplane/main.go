// Command crossdeploy-controlplane runs a real, single-process Kubernetes
// control plane for end-to-end tests: embedded etcd plus an in-process
// kube-apiserver, with RBAC and ServiceAccount tokens working. It is the
// envtest idea without downloading prebuilt binaries: everything is compiled
// from the official Go modules pinned in go.mod.
//
// Contract with the test harness:
//   - stdout carries exactly one line, a JSON object
//     {"kubeconfig":..., "server":..., "readySeconds":...}, printed once
//     GET /readyz returns 200 (and the "default" namespace exists);
//     readySeconds counts from process start. The same JSON is written to
//     <dir>/ready.json.
//   - everything else (warnings, errors) goes to stderr.
//   - SIGINT/SIGTERM, or EOF on stdin with --exit-on-stdin-eof, shut down
//     cleanly and exit 0 (before readiness: exit 0 at once); any failure
//     exits non-zero.
//   - arguments after "--" are passed to kube-apiserver and override ours.
//   - the JSON line also carries "pid", this process's id, so a harness that
//     did not start it (make dev-up) can still measure or restart it.
//
// Each run is a fresh cluster: certificates are regenerated and any previous
// etcd data in <dir> is discarded. With --keep-data a run in a <dir> that a
// previous run left behind is a *restart* of that cluster instead: the same
// certificates (so kubeconfigs and ServiceAccount tokens stay valid), the same
// kube-apiserver and etcd ports (recorded in <dir>/state.json) and the same
// etcd data, which is how a benchmark kills and restarts the API server under
// a running operator.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/server/flagz"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

const (
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// Cold starts on a loaded 2-core CI machine take several seconds; this is
	// only a backstop against a wedged start.
	readyTimeout = 3 * time.Minute
	// Bounds how long a shutdown may take before we give up on it being clean.
	shutdownTimeout = 30 * time.Second
)

// readyInfo is the one line printed on stdout (and saved as ready.json).
type readyInfo struct {
	Kubeconfig   string  `json:"kubeconfig"`
	Server       string  `json:"server"`
	ReadySeconds float64 `json:"readySeconds"`
	Pid          int     `json:"pid"`
	Restarted    bool    `json:"restarted"`
}

// clusterState is what a --keep-data restart needs to be the same cluster:
// the ports everyone was given. Written to <dir>/state.json on every start.
type clusterState struct {
	APIServerPort  int `json:"apiserverPort"`
	EtcdClientPort int `json:"etcdClientPort"`
	EtcdPeerPort   int `json:"etcdPeerPort"`
}

func main() {
	start := time.Now()

	fs := flag.NewFlagSet("crossdeploy-controlplane", flag.ExitOnError)
	dir := fs.String("dir", "", "working directory for certificates, kubeconfig and etcd data (required; created if missing)")
	exitOnStdinEOF := fs.Bool("exit-on-stdin-eof", false, "shut down when stdin reaches EOF, so the servers die with the process that started them")
	verbose := fs.Bool("verbose", false, "also log kube-apiserver info messages and etcd warnings")
	keepData := fs.Bool("keep-data", false, "restart the cluster a previous run left in --dir: same certificates, ports and etcd data (a fresh cluster when there is none)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: crossdeploy-controlplane --dir DIR [--exit-on-stdin-eof] [--keep-data] [--verbose] [-- extra kube-apiserver flags]\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:]) // ExitOnError: never returns an error
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "crossdeploy-controlplane: --dir is required")
		fs.Usage()
		os.Exit(2)
	}

	// The JSON line is the only thing allowed on stdout. Point os.Stdout at
	// stderr so that a stray print from any library cannot corrupt it.
	stdout := os.Stdout
	os.Stdout = os.Stderr

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ready atomic.Bool
	requestShutdown := func(reason string) {
		if !ready.Load() {
			// kube-apiserver cannot be stopped halfway through its startup:
			// cancelling it makes a post-start hook call klog.Fatal (exit
			// 255). Nothing outlives this process (etcd data is discarded on
			// the next start), so leaving at once is the clean exit here.
			logf("%s before the control plane was ready; exiting", reason)
			klog.Flush()
			os.Exit(0)
		}
		logf("%s, shutting down", reason)
		cancel()
	}
	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigCh
		requestShutdown(fmt.Sprintf("received %v", sig))
		<-sigCh
		logf("received a second signal, exiting immediately")
		os.Exit(1)
	}()
	if *exitOnStdinEOF {
		go func() {
			// Whatever the harness writes is irrelevant; only the EOF matters,
			// which also arrives when the harness is killed and its end of the
			// pipe is closed by the kernel.
			_, _ = io.Copy(io.Discard, os.Stdin)
			requestShutdown("stdin closed")
		}()
	}

	err := run(ctx, start, stdout, *dir, *verbose, *keepData, fs.Args(), func() { ready.Store(true) })
	klog.Flush()
	if err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
	logf("stopped")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "crossdeploy-controlplane: "+format+"\n", args...)
}

// run starts everything, announces readiness (then calls onReady), and
// after that shuts down gracefully once ctx is cancelled. A failure before
// readiness returns without stopping anything: the caller exits right away,
// which is the only way to abort kube-apiserver's startup (see main).
func run(ctx context.Context, start time.Time, stdout io.Writer, dir string, verbose, keepData bool, extraAPIServerArgs []string, onReady func()) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating --dir: %w", err)
	}
	// A harness that polls for ready.json must never see one from an
	// earlier run.
	readyFile := filepath.Join(dir, "ready.json")
	if err := os.Remove(readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var previous *clusterState
	if keepData {
		previous = loadState(dir)
	}
	pki, err := preparePKI(dir, previous != nil)
	if err != nil {
		return err
	}

	etcd, etcdURL, etcdPorts, err := startEtcd(filepath.Join(dir, "etcd"), verbose, previous)
	if err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}

	// Binding here and handing the listener to kube-apiserver means the port
	// cannot be taken by someone else between choosing it and serving on it.
	wantPort := 0
	if previous != nil {
		wantPort = previous.APIServerPort
	}
	ln, err := listenPort(wantPort)
	if err != nil {
		return fmt.Errorf("binding kube-apiserver port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	state := clusterState{APIServerPort: port, EtcdClientPort: etcdPorts[0], EtcdPeerPort: etcdPorts[1]}
	if err := writeJSONFile(filepath.Join(dir, "state.json"), state); err != nil {
		return err
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}

	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		// Without it the apiserver looks for a default route to find its
		// own address, which a sandbox without a network may not have.
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + dir, // unused, since the serving cert is given, but keeps it from writing elsewhere
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + pki.saPublicKey,
		"--service-account-signing-key-file=" + pki.saPrivateKey,
		"--api-audiences=" + serviceAccountIssuer,
		"--service-cluster-ip-range=10.0.0.0/24",
		// The endpoint reconciler would keep trying to publish 127.0.0.1 as
		// the kubernetes service endpoint, which validation rejects.
		"--endpoint-reconciler-type=none",
		// There is no kube-controller-manager to create each namespace's
		// "default" ServiceAccount, so with this plugin every Pod create would
		// fail. Upstream's integration tests and envtest disable it too;
		// TokenRequest does not depend on it.
		"--disable-admission-plugins=ServiceAccount",
		// Like kubeadm/kind clusters, so privileged test pods are not rejected.
		"--allow-privileged=true",
		// Saves bootstrapping the flowcontrol objects at startup; irrelevant
		// at test traffic levels.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	}
	// Later occurrences of a flag win, so callers can override the above.
	args = append(args, extraAPIServerArgs...)

	apiserver, err := startAPIServer(ctx, ln, args, verbose)
	if err != nil {
		return fmt.Errorf("starting kube-apiserver: %w", err)
	}

	client, err := adminHTTPClient(pki)
	if err != nil {
		return err
	}
	if err := waitReady(client, server, apiserver, etcd); err != nil {
		return err
	}

	info := readyInfo{
		Kubeconfig:   kubeconfig,
		Server:       server,
		ReadySeconds: math.Round(time.Since(start).Seconds()*1000) / 1000,
		Pid:          os.Getpid(),
		Restarted:    previous != nil,
	}
	if err := announce(stdout, readyFile, info); err != nil {
		return err
	}
	onReady()

	select {
	case <-ctx.Done():
		err = apiserver.stop()
	case <-apiserver.done:
		err = fmt.Errorf("kube-apiserver exited unexpectedly: %v", apiserver.err)
	case etcdErr := <-etcd.Err():
		_ = apiserver.stop()
		err = fmt.Errorf("etcd failed: %w", etcdErr)
	}
	// Only after kube-apiserver, so that it does not spend its last moments
	// logging lost etcd connections.
	stopEtcd(etcd)
	return err
}

// loadState reads the ports of the cluster a previous run left in dir; nil
// when there is none (or it is unreadable: then this run is a fresh cluster).
func loadState(dir string) *clusterState {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil
	}
	var s clusterState
	if json.Unmarshal(data, &s) != nil || s.APIServerPort == 0 || s.EtcdClientPort == 0 || s.EtcdPeerPort == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd")); err != nil {
		return nil
	}
	if _, err := loadPKI(dir); err != nil {
		return nil
	}
	return &s
}

// preparePKI reuses the certificates of a restarted cluster, or discards the
// previous etcd data (which would carry its member URLs and objects) and
// generates new ones.
func preparePKI(dir string, restart bool) (*pkiFiles, error) {
	if restart {
		pki, err := loadPKI(dir)
		if err != nil {
			return nil, fmt.Errorf("reading the certificates to keep: %w", err)
		}
		return pki, nil
	}
	if err := os.RemoveAll(filepath.Join(dir, "etcd")); err != nil {
		return nil, fmt.Errorf("removing old etcd data: %w", err)
	}
	pki, err := writePKI(dir)
	if err != nil {
		return nil, fmt.Errorf("generating certificates: %w", err)
	}
	return pki, nil
}

// listenPort binds 127.0.0.1:port (0: any free port). A restart binds the
// port its predecessor had, which may take a moment to be released when that
// predecessor was just killed.
func listenPort(port int) (net.Listener, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || port == 0 || !isAddrInUse(err) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeJSONFile(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// announce publishes readiness: ready.json first, so that a harness reading
// the stdout line can rely on the file existing too.
func announce(stdout io.Writer, readyFile string, info readyInfo) error {
	line, err := json.Marshal(info)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	// Via rename, so a poller never reads a half-written file.
	if err := os.WriteFile(readyFile+".tmp", line, 0o644); err != nil {
		return err
	}
	if err := os.Rename(readyFile+".tmp", readyFile); err != nil {
		return err
	}
	if _, err := stdout.Write(line); err != nil {
		return fmt.Errorf("writing to stdout: %w", err)
	}
	return nil
}

// apiServer is a running in-process kube-apiserver.
type apiServer struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // Run's result, valid once done is closed
}

// stop asks the server to shut down gracefully and waits, boundedly, for it.
// It is safe to call when the server has already exited.
func (a *apiServer) stop() error {
	a.cancel()
	select {
	case <-a.done:
		if a.err != nil {
			return fmt.Errorf("kube-apiserver: %w", a.err)
		}
		return nil
	case <-time.After(shutdownTimeout):
		return fmt.Errorf("kube-apiserver did not shut down within %v", shutdownTimeout)
	}
}

// startAPIServer does what app.NewAPIServerCommand's RunE does, minus cobra.
// The command is not used directly because it installs its own process-wide
// SIGTERM handler and runs on a context we could not cancel on stdin EOF,
// and because it offers no way to pass in an already-bound listener.
func startAPIServer(ctx context.Context, ln net.Listener, args []string, verbose bool) (*apiServer, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	// A bad flag is reported through the returned error; the usage text
	// pflag would print lists some 300 flags.
	fs.SetOutput(io.Discard)
	namedFlagSets := s.Flags()
	for _, f := range namedFlagSets.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s.Flagz = flagz.NamedFlagSetsReader{FlagSets: namedFlagSets}
	s.SecureServing.Listener = ln

	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	// The apiserver's loopback clients would otherwise log warnings about
	// their own requests (same as NewAPIServerCommand).
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	// Even at --v=0 kube-apiserver logs a few hundred info lines while
	// starting; a test log only wants to see warnings and errors.
	var logOut io.Writer = os.Stderr
	if !verbose {
		logOut = dropInfoLines{os.Stderr}
	}
	if err := logsapi.ValidateAndApplyWithOptions(s.Logs, &logsapi.LoggingOptions{ErrorStream: logOut, InfoStream: logOut}, featureGate); err != nil {
		return nil, err
	}

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, utilerrors.NewAggregate(errs)
	}
	featureGate.(featuregate.MutableFeatureGate).AddMetrics()
	s.GenericServerRunOptions.ComponentGlobalsRegistry.AddMetrics()

	ctx, cancel := context.WithCancel(ctx)
	a := &apiServer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = app.Run(ctx, completed)
	}()
	return a, nil
}

// dropInfoLines passes on klog's warning, error and fatal entries. The text
// logger hands over one whole entry per Write, whose first byte is the
// severity (I, W, E or F).
type dropInfoLines struct{ w io.Writer }

func (d dropInfoLines) Write(p []byte) (int, error) {
	if len(p) > 0 && p[0] == 'I' {
		return len(p), nil
	}
	return d.w.Write(p)
}

// etcdServer is the embedded etcd plus the level of its logger, which
// shutdown turns off.
type etcdServer struct {
	*embed.Etcd
	logLevel zap.AtomicLevel
}

// startEtcd starts etcd on the ports of previous (a restart; one attempt) or
// on free ones, and returns its client URL and [client, peer] ports.
func startEtcd(dataDir string, verbose bool, previous *clusterState) (*etcdServer, string, []int, error) {
	logLevel := zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	if verbose {
		logLevel.SetLevel(zapcore.WarnLevel)
	}
	logger := newEtcdLogger(logLevel)

	// etcd cannot take a pre-bound listener, so a free port may be stolen
	// between probing and binding (e.g. by a parallel test's control plane).
	// Retry a few times on that race only.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		var ports []int
		var err error
		if previous != nil {
			ports = []int{previous.EtcdClientPort, previous.EtcdPeerPort}
		} else if ports, err = freePorts(2); err != nil {
			return nil, "", nil, err
		}
		clientURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports[0])}
		peerURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports[1])}

		cfg := embed.NewConfig()
		cfg.Name = "controlplane"
		cfg.Dir = dataDir
		cfg.ListenClientUrls = []url.URL{clientURL}
		cfg.AdvertiseClientUrls = []url.URL{clientURL}
		cfg.ListenPeerUrls = []url.URL{peerURL}
		cfg.AdvertisePeerUrls = []url.URL{peerURL}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
		// Test data is disposable: skip fsync, and shorten raft timing so
		// the single member elects itself leader quickly.
		cfg.UnsafeNoFsync = true
		cfg.TickMs = 10
		cfg.ElectionMs = 100
		// kube-apiserver speaks gRPC; the HTTP/JSON gateway is dead weight.
		cfg.EnableGRPCGateway = false

		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			if isAddrInUse(err) {
				if previous != nil {
					// the killed predecessor's sockets may linger a moment
					time.Sleep(time.Second)
					continue
				}
				_ = os.RemoveAll(dataDir)
				continue
			}
			return nil, "", nil, err
		}
		es := &etcdServer{Etcd: e, logLevel: logLevel}
		select {
		case <-e.Server.ReadyNotify():
			return es, clientURL.String(), ports, nil
		case err := <-e.Err():
			stopEtcd(es)
			return nil, "", nil, err
		case <-time.After(time.Minute):
			stopEtcd(es)
			return nil, "", nil, errors.New("etcd did not become ready within 1m")
		}
	}
	return nil, "", nil, fmt.Errorf("no free ports after several attempts: %w", lastErr)
}

func stopEtcd(e *etcdServer) {
	// Closing makes etcd log an error for every listener it loses; by now
	// nothing it says can help anyone.
	e.logLevel.SetLevel(zapcore.FatalLevel)
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownTimeout):
		logf("etcd did not stop within %v; exiting anyway", shutdownTimeout)
	}
}

// newEtcdLogger writes one plain line per entry, like klog's, instead of
// etcd's default JSON with a stack trace on every error.
func newEtcdLogger(level zap.AtomicLevel) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), level)
	return zap.New(dropBenignEtcdErrors{core}).Named("etcd")
}

// dropBenignEtcdErrors filters out an error that etcd 3.6+ logs on nearly
// every fresh start: its storage-version monitor runs before the first raft
// term is persisted, fails, and succeeds on its next round. etcd maintainers
// call it harmless and ignore it in their own "no error logs" test
// (etcd-io/etcd#18978).
type dropBenignEtcdErrors struct{ zapcore.Core }

func (c dropBenignEtcdErrors) With(fields []zapcore.Field) zapcore.Core {
	return dropBenignEtcdErrors{c.Core.With(fields)}
}

func (c dropBenignEtcdErrors) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == "failed to update storage version" || !c.Enabled(e.Level) {
		return ce
	}
	return ce.AddCore(e, c)
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func freePorts(n int) ([]int, error) {
	var ports []int
	// Hold all listeners until every port is chosen so the same port is
	// not handed out twice.
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitReady polls /readyz until it returns 200, then waits for the "default"
// namespace, which a controller inside the apiserver creates asynchronously
// and which tests commonly use straight away.
func waitReady(client *http.Client, server string, apiserver *apiServer, etcd *etcdServer) error {
	deadline := time.After(readyTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastStatus := "no response yet"
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default"} {
		for {
			ok, status := probe(client, server+path)
			if ok {
				break
			}
			lastStatus = status
			select {
			case <-apiserver.done:
				return fmt.Errorf("kube-apiserver exited before becoming ready: %v", apiserver.err)
			case err := <-etcd.Err():
				return fmt.Errorf("etcd failed while kube-apiserver was starting: %w", err)
			case <-deadline:
				return fmt.Errorf("GET %s not OK within %v (last: %s)", path, readyTimeout, lastStatus)
			case <-tick.C:
			}
		}
	}
	return nil
}

func probe(client *http.Client, u string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return true, ""
	}
	return false, fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
}

func adminHTTPClient(p *pkiFiles) (*http.Client, error) {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	keyPEM, err := os.ReadFile(p.adminKey)
	if err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(p.adminCert)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

func writeKubeconfig(path, server string, p *pkiFiles) error {
	caPEM, err := os.ReadFile(p.caCert)
	if err != nil {
		return err
	}
	certPEM, err := os.ReadFile(p.adminCert)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(p.adminKey)
	if err != nil {
		return err
	}
	const name = "crossdeploy-controlplane"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}

// pkiFiles are the paths of everything writePKI generates.
type pkiFiles struct {
	ca                        *certKey
	caCert, caKey             string
	servingCert, servingKey   string
	adminCert, adminKey       string
	saPrivateKey, saPublicKey string
}

type certKey struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func pkiPaths(dir string) *pkiFiles {
	return &pkiFiles{
		caCert:       filepath.Join(dir, "ca.crt"),
		caKey:        filepath.Join(dir, "ca.key"),
		servingCert:  filepath.Join(dir, "apiserver.crt"),
		servingKey:   filepath.Join(dir, "apiserver.key"),
		adminCert:    filepath.Join(dir, "admin.crt"),
		adminKey:     filepath.Join(dir, "admin.key"),
		saPrivateKey: filepath.Join(dir, "sa.key"),
		saPublicKey:  filepath.Join(dir, "sa.pub"),
	}
}

// loadPKI reads back what writePKI wrote (the CA certificate is what the
// readiness probe needs; nothing is issued on a restart).
func loadPKI(dir string) (*pkiFiles, error) {
	p := pkiPaths(dir)
	for _, f := range []string{p.caKey, p.servingCert, p.servingKey, p.adminCert, p.adminKey, p.saPrivateKey, p.saPublicKey} {
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
	}
	caPEM, err := os.ReadFile(p.caCert)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM certificate", p.caCert)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	p.ca = &certKey{cert: cert}
	return p, nil
}

func writePKI(dir string) (*pkiFiles, error) {
	p := pkiPaths(dir)

	// One CA both signs the serving cert and is the client CA. The CA key
	// is kept on disk so tests can mint certificates for other users.
	ca, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "crossdeploy-controlplane-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	if err != nil {
		return nil, err
	}
	p.ca = ca
	if err := writeCertKey(ca, p.caCert, p.caKey); err != nil {
		return nil, err
	}

	serving, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.1")},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}, ca)
	if err != nil {
		return nil, err
	}
	if err := writeCertKey(serving, p.servingCert, p.servingKey); err != nil {
		return nil, err
	}

	// system:masters is bound to cluster-admin by RBAC's bootstrap policy
	// and short-circuits authorization altogether.
	admin, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
	if err != nil {
		return nil, err
	}
	if err := writeCertKey(admin, p.adminCert, p.adminKey); err != nil {
		return nil, err
	}

	// RSA rather than ECDSA: RS256 is what real clusters issue, and what
	// JWT libraries in a test's token checks support most readily.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.saPrivateKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey), 0o600); err != nil {
		return nil, err
	}
	if err := writePEM(p.saPublicKey, "PUBLIC KEY", saPub, 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

// issue creates a key pair and a certificate from tmpl signed by parent, or
// self-signed when parent is nil. ECDSA P-256 keeps generation instant.
func issue(tmpl *x509.Certificate, parent *certKey) (*certKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	// Backdated to tolerate clock skew; a year outlives any test run.
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)

	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &certKey{cert: cert, key: key}, nil
}

func writeCertKey(ck *certKey, certPath, keyPath string) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(ck.key)
	if err != nil {
		return err
	}
	if err := writePEM(certPath, "CERTIFICATE", ck.cert.Raw, 0o644); err != nil {
		return err
	}
	return writePEM(keyPath, "PRIVATE KEY", keyDER, 0o600)
}

func writePEM(path, blockType string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), mode)
}
