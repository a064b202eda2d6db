"""Python source that refuses some imports, for ``python -c`` runs standing in for a machine without
those packages (the GPU benchmark's): prepend ``refuse_imports(...)`` to the script."""


def refuse_imports(*names: str) -> str:
    """Source that makes ``import NAME`` (and its submodules) raise ``ModuleNotFoundError`` with "absent on
    the GPU machine" in its message, in the process that runs it."""
    return (
        "import sys\n"
        "class _Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {tuple(names)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (absent on the GPU machine)', name=name)\n"
        "sys.meta_path.insert(0, _Absent())\n"
    )
