"""ARNs: building and splitting."""

from __future__ import annotations

from dataclasses import dataclass

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0].split(":", 1)[0]

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
            raise ValueError(f"not an ARN: {text!r}")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])


def try_parse(text: str) -> Arn | None:
    try:
        return Arn.parse(text)
    except ValueError:
        return None


def iam_arn(partition: str, account: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::123456789012:user/path/name`` (path always starts and ends with /)."""
    return f"arn:{partition}:iam::{account}:{kind}{path}{name}"


def root_arn(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:root"


def split_iam_resource(resource: str) -> tuple[str, str, str]:
    """``user/a/b/name`` -> (``user``, ``/a/b/``, ``name``)."""
    kind, _, rest = resource.partition("/")
    head, _, name = rest.rpartition("/")
    path = "/" + head + "/" if head else "/"
    return kind, path, name
