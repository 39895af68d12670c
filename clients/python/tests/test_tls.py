"""TLS and mutual TLS between the Python package and the Rust binaries:
certificates made here for each test (a CA, node certificates for
127.0.0.1 and localhost, client certificates, and a second CA that the
servers do not trust)."""
from __future__ import annotations

import datetime
import ipaddress
import threading

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster_mesh import Cluster, ClusterError, TLS, auth
from cluster_mesh._channel import Dialer
from cluster_mesh._proto import worker_pb2, worker_pb2_grpc
from conftest import wait_for

MODULE = ["--module", "tasks_for_tests"]
SUM_PRIMES_INPUTS = [0, 2, 3, 10, 100, 7919, 7920, 65537, 100000, 250000]


def sum_primes_below(n: int) -> int:
    """What the sum-primes kind computes: the sum of the primes below n."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for p in range(2, int(n ** 0.5) + 1):
        if sieve[p]:
            sieve[p * p::p] = bytes(len(range(p * p, n, p)))
    return sum(i for i in range(n) if sieve[i])


EXPECTED = [sum_primes_below(n) for n in SUM_PRIMES_INPUTS]
assert EXPECTED[:5] == [0, 0, 2, 17, 1060]  # the sieve itself, against known sums


class Certs:
    """PEM files in `directory`: ca.pem; for each node (coordinator, worker)
    NAME.pem/NAME.key, for 127.0.0.1 and localhost, server and client use;
    client.pem/.key (client use only); stranger.pem/.key, a client
    certificate of another CA."""

    def __init__(self, directory):
        self.dir = directory
        self.dir.mkdir()
        now = datetime.datetime.now(datetime.timezone.utc)
        self._validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
        self._cas = {}
        self.ca = self._ca("ca", "test cluster CA")
        self._ca("other-ca", "some other CA")
        node_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        for node in ("coordinator", "worker"):
            self._leaf(node, self._cas["ca"], names=node_names, usages=both)
        self._leaf("client", self._cas["ca"], names=None, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])
        self._leaf("stranger", self._cas["other-ca"], names=None, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])

    def pem(self, name):
        return str(self.dir / f"{name}.pem")

    def key(self, name):
        return str(self.dir / f"{name}.key")

    def serve(self, node):
        """Flags for a server presenting `node`'s certificate."""
        return ["--tls-cert", self.pem(node), "--tls-key", self.key(node)]

    def dial(self, node):
        """Flags for a caller trusting the CA and presenting `node`'s certificate."""
        return ["--tls-ca", self.ca, "--tls-client-cert", self.pem(node), "--tls-client-key", self.key(node)]

    def tls(self, client="client", **kw):
        return TLS(ca=self.ca, cert=self.pem(client), key=self.key(client), **kw)

    # -- making them ------------------------------------------------------

    def _write(self, name, key, cert):
        (self.dir / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (self.dir / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, common_name, issuer, key):
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(issuer)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(self._validity[0])
                .not_valid_after(self._validity[1]))

    def _ca(self, name, common_name):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (self._builder(common_name, subject, key)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        self._write(name, key, cert)
        self._cas[name] = (key, cert)
        return self.pem(name)

    def _leaf(self, name, issued_by, names, usages):
        ca_key, ca_cert = issued_by
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (self._builder(name, ca_cert.subject, key)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        self._write(name, key, builder.sign(ca_key, hashes.SHA256()))


@pytest.fixture
def certs(tmp_path):
    return Certs(tmp_path / "certs")


def error_within(call, seconds=20.0) -> BaseException:
    """Runs `call`, which must fail, and returns its exception; fails the
    test if it is still waiting after `seconds` (a hang, not an error)."""
    box = {}

    def run():
        try:
            box["value"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds:.0f} s: it hangs instead of failing"
    assert "error" in box, f"succeeded, with {box.get('value')!r}"
    return box["error"]


def test_python_client_over_tls_gets_exact_sums(mesh, certs):
    coordinator = mesh.coordinator(*certs.serve("coordinator"))
    assert coordinator.url.startswith("https://127.0.0.1:")
    mesh.rust_worker(coordinator, "--cpus", "2", "--tls-ca", certs.ca)
    with mesh.cluster(coordinator, tls=TLS(ca=certs.ca)) as cluster:
        mesh.wait_active(cluster, 1)
        assert cluster.map("sum-primes", SUM_PRIMES_INPUTS) == EXPECTED
        # One at a time, on the long-lived submit stream.
        jobs = [cluster.submit("sum-primes", n) for n in SUM_PRIMES_INPUTS]
        assert [job() for job in jobs] == EXPECTED
    port = coordinator.addr.rsplit(":", 1)[1]
    # The certificate's other name, dialled or expected (TLS(domain=...)).
    for cluster in (Cluster(f"https://localhost:{port}", secret_file=str(mesh.secret_file), tls=TLS(ca=certs.ca)),
                    mesh.cluster(coordinator, tls=TLS(ca=certs.ca, domain="localhost"))):
        with cluster:
            assert cluster.map("sum-primes", [100]) == [1060]
    # A domain the certificate does not name, or a CA that did not sign it: refused.
    for tls, words in [(TLS(ca=certs.ca, domain="elsewhere.test"),
                        f"the certificate of {coordinator.addr} does not name elsewhere.test"),
                       (TLS(ca=certs.pem("other-ca")),
                        f"the certificate of {coordinator.addr} is not signed by the CA in {certs.pem('other-ca')}")]:
        with mesh.cluster(coordinator, tls=tls) as cluster:
            e = error_within(cluster.status)
            assert isinstance(e, ClusterError) and e.code == grpc.StatusCode.UNAVAILABLE, e
            assert words in str(e), e


def test_mutual_tls_admits_certificates_of_its_ca_only_and_says_so(mesh, certs):
    # No shared secret: the client certificate alone authenticates.
    coordinator = mesh.coordinator(*certs.serve("coordinator"), "--tls-client-ca", certs.ca, secret=False)
    mesh.rust_worker(coordinator, "--cpus", "2", *certs.dial("worker"), secret=False)
    with mesh.cluster(coordinator, secret_file=None, tls=certs.tls()) as cluster:
        mesh.wait_active(cluster, 1)
        assert cluster.map("sum-primes", SUM_PRIMES_INPUTS) == EXPECTED
        assert cluster.submit("sum-primes", 7920)() == sum_primes_below(7920)

    cases = [(TLS(ca=certs.ca), "likely requires a client certificate (mutual TLS), and none was given: "
                                "pass tls=TLS(ca=..., cert=..., key=...)"),
             (certs.tls("stranger"), "likely does not accept this client certificate (mutual TLS)")]
    for tls, words in cases:
        with mesh.cluster(coordinator, secret_file=None, tls=tls) as cluster:
            for call in (cluster.status, lambda: cluster.map("sum-primes", [10]),
                         lambda: cluster.submit("sum-primes", 10)()):
                e = error_within(call)
                assert isinstance(e, ClusterError) and e.code == grpc.StatusCode.UNAVAILABLE, e
                assert words in str(e), e
                assert coordinator.addr in e.hint, e
    # A Python worker registering without a certificate logs the same reason.
    worker = mesh.python_worker(coordinator, "--cpus", "1", *MODULE, "--tls-ca", certs.ca, secret=False)
    wait_for(lambda: "likely requires a client certificate (mutual TLS)" in worker.log(),
             "the worker's log to say a client certificate is required")


@pytest.mark.parametrize("how", ["registers", "listed"])
def test_rust_coordinator_dials_a_python_worker_over_mutual_tls(mesh, certs, how):
    """The recommended set-up: TLS everywhere, client certificates required
    everywhere, and the shared secret as well. The Python worker either
    registers (over mutual TLS itself) or is on the coordinator's --worker list."""
    worker_tls = [*certs.serve("worker"), "--tls-client-ca", certs.ca]
    coordinator_tls = [*certs.serve("coordinator"), "--tls-client-ca", certs.ca, *certs.dial("coordinator")]
    if how == "registers":
        coordinator = mesh.coordinator(*coordinator_tls)
        worker = mesh.python_worker(coordinator, "--cpus", "2", *MODULE, *worker_tls, *certs.dial("worker"))
    else:
        worker = mesh.python_worker(None, "--cpus", "2", *MODULE, *worker_tls)
        coordinator = mesh.coordinator(*coordinator_tls, "--worker", worker.addr)
    with mesh.cluster(coordinator, tls=certs.tls()) as cluster:
        mesh.wait_active(cluster, 1)
        outcomes = cluster.run("square", range(50))
        assert [o.get() for o in outcomes] == [i * i for i in range(50)]
        assert {o.worker for o in outcomes} == {worker.addr}
        got = cluster.map("slow-square", range(10))
        assert [(g["n"], g["square"]) for g in got] == [(i, i * i) for i in range(10)]
        assert cluster.submit("square", 12)() == 144

    # The worker's own port: the cluster's certificate (and the secret) get
    # in; no certificate, or one of another CA, is turned away at TLS.
    secret = auth.load_secret(mesh.secret_file)
    method = "/cluster.v1.WorkerService/GetInfo"
    for cert, admitted in [("client", True), (None, False), ("stranger", False)]:
        pem, key = (certs.pem(cert), certs.key(cert)) if cert else (None, None)
        dialer = Dialer(f"https://{worker.addr}", secret, certs.ca, pem, key)
        with dialer.channel() as channel:
            stub = worker_pb2_grpc.WorkerServiceStub(channel)
            if admitted:
                info = stub.GetInfo(worker_pb2.GetInfoRequest(), metadata=dialer.metadata(method), timeout=10)
                assert "square" in info.kinds and info.cores == 2
                continue
            e = error_within(lambda: stub.GetInfo(worker_pb2.GetInfoRequest(), metadata=dialer.metadata(method),
                                                  timeout=10))
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
            assert "client certificate" in (dialer.explain(e.code(), e.details()) or ""), e.details()


def test_plaintext_to_tls_and_tls_to_plaintext_fail_at_once_with_what_to_do(mesh, certs):
    tls_coordinator = mesh.coordinator(*certs.serve("coordinator"))
    plain_coordinator = mesh.coordinator()
    cases = [(Cluster(f"http://{tls_coordinator.addr}", secret_file=str(mesh.secret_file)),
              f"{tls_coordinator.addr} closed the connection instead of answering plaintext HTTP/2: "
              "if it serves TLS, use an https:// address and tls=TLS(ca=...)"),
             (Cluster(f"https://{plain_coordinator.addr}", secret_file=str(mesh.secret_file), tls=TLS(ca=certs.ca)),
              f"{plain_coordinator.addr} did not answer TLS: if it serves plaintext, use an http:// address")]
    for cluster, words in cases:
        with cluster:
            for call in (cluster.status, lambda: cluster.map("sum-primes", [10]),
                         lambda: cluster.submit("sum-primes", 10)()):
                e = error_within(call)
                assert isinstance(e, ClusterError) and e.code == grpc.StatusCode.UNAVAILABLE, e
                assert words in str(e), e
