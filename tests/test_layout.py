"""The repository's shape: dependencies point down (no import cycles among its modules,
no script imported by the library), every flag of every script explains itself, and the
documentation's links and citations resolve."""
import argparse
import ast
import importlib
import os
import re
import subprocess

import pytest

from helpers import ROOT

COMMANDS = ["main", "complete", "temporal", "sequence", "experiments", "app", "train_encoder",
            "preprocess_train_images", "preprocess_test_images", "split_identities", "launch_workers"]
ORIGINAL_LIBRARY = ["model", "ops", "utils"]
PACKAGES = ["core", "facedata", "training", "inpainting", "paper", "webpage"]
MODULES = sorted(COMMANDS + ORIGINAL_LIBRARY + [f"{p}.{f[:-3]}" for p in PACKAGES
                                               for f in os.listdir(os.path.join(ROOT, p))
                                               if f.endswith(".py") and f != "__init__.py"])
BENCHES = sorted(f"bench.{f[:-3]}" for f in os.listdir(os.path.join(ROOT, "bench"))
                 if f.startswith(("bench_", "run_all")) and f.endswith(".py"))


def source(module):
    with open(os.path.join(ROOT, *module.split(".")) + ".py") as f:
        return f.read()


def is_script(module):
    return 'if __name__ == "__main__":' in source(module)


def imports(module):
    """The project modules `module` imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source(module))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & set(MODULES)


def test_the_root_holds_the_commands_the_original_library_and_a_few_packages():
    tracked = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout: what the repository holds is what git tracks")
    entries = sorted({path.split("/")[0] for path in tracked.stdout.splitlines()} - {".ci", ".gitignore"})
    python = sorted(e[:-3] for e in entries if e.endswith(".py"))
    assert python == sorted(COMMANDS + ORIGINAL_LIBRARY)
    assert all(is_script(m) for m in COMMANDS) and not any(is_script(m) for m in ORIGINAL_LIBRARY)
    folders = {e for e in entries if os.path.isdir(os.path.join(ROOT, e))}
    assert folders == set(PACKAGES) | {"bench", "checkpoints", "data", "docs", "models", "samples", "tests"}
    for package in PACKAGES:
        init = open(os.path.join(ROOT, package, "__init__.py")).read()
        assert ast.get_docstring(ast.parse(init)), f"{package}/__init__.py says what the package owns"
        assert not [line for line in init.splitlines() if line.startswith(("import ", "from "))], package
        assert os.path.isdir(os.path.join(ROOT, "tests", package)), f"tests/ mirrors {package}/"


def test_no_import_cycle_and_no_script_used_as_a_library():
    graph = {m: imports(m) for m in MODULES}
    scripts = {m for m in MODULES if is_script(m)}
    library = set(MODULES) - scripts
    for module in library:
        assert not graph[module] & scripts, f"{module} imports the script(s) {graph[module] & scripts}"
    state = {}

    def visit(module, path):
        if state.get(module) == "open":
            cycle = path[path.index(module):] + [module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if state.get(module) == "done":
            return
        state[module] = "open"
        for other in sorted(graph[module]):
            visit(other, path + [module])
        state[module] = "done"

    for module in MODULES:
        visit(module, [])


class Parsed(Exception):
    pass


def parser_of(module, monkeypatch):
    def capture(self, *args, **kwargs):
        raise Parsed(self)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(Parsed) as caught:
        importlib.import_module(module).parse_args([])
    return caught.value.args[0]


@pytest.mark.parametrize("module", [m for m in MODULES if is_script(m) and "def parse_args" in source(m)] + BENCHES)
def test_every_flag_has_a_help_text_that_shows_its_default(module, monkeypatch):
    parser = parser_of(module, monkeypatch)
    bare = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
    assert not bare, f"{module}: flags without a help text: {bare}"
    assert parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter, module


def test_enums_are_defined_once_in_configs():
    for enum in ("PRECISIONS", "ARCHS", "BLEND_SOLVERS", "MASK_TYPES", "TEMPORAL_METHODS", "DISTRIBUTE_MODES"):
        defined = [m for m in MODULES if re.search(rf"^{enum} = ", source(m), re.M)]
        assert defined == ["core.configs"], (enum, defined)
    literals = ('["float32", "bfloat16"]', '("float32", "bfloat16")', '["banded", "splu", "pyamg"]',
                '["ecgan", "dcgan"]')
    for module in MODULES + BENCHES:
        text = source(module)
        assert not [lit for lit in literals if lit in text] or module == "core.configs", module


def test_docs_links_and_spec_citations_resolve():
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert len(readme.splitlines()) <= 200
    pages = ["README.md"] + [os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                             if f.endswith(".md")]
    for page in pages:
        text = open(os.path.join(ROOT, page)).read()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if target.startswith("http"):
                continue
            path = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), target))
            assert os.path.exists(path), f"{page} links {target}, which does not exist"
    for module in MODULES + ["tests.test_model"]:
        for line in source(module).splitlines():
            if "SPEC" in line:
                assert "docs/spec.md" in line, f"{module}: {line.strip()}"
