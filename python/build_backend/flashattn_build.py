"""PEP 517 backend: scikit-build-core when it is installed, else a plain CMake build.

The fallback exists for offline machines that have CMake, nanobind and a compiler but not
scikit-build-core (the GPU test machine): `pip install --no-build-isolation .` still works.
It builds the same CMake project (FLASHATTN_BUILD_PYTHON=ON, archs and head dims from the
environment) and packs python/flashattn plus the extension into a wheel.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

try:
    from scikit_build_core import build as _skbuild
except ImportError:
    _skbuild = None

ROOT = Path(__file__).resolve().parents[2]
NAME, VERSION = "flashattn", "0.1.0"


def get_requires_for_build_wheel(config_settings=None):
    return _skbuild.get_requires_for_build_wheel(config_settings) if _skbuild else []


def get_requires_for_build_sdist(config_settings=None):
    return _skbuild.get_requires_for_build_sdist(config_settings) if _skbuild else []


def build_sdist(sdist_directory, config_settings=None):
    if _skbuild is None:
        raise RuntimeError("building an sdist needs scikit-build-core")
    return _skbuild.build_sdist(sdist_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if _skbuild is not None:
        return _skbuild.build_wheel(wheel_directory, config_settings, metadata_directory)
    return _build_wheel_with_cmake(Path(wheel_directory))


def _cmake_build() -> Path:
    build = ROOT / "build" / f"python-cmake-{sys.implementation.cache_tag}"
    defines = {"FLASHATTN_BUILD_PYTHON": "ON", "FLASHATTN_BUILD_TESTS": "OFF",
               "FLASHATTN_BUILD_CLI": "OFF", "CMAKE_BUILD_TYPE": "Release",
               "Python_EXECUTABLE": sys.executable}
    for name in ("FLASHATTN_CUDA_ARCHS", "FLASHATTN_HEAD_DIMS", "FLASHATTN_ENABLE_CUDA"):
        if os.environ.get(name):
            defines[name] = os.environ[name]
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build)] +
                   [f"-D{key}={value}" for key, value in defines.items()], check=True)
    subprocess.run(["cmake", "--build", str(build), "--target", "_C", "-j",
                    str(os.cpu_count() or 1)], check=True)
    return next((build / "python").glob("_C*" + sysconfig.get_config_var("EXT_SUFFIX")))


def _wheel_tag() -> str:
    interpreter = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{interpreter}-{interpreter}-{platform}"


def _build_wheel_with_cmake(wheel_directory: Path) -> str:
    extension = _cmake_build()
    files = {f"flashattn/{path.relative_to(ROOT / 'python' / 'flashattn')}": path.read_bytes()
             for path in sorted((ROOT / "python" / "flashattn").rglob("*.py"))}
    files[f"flashattn/{extension.name}"] = extension.read_bytes()
    dist_info = f"{NAME}-{VERSION}.dist-info"
    tag = _wheel_tag()
    files[f"{dist_info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
                                      "Requires-Dist: numpy\n").encode()
    files[f"{dist_info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: flashattn_build\n"
                                   f"Root-Is-Purelib: false\nTag: {tag}\n").encode()
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel_name = f"{NAME}-{VERSION}-{tag}.whl"
    wheel_directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel_directory / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return wheel_name
