"""Without llama-index-core, importing the integration names the extra to install."""

import subprocess
import sys
import textwrap


def test_missing_llama_index_names_the_extra() -> None:
    code = textwrap.dedent("""
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "llama_index" or name.startswith("llama_index."):
                    raise ImportError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, Block())
        from guard_core.errors import MissingDependencyError
        try:
            import guard_core.integrations.llama_index
        except MissingDependencyError as exc:
            assert exc.package == "llama-index-core" and exc.extra == "llamaindex", exc
            print(exc)
        else:
            raise SystemExit("imported without llama_index")
        import guard_core  # the core never needs the framework
        print(guard_core.Guard.__name__)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "llama-index-core is not installed; install it with: "
        "pip install 'guard-core-agents[llamaindex]'",
        "Guard",
    ]
