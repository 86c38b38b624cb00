"""Generate Python code, type stubs and a buf image from protos/ (`make proto`).

The well-known types and google.rpc / google.type protos are taken from the
installed grpcio-tools and googleapis-common-protos packages, never copied.

The *_pb2.py and *_pb2_grpc.py code is made by an older grpcio-tools (GENERATOR) than
the one installed, because generated code refuses to run below the versions that made
it: its stubs check grpcio >= the grpcio-tools version, its messages need the protobuf
of the protoc it bundles. GENERATOR sets the client's floors (clients/pyproject.toml)
and runs from a venv of its own (it needs protobuf < 6), made on first use.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "clients"
GENERATED = Path("masterdata") / "v1"
#: Descriptors with comments (source info), served by reflection so that
#: `grpcurl describe` shows the API documentation.
DESCRIPTOR_SET = "descriptor_set.binpb"
#: The oldest grpcio-tools whose registration functions call
#: `server.add_registered_method_handlers` (server/masterdata/server/api/registration.py
#: takes the handlers from there). Its code needs grpcio >= 1.64.0, protobuf >= 5.26.1.
GENERATOR = "grpcio-tools==1.64.0"
#: PEP 561's marker: type checkers of the client's users read the .pyi stubs beside it.
TYPED = "py.typed"
GENERATOR_VENV = ROOT / ".build" / GENERATOR.replace("==", "-")


def include_paths(proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Directories holding our protos, google/protobuf/*.proto and google/{rpc,type}/*.proto."""
    import google.rpc.status_pb2 as status_pb2

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(status_pb2.__file__).resolve().parent.parent.parent
    return [proto_root, well_known, googleapis]


def proto_files(proto_root: Path = PROTO_ROOT) -> list[str]:
    return sorted(str(p.relative_to(proto_root)) for p in (proto_root / GENERATED).glob("*.proto"))


def run_protoc(args: list[str], proto_root: Path = PROTO_ROOT) -> None:
    includes = (f"-I{p}" for p in include_paths(proto_root))
    argv = ["grpc_tools.protoc", *includes, *args, *proto_files(proto_root)]
    if protoc.main(argv) != 0:
        raise SystemExit("protoc failed")


def generator_python() -> Path:
    """The Python of GENERATOR's venv, made (a minute at most, once) if missing."""
    python = GENERATOR_VENV / "bin" / "python"
    stamp = GENERATOR_VENV / ".installed"
    if stamp.exists() and stamp.read_text() == GENERATOR:
        return python
    shutil.rmtree(GENERATOR_VENV, ignore_errors=True)
    venv.create(GENERATOR_VENV, with_pip=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, GENERATOR], check=True)
    stamp.write_text(GENERATOR)
    return python


def run_generator(args: list[str]) -> None:
    """protoc of GENERATOR, with the same include paths and files as run_protoc."""
    includes = [f"-I{p}" for p in include_paths()]
    argv = [str(generator_python()), "-m", "grpc_tools.protoc", *includes, *args, *proto_files()]
    if subprocess.run(argv, check=False).returncode != 0:
        raise SystemExit(f"protoc of {GENERATOR} failed")


def generate(out_root: Path) -> None:
    target = out_root / GENERATED
    target.mkdir(parents=True, exist_ok=True)
    for stale in [*target.glob("*_pb2*.py*"), target / DESCRIPTOR_SET]:
        stale.unlink(missing_ok=True)
    run_generator([f"--python_out={out_root}", f"--grpc_python_out={out_root}"])
    bin_dir = Path(sys.executable).parent
    run_protoc(
        [
            f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
            f"--mypy_out={out_root}",
            f"--mypy_grpc_out={out_root}",
        ]
    )
    write_image(target / DESCRIPTOR_SET)
    (target / "__init__.py").write_text('"""Generated protobuf and gRPC code (make proto)."""\n')
    (target / TYPED).write_text("")


def write_image(path: Path, proto_root: Path = PROTO_ROOT) -> None:
    """A descriptor set with source info, the input of `buf lint` and `buf breaking`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [f"--descriptor_set_out={path}", "--include_imports", "--include_source_info"]
    run_protoc(args, proto_root)


def check() -> int:
    """Exit non-zero when the committed generated code differs from a fresh run."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh, committed = Path(tmp) / GENERATED, OUT_ROOT / GENERATED
        names = {p.name for p in fresh.iterdir()} | {
            p.name
            for p in committed.iterdir()
            if p.is_file() and (p.suffix in {".py", ".pyi", ".binpb"} or p.name == TYPED)
        }
        stale = sorted(
            n
            for n in names
            if not (fresh / n).exists()
            or not (committed / n).exists()
            or not filecmp.cmp(fresh / n, committed / n, shallow=False)
        )
    if stale:
        print("generated code is stale; run `make proto`:", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when generated code is stale")
    parser.add_argument("--image", type=Path, help="also write a buf image (descriptor set) here")
    parser.add_argument("--image-only", type=Path, help="write only the buf image, here")
    parser.add_argument("--proto-root", type=Path, default=PROTO_ROOT, help="for --image-only")
    args = parser.parse_args()
    if args.check:
        return check()
    if args.image_only:
        write_image(args.image_only, args.proto_root.resolve())
        return 0
    generate(OUT_ROOT)
    if args.image:
        write_image(args.image)
    shutil.rmtree(OUT_ROOT / GENERATED / "__pycache__", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
