"""The tree CI publishes to the `dist` branch (scripts/dist.sh), which the Deploy to Cloudflare
button deploys in a build image without Rust: it holds the built Worker and a wrangler.toml that
equals the real one minus [build], and `wrangler deploy --dry-run` succeeds in it with no cargo
or rustc on the PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from harness import ROOT, WRANGLER, quiet_node_env

RUST_TOOLS = ("cargo", "rustc", "rustup", "worker-build", "wasm-bindgen")


def path_without_rust() -> str:
    """The caller's PATH minus every folder that holds a Rust tool (~/.cargo/bin and the like)."""
    folders = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    kept = [f for f in folders if not any((Path(f) / tool).exists() for tool in RUST_TOOLS)]
    return os.pathsep.join(kept)


def assemble(out: Path) -> Path:
    subprocess.run(["bash", str(ROOT / "scripts" / "dist.sh"), str(out)], check=True, cwd=ROOT,
                   capture_output=True, text=True)
    return out


def test_dist_config_is_the_real_one_without_its_build_step(tmp_path):
    dist = assemble(tmp_path / "dist")
    real = tomllib.loads((ROOT / "wrangler.toml").read_text())
    generated = tomllib.loads((dist / "wrangler.toml").read_text())
    assert "build" in real, "wrangler.toml has no [build] step any more: dist.sh's purpose has changed"
    assert generated == {key: value for key, value in real.items() if key != "build"}
    assert (dist / generated["main"]).is_file()
    assert sorted(p.name for p in (dist / "build").iterdir()) == ["index.js", "index_bg.wasm"]
    for built in ("index.js", "index_bg.wasm"):
        assert (dist / "build" / built).read_bytes() == (ROOT / "build" / built).read_bytes()
    # CI commits the tree with git: nothing in it may be ignored.
    subprocess.run(["git", "init", "-q", str(dist)], check=True)
    ignored = subprocess.run(["git", "-C", str(dist), "status", "--porcelain", "--ignored"], capture_output=True,
                             text=True, check=True).stdout
    assert "!!" not in ignored, ignored
    package = json.loads((dist / "package.json").read_text())
    source_package = json.loads((ROOT / "package.json").read_text())
    assert package["devDependencies"] == {"wrangler": source_package["devDependencies"]["wrangler"]}
    assert package["cloudflare"] == source_package["cloudflare"]
    assert (dist / ".dev.vars.example").read_text() == (ROOT / ".dev.vars.example").read_text()


def test_dist_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("not ours")
    completed = subprocess.run(["bash", str(ROOT / "scripts" / "dist.sh"), str(tmp_path)], cwd=ROOT,
                               capture_output=True, text=True)
    assert completed.returncode == 1 and "is not empty" in completed.stderr, completed
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_dist_tree_deploys_without_a_rust_toolchain(tmp_path):
    dist = assemble(tmp_path / "dist")
    env = quiet_node_env()
    env["PATH"] = path_without_rust()
    for tool in RUST_TOOLS:
        assert shutil.which(tool, path=env["PATH"]) is None, f"{tool} is still on the PATH"
    out = tmp_path / "upload"
    completed = subprocess.run([str(WRANGLER), "deploy", "--dry-run", "--outdir", str(out)], cwd=dist, env=env,
                               capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "--dry-run: exiting now." in output, output
    assert "Total Upload" in output, output
    uploaded_wasm = [p for p in out.iterdir() if p.suffix == ".wasm"]
    assert [p.read_bytes() for p in uploaded_wasm] == [(ROOT / "build" / "index_bg.wasm").read_bytes()], output
