// Package kubeenv starts a real etcd and kube-apiserver (built by
// `make kubetools` from deploy/kube-tools) for tests, the way envtest does:
// loopback only, TLS with a CA generated here, an admin client certificate in
// group system:masters, RBAC, and the default admission plugins (PodSecurity
// included) except ServiceAccount, since no controller manager creates the
// default service accounts. There is no kubelet, scheduler or controller
// manager: pods are admitted and stored, never run.
package kubeenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminUser is the user name in the admin client certificate (group system:masters).
const AdminUser = "kubeenv-admin"

// ServiceClusterIPRange is the apiserver's --service-cluster-ip-range.
const ServiceClusterIPRange = "10.0.0.0/24"

// Env is a running etcd and kube-apiserver.
type Env struct {
	// Config authenticates as AdminUser (system:masters) with a client certificate.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for the same identity (certificates embedded).
	Kubeconfig string
	// Dir holds the certificates, etcd's data and the logs.
	Dir string
	// EtcdLog and APIServerLog are the processes' combined stdout and stderr.
	EtcdLog, APIServerLog string
	// EtcdURL is etcd's client URL (plain HTTP on loopback).
	EtcdURL string
}

// BinDir is where Start looks for etcd and kube-apiserver when given "":
// $SA_KUBE_BIN, or else the bin/ folder of the repository the working
// directory is in (the folder with go.work), where `make kubetools` puts them.
func BinDir() string {
	if d := os.Getenv("SA_KUBE_BIN"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return "bin"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, "bin")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "bin")
		}
	}
}

// Start starts etcd and kube-apiserver from binDir ("" means BinDir()) and
// waits until the apiserver's /readyz answers ok. It fails the test (never
// skips) when a binary is missing. Both stop when the test ends (SIGTERM,
// then SIGKILL after 10s); when the test failed, their logs are printed.
func Start(t testing.TB, binDir string) *Env {
	t.Helper()
	if binDir == "" {
		binDir = BinDir()
	}
	etcdBin, apiBin := filepath.Join(binDir, "etcd"), filepath.Join(binDir, "kube-apiserver")
	for _, b := range []string{etcdBin, apiBin} {
		if fi, err := os.Stat(b); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			t.Fatalf("kubeenv: %s is missing: run `make kubetools` in the repository root (it builds kube-apiserver and etcd into bin/), or set SA_KUBE_BIN to a folder that has both", b)
		}
	}
	dir := t.TempDir()
	e := &Env{Dir: dir, EtcdLog: filepath.Join(dir, "etcd.log"), APIServerLog: filepath.Join(dir, "kube-apiserver.log")}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{e.EtcdLog, e.APIServerLog} {
				t.Logf("kubeenv: end of %s:\n%s", filepath.Base(f), tail(f, 48<<10))
			}
		}
	})
	pki, err := writePKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatalf("kubeenv: certificates: %v", err)
	}

	// Ports come from the kernel (127.0.0.1:0) and are released before the
	// processes bind them, so another process can take one in between: a
	// start that fails to bind is retried on new ports.
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		ports, err := freePorts(3)
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		etcd, err := startEtcd(etcdBin, dir, e.EtcdLog, ports[0], ports[1])
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		e.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		if err = waitEtcd(etcd, e.EtcdURL, 60*time.Second); err != nil {
			stop(etcd)
			if lastErr = err; bindFailed(e.EtcdLog) {
				t.Logf("kubeenv: etcd could not bind its ports (attempt %d), retrying on others", attempt)
				continue
			}
			t.Fatalf("kubeenv: %v (log: %s)", err, e.EtcdLog)
		}
		t.Cleanup(func() { stop(etcd) }) // after the apiserver's (cleanups run last first)
		api, cfg, err := startAPIServer(apiBin, pki, e.APIServerLog, e.EtcdURL, ports[2])
		if err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		if err = waitReady(api, cfg, 90*time.Second); err != nil {
			stop(api)
			if lastErr = err; bindFailed(e.APIServerLog) && attempt < 3 {
				stop(etcd)
				t.Logf("kubeenv: kube-apiserver could not bind its port (attempt %d), retrying on others", attempt)
				continue
			}
			t.Fatalf("kubeenv: %v (log: %s)", err, e.APIServerLog)
		}
		t.Cleanup(func() { stop(api) })
		e.Config = cfg
		if e.Kubeconfig, err = writeKubeconfig(filepath.Join(dir, "kubeconfig"), cfg); err != nil {
			t.Fatalf("kubeenv: %v", err)
		}
		return e
	}
	t.Fatalf("kubeenv: no free ports after 3 attempts: %v", lastErr)
	return nil
}

type proc struct {
	cmd  *exec.Cmd
	name string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func startProc(name, bin, logFile string, args ...string) (*proc, error) {
	// Append: a retried start keeps the earlier attempt's log for reading.
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "==> %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{cmd: cmd, name: name, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and, if the process is still there after 10s, SIGKILL.
func stop(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func startEtcd(bin, dir, logFile string, clientPort, peerPort int) (*proc, error) {
	client := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	data := filepath.Join(dir, "etcd-"+strconv.Itoa(clientPort))
	return startProc("etcd", bin, logFile,
		"--name=kubeenv",
		"--data-dir="+data,
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=kubeenv="+peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
}

func waitEtcd(p *proc, url string, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("etcd exited before it was ready: %v", p.err)
		default:
		}
		if resp, err := c.Get(url + "/health"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"health":"true"`)) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not healthy at %s after %s", url, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startAPIServer(bin string, pki *pkiFiles, logFile, etcdURL string, port int) (*proc, *rest.Config, error) {
	p, err := startProc("kube-apiserver", bin, logFile, APIServerFlags(pki.Dir, etcdURL, port)...)
	if err != nil {
		return nil, nil, err
	}
	cfg := &rest.Config{
		Host: fmt.Sprintf("https://127.0.0.1:%d", port),
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   pki.CA,
			CertData: pki.AdminCert,
			KeyData:  pki.AdminKey,
		},
		QPS:   100,
		Burst: 200,
	}
	return p, cfg, nil
}

// APIServerFlags are kube-apiserver's flags, given the folder writePKI
// filled, etcd's client URL and the secure port.
func APIServerFlags(pkiDir, etcdURL string, port int) []string {
	f := func(name string) string { return filepath.Join(pkiDir, name) }
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// A loopback advertise address is refused by the endpoint reconciler
		// of the "kubernetes" service; nothing in the cluster needs it.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + pkiDir,
		"--tls-cert-file=" + f("apiserver.crt"),
		"--tls-private-key-file=" + f("apiserver.key"),
		"--client-ca-file=" + f("ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-signing-key-file=" + f("sa.key"),
		"--service-account-key-file=" + f("sa.pub"),
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		// No controller manager creates the default service accounts.
		// PodSecurity stays on (a default plugin).
		"--disable-admission-plugins=ServiceAccount",
		// Privileged containers must reach admission (PodSecurity) instead of
		// being refused by the pod validation ("disallowed by cluster policy").
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
}

// waitReady polls /readyz as the admin user until it answers 200.
func waitReady(p *proc, cfg *rest.Config, timeout time.Duration) error {
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		select {
		case <-p.done:
			return fmt.Errorf("kube-apiserver exited before it was ready: %v", p.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/readyz", nil)
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready at %s/readyz after %s: %s", cfg.Host, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func bindFailed(logFile string) bool {
	b, _ := os.ReadFile(logFile)
	return bytes.Contains(b, []byte("address already in use"))
}

// freePorts returns n distinct ports the kernel considers free on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tail(file string, max int64) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if fi.Size() > max {
		_, _ = f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func writeKubeconfig(path string, cfg *rest.Config) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubeenv"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["kubeenv"] = &clientcmdapi.Context{Cluster: "kubeenv", AuthInfo: AdminUser}
	kc.CurrentContext = "kubeenv"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return path, nil
}

type pkiFiles struct {
	Dir                     string
	CA, AdminCert, AdminKey []byte // PEM
}

// writePKI writes a CA, the apiserver's serving certificate, the admin
// client certificate and the service-account signing key (all ECDSA P-256)
// into dir.
func writePKI(dir string) (*pkiFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kubeenv-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", kder), nil
	}
	srvCert, srvKey, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)},
	})
	if err != nil {
		return nil, err
	}
	adminCert, adminKey, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: AdminUser, Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	p := &pkiFiles{Dir: dir, CA: pemBlock("CERTIFICATE", caDER), AdminCert: adminCert, AdminKey: adminKey}
	files := map[string][]byte{
		"ca.crt": p.CA, "apiserver.crt": srvCert, "apiserver.key": srvKey,
		"admin.crt": adminCert, "admin.key": adminKey,
		"sa.key": pemBlock("PRIVATE KEY", saDER), "sa.pub": pemBlock("PUBLIC KEY", saPub),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	// The pair must load as the apiserver will load it.
	if _, err := tls.X509KeyPair(srvCert, srvKey); err != nil {
		return nil, errors.Join(errors.New("serving certificate"), err)
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
