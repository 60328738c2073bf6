"""Cross-checks the deployment files against the fff configuration schema.

Every key in a deployed fff.toml and every FFF_<SECTION>__<KEY> variable must be a key that
config/fff.example.toml documents (the roles reject unknown keys and exit with code 64), the
scanner shard settings must agree with each other, and every ${VAR} in docker-compose.yml must
be documented in .env.example. Prints one line per problem; exits 1 if there is any.
"""

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# FFF_* variables that are not configuration keys (crates/fff-runtime/src/config/env.rs).
FFF_NON_CONFIG = {"FFF_AUTH_TOKEN", "FFF_CONFIG"}
KEY_LINE = re.compile(r"^#?\s*([a-z_][a-z0-9_]*)\s*=")
SECTION_LINE = re.compile(r"^\[([a-z_.]+)\]\s*$")

problems: list[str] = []


def known_keys() -> set[str]:
    """Dotted keys of config/fff.example.toml, including the commented-out optional ones."""
    keys: set[str] = set()
    section = ""
    for line in (ROOT / "config/fff.example.toml").read_text().splitlines():
        if m := SECTION_LINE.match(line.strip()):
            section = m.group(1)
        elif section and (m := KEY_LINE.match(line.strip())):
            keys.add(f"{section}.{m.group(1)}")
    return keys


def toml_keys(table: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        out.extend(toml_keys(value, path + ".") if isinstance(value, dict) else [path])
    return out


def check_toml(path: Path, keys: set[str]) -> dict:
    config = tomllib.loads(path.read_text())
    for key in toml_keys(config):
        if key not in keys:
            problems.append(f"{path.relative_to(ROOT)}: unknown configuration key {key}")
    return config


def check_env(where: str, names, keys: set[str]) -> None:
    for name in names:
        if not name.startswith("FFF_") or name in FFF_NON_CONFIG:
            continue
        key = name[len("FFF_"):].lower().replace("__", ".")
        if key not in keys:
            problems.append(f"{where}: {name} is not a configuration key ({key})")


def shard_count(shard: str) -> int:
    return int(shard.split("/")[1])


def main() -> int:
    keys = known_keys()
    if len(keys) < 50:
        problems.append(f"config/fff.example.toml: only {len(keys)} keys found; parser out of date?")

    for path in sorted(ROOT.glob("deploy/compose/*.toml")) + [ROOT / "deploy/systemd/fff.toml"]:
        check_toml(path, keys)
    k8s_config = check_toml(ROOT / "k8s/base/fff.toml", keys)

    # docker compose: env keys, shards, .env.example.
    compose_text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(compose_text)
    shards = []
    scanner_lists = set()
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        check_env(f"docker-compose.yml service {name}", env, keys)
        if "FFF_SCANNER__SHARD" in env:
            shards.append(env["FFF_SCANNER__SHARD"])
        if "FFF_SERVICES__SCANNERS" in env:
            scanner_lists.add(env["FFF_SERVICES__SCANNERS"])
        for dep in service.get("depends_on") or {}:
            if dep not in compose["services"]:
                problems.append(f"docker-compose.yml service {name}: depends on unknown {dep}")
    if len(scanner_lists) != 1:
        problems.append("docker-compose.yml: the roles disagree on FFF_SERVICES__SCANNERS")
    else:
        listed = tomllib.loads(f"v = {scanner_lists.pop()}")["v"]
        expected = sorted(f"{i}/{len(shards)}" for i in range(len(shards)))
        if sorted(shards) != expected or len(listed) != len(shards):
            problems.append(
                f"docker-compose.yml: shards {sorted(shards)} and {len(listed)} scanner "
                f"endpoints do not form 0/N..N-1/N"
            )
    venues = set(re.findall(r"exchange-\$\{EXCHANGE_VENUE:-(\w+)\}", compose_text))
    for venue in venues | {"sim", "testnet", "mainnet"}:
        if not (ROOT / f"deploy/compose/exchange-{venue}.toml").is_file():
            problems.append(f"deploy/compose/exchange-{venue}.toml is missing")
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    for var in sorted(set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", compose_text))):
        if var not in documented:
            problems.append(f"docker-compose.yml uses ${{{var}}}, which .env.example does not document")

    dockerfile_env = re.findall(r"^ENV\s+(FFF_\w+)=", (ROOT / "Dockerfile").read_text(), re.M)
    check_env("Dockerfile", dockerfile_env, keys)

    # Kubernetes: env keys in every manifest, and the scanner count in three places.
    for path in sorted(ROOT.glob("k8s/**/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") in (None, "Kustomization", "Secret"):
                continue
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                names = [e["name"] for e in container.get("env", [])]
                check_env(f"{path.relative_to(ROOT)} {container['name']}", names, keys)
            if doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == "scanner":
                replicas = doc["spec"]["replicas"]
                args = " ".join(pod["containers"][0]["args"])
                listed = len(k8s_config["services"]["scanners"])
                if f"/{replicas}" not in args or listed != replicas:
                    problems.append(
                        f"{path.relative_to(ROOT)}: {replicas} replicas, args {args!r} and "
                        f"{listed} services.scanners entries must agree"
                    )

    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
