"""The auth header's test vectors (proto/README.md), which the Rust tests
(cluster-auth scheme.rs) check too, and the verifier's rules."""
import pytest

from cluster_mesh import auth

VECTORS = [
    # secret file text, unix millis, nonce, authority, method, header
    (b"s3cret-of-the-mesh\n", 1700000000000, bytes(range(16)), "Worker-1:35000", "/cluster.v1.WorkerService/Session",
     "v2:1700000000000:000102030405060708090a0b0c0d0e0f:"
     "0bfa107d517cdb040a72f2765a44c915a7ed9a8bc710f60d447efeb8ac8e831e"),
    (b"123456", 1752000000123, bytes.fromhex("ffeeddccbbaa99887766554433221100"), "127.0.0.1:7700",
     "/cluster.v1.ClientService/Submit",
     "v2:1752000000123:ffeeddccbbaa99887766554433221100:"
     "dafa0d1063ca225ea7f6b95564ffb80025f72e2d3e35089b141d4d6e8ac902ef"),
]


@pytest.mark.parametrize("text,millis,nonce,authority,method,header", VECTORS)
def test_vectors(text, millis, nonce, authority, method, header):
    secret = auth.secret_from_text(text)
    assert auth.sign(secret, authority, method, millis, nonce) == header
    auth.Verifier(secret).verify(header, authority, method, now_ms=millis)


def test_secret_file_loses_trailing_newlines_only(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b" s3cret \r\n\n")
    assert auth.load_secret(path) == b" s3cret "
    path.write_bytes(b"\n")
    with pytest.raises(auth.SecretError, match="is empty"):
        auth.load_secret(path)


def verify(verifier, header, now=1700000000000, authority="worker-1:35000",
           method="/cluster.v1.WorkerService/Session"):
    verifier.verify(header, authority, method, now_ms=now)


def test_rejections_say_why():
    secret = b"s3cret-of-the-mesh"
    good = VECTORS[0][5]
    v = auth.Verifier(secret)
    cases = {
        None: auth.MISSING,
        "garbage": auth.MALFORMED,
        good[:-64] + good[-64:].upper(): auth.MALFORMED,
        "v1:1:" + "00" * 16 + ":" + "ab" * 32: auth.OLD_VERSION,
        auth.sign(b"wrong", "worker-1:35000", "/cluster.v1.WorkerService/Session", 1700000000000): auth.WRONG_SECRET,
        auth.sign(secret, "worker-2:35000", "/cluster.v1.WorkerService/Session", 1700000000000): auth.WRONG_SECRET,
        auth.sign(secret, "worker-1:35000", "/cluster.v1.WorkerService/Session", 1700000030001):
            "credentials expired or clock skew over 30s",
    }
    for header, message in cases.items():
        with pytest.raises(auth.Rejected) as e:
            verify(v, header)
        assert str(e.value) == message, header
    verify(v, good)
    with pytest.raises(auth.Rejected, match="^replayed credentials$"):
        verify(v, good)


def test_a_server_that_cannot_see_the_authority_checks_its_names():
    secret = b"k"
    v = auth.Verifier(secret)
    header = auth.sign(secret, "127.0.0.1:4000", "/m", 1000)
    v.verify_any(header, ["worker:4000", "127.0.0.1:4000"], "/m", now_ms=1000)
    other = auth.sign(secret, "127.0.0.1:5000", "/m", 1000)
    with pytest.raises(auth.Rejected, match="^wrong secret$"):
        v.verify_any(other, ["worker:4000", "127.0.0.1:4000"], "/m", now_ms=1000)
