#!/usr/bin/env python3
"""Generates the Python stubs of proto/cluster/v1 into cluster_mesh/_proto.

    python gen_stubs.py           # write the stubs
    python gen_stubs.py --check   # exit 1 if the checked-in stubs differ

Needs grpcio-tools (run-tests.sh pins the version the checked-in stubs were
made with). The generated modules import each other as `cluster.v1`; that is
rewritten to `cluster_mesh._proto` so the package has no top-level `cluster`
module to clash with.
"""
import difflib
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
OUT = HERE / "cluster_mesh" / "_proto"
FILES = ["tasks", "client", "worker"]


def generate() -> dict:
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTO_ROOT}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", f"--pyi_out={tmp}"]
        args += [str(PROTO_ROOT / "cluster" / "v1" / f"{name}.proto") for name in FILES]
        if protoc.main(args) != 0:
            sys.exit("protoc failed")
        generated = {}
        for path in sorted((pathlib.Path(tmp) / "cluster" / "v1").iterdir()):
            text = path.read_text().replace("from cluster.v1 import", "from cluster_mesh._proto import")
            generated[path.name] = text
        return generated


def main() -> int:
    generated = generate()
    if "--check" in sys.argv:
        stale = []
        for name, text in generated.items():
            current = (OUT / name).read_text() if (OUT / name).exists() else ""
            if current != text:
                stale.append(name)
                sys.stderr.writelines(difflib.unified_diff(
                    current.splitlines(True), text.splitlines(True), f"checked-in/{name}", f"generated/{name}", n=1))
        if stale:
            print(f"stale stubs: {', '.join(stale)}; run `python clients/python/gen_stubs.py`", file=sys.stderr)
            return 1
        print(f"stubs match proto/ ({len(generated)} files)")
        return 0
    for name, text in generated.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(generated)} files to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
