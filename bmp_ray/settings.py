"""The config engine shared by every settings tree (run, training, BMP loop, tracker): typed, validated,
frozen dataclasses read from TOML or YAML files and ``--set SECTION.KEY=VALUE`` overrides.

- ``check(ok, name, want, got)``: the one error form, ``ConfigError("name: expected want, got got")``.
- ``accepts(type, value)`` / ``build(cls, d, where)``: a section's dataclass from a dict, every value
  type-checked against its annotation (int for float is fine, bool for int is not), unknown keys named.
- ``sections(cls, d)``: the per-section dicts of a tree; ``build_tree(cls, parts)``: the tree from them,
  each section through ``build`` (its errors named ``section.key``); ``read_file``, ``parse_override``
  and ``merged``: file <- overrides <- fields.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, Mapping, Sequence

from bmp_ray.errors import ConfigError

PRECISIONS = ("fp32", "fp16", "bf16")  # the names every stage and the trainer accept (dtypes: models.common)


def is_int(v) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v) -> bool:
    """An int or float that is not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check(ok: bool, name: str, want: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"{name}: expected {want}, got {got!r}")


def sections(cls, d: Mapping[str, Any] | None) -> dict[str, dict]:
    """The settings of each section of the config dataclass ``cls`` (``{}`` where absent); unknown
    sections and sections that are not tables are errors naming them."""
    d = dict(d or {})
    names = [f.name for f in dataclasses.fields(cls)]
    unknown(d, names, "config")
    out = {}
    for name in names:
        sub = d.get(name, {})
        if not isinstance(sub, Mapping):
            raise ConfigError(f"config.{name}: expected a table of settings, got {sub!r}")
        out[name] = dict(sub)
    return out


def unknown(d: Mapping, known: Sequence[str], where: str) -> None:
    extra = sorted(set(d) - set(known))
    if extra:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(map(str, extra))}; known: {', '.join(known)}")


def accepts(tp, v) -> bool:
    """Whether ``v`` is a value of the annotated type ``tp`` (int for float is fine, bool for int is not)."""
    if tp is Any:
        return True
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(accepts(a, v) for a in args)
    if tp is type(None):
        return v is None
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    origin = typing.get_origin(tp) or tp
    return isinstance(v, origin)


def build(cls, d: Mapping[str, Any], where: str):
    hints = typing.get_type_hints(cls)
    unknown(d, list(hints), where)
    for k, v in d.items():
        if not accepts(hints[k], v):
            want = str(hints[k]).replace("typing.", "").replace("<class '", "").replace("'>", "")
            raise ConfigError(f"{where}.{k}: expected {want}, got {v!r} ({type(v).__name__})")
    try:
        return cls(
            **{k: (float(v) if hints[k] in (float, float | None) and v is not None else v) for k, v in d.items()}
        )
    except ConfigError as exc:
        if str(exc).startswith((f"{where}.", f"{where}:")):
            raise
        raise ConfigError(f"{where}.{exc}") from None


def build_tree(cls, parts: Mapping[str, Mapping[str, Any]]):
    """The config tree ``cls`` from its per-section dicts (``sections``): each section's dataclass, the
    type of its field in ``cls``, built by ``build`` and named by the field."""
    hints = typing.get_type_hints(cls)
    return cls(**{name: build(hints[name], sub, name) for name, sub in parts.items()})


def read_file(path: str | os.PathLike) -> dict:
    """Parse a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file into a dict."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r}: not found")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".toml":
            import tomllib

            with open(path, "rb") as f:
                return tomllib.load(f)
        if ext in (".yaml", ".yml"):
            import yaml

            with open(path) as f:
                data = yaml.safe_load(f) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"config file {path!r}: expected a mapping at the top, got {type(data).__name__}")
            return data
    except ConfigError:
        raise
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError, OSError
        raise ConfigError(f"config file {path!r}: {exc}") from exc
    raise ConfigError(f"config file {path!r}: expected a .toml, .yaml or .yml file")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"sam.num_gpus=0.5"`` -> (["sam", "num_gpus"], 0.5); the value is read as YAML (so numbers,
    booleans, ``null``, lists and ``{a: b}`` tables work) and stays a string otherwise."""
    import yaml

    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. sam.num_gpus=0.5")
    key, raw = item.split("=", 1)
    path = key.strip().split(".")
    if len(path) != 2 or not all(path):
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. bmp.iterations=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            pass
    return path, value


def merged(path: str | os.PathLike | None, overrides: Sequence[str], fields: Mapping[str, Any]) -> dict:
    """The settings dict of a config file (if given) <- ``--set`` overrides <- ``fields``
    (``{"models.preset": "test"}`` style keys, None values ignored)."""
    d: dict[str, Any] = {
        k: dict(v) if isinstance(v, Mapping) else v for k, v in (read_file(path) if path else {}).items()
    }
    items = [parse_override(o) for o in overrides]
    items += [(k.split("."), v) for k, v in fields.items() if v is not None]
    for (section, key), value in items:
        target = d.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"config.{section}: expected a table of settings, got {target!r}")
        target[key] = value
    return d
