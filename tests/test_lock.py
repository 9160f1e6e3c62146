"""The locked environment: requirements.lock pins every package exactly, satisfies every dependency that
pyproject.toml declares, and is what environment.yml and this environment install."""

import tomllib
from importlib.metadata import version

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from dragon_repro.paths import ROOT

LOCK = ROOT / "requirements.lock"


def lock_lines() -> list[str]:
    lines = (line.split("#")[0].strip() for line in LOCK.read_text().splitlines())
    return [line for line in lines if line]


def locked() -> dict[str, Version]:
    pins = [Requirement(line) for line in lock_lines()]
    return {canonicalize_name(pin.name): Version(next(iter(pin.specifier)).version) for pin in pins}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [dep for group in project["optional-dependencies"].values() for dep in group]
    return [Requirement(dep) for dep in project["dependencies"] + extras]


def test_the_lock_pins_every_package_exactly_once():
    for line in lock_lines():
        specifiers = list(Requirement(line).specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version, \
            f"requirements.lock: {line!r} is not an exact pin (name==version)"
    assert len(locked()) == len(lock_lines()), "requirements.lock: a package is pinned twice"


def test_every_declared_dependency_has_a_locked_version_that_satisfies_it():
    pins = locked()
    for requirement in declared():
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"pyproject.toml: {requirement} has no version in requirements.lock (scripts/lock.sh)"
        assert requirement.specifier.contains(pin, prereleases=True), \
            f"pyproject.toml: {requirement} is not satisfied by its locked version {pin} (scripts/lock.sh)"


def test_environment_yml_installs_the_lock_and_nothing_else():
    dependencies = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    assert "python=3.11" in dependencies  # the Python the lock was resolved on
    pip = next(entry["pip"] for entry in dependencies if isinstance(entry, dict))
    assert "-r requirements.lock" in pip and "-e ." in pip
    assert all(entry.startswith("-") for entry in pip), f"environment.yml: a package pinned beside the lock: {pip}"


def test_this_environment_has_every_locked_version():
    for package, pin in locked().items():  # compared without the build label: a CUDA torch keeps the locked release
        installed = Version(version(package))
        assert installed.public == pin.public, \
            f"{package} {installed} is installed, requirements.lock has {pin} (rerun bootstrap.sh)"
