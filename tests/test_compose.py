"""Static checks of the production shape: docker-compose.yml, the Dockerfiles and nginx.conf.

No Docker engine is needed: everything here is read from the files, so a broken path, a renamed
module or setting, a missing health check or a proxy pointing at a service that does not exist
fails `make test` long before anyone runs `docker compose up`.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "docker" / "nginx.conf"
TURN_CONF = ROOT / "docker" / "turnserver.conf"

# HOSPITAL_* names that docker-compose.yml reads but the app does not (they are not Settings
# fields). Each must be used by the compose file, and none may be handed to a container as an
# environment variable, where pydantic-settings would silently ignore it.
COMPOSE_ONLY_VARS: dict[str, str] = {
    "HOSPITAL_MYSQL_PASSWORD": "MySQL password of the app user; becomes part of HOSPITAL_DATABASE_URL",
    "HOSPITAL_MYSQL_ROOT_PASSWORD": "MySQL root password, for the mysql image's first start only",
    "HOSPITAL_TURN_EXTERNAL_IP": "coturn --external-ip: the public address relays are advertised on",
}

# Python modules that compose runs but that are still to be written. A module listed here makes
# its test an expected failure instead of a failure; once the module exists the test fails until
# the entry is removed, so this set cannot go stale.
PENDING_MODULES: dict[str, str] = {}

APP_SERVICES = ("migrate", "api", "signaling", "media")


# ---------------------------------------------------------------------------------------------
# Loading


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def argv(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def option(args: list[str], name: str) -> str | None:
    """Value of `--name=value` or `--name value` in an argument list."""
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(args):
            return args[i + 1]
    return None


def listening_port(service: str) -> int:
    port = option(argv(SERVICES[service].get("command")), "--port")
    assert port is not None, f"{service}: command has no --port"
    return int(port)


def depends_on(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def one_shot_services() -> set[str]:
    """Services others wait for to *complete*: run once, so no health check applies."""
    return {
        dep
        for svc in SERVICES
        for dep, condition in depends_on(svc).items()
        if condition == "service_completed_successfully"
    }


# ---------------------------------------------------------------------------------------------
# Dockerfiles and .dockerignore


@dataclass
class Copy:
    line: int
    sources: list[str]
    dest: str
    from_stage: str | None
    stages_before: list[str]


@dataclass
class Dockerfile:
    path: Path
    stages: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(path: Path) -> Dockerfile:
    result = Dockerfile(path)
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append((start, buffer + stripped))
        buffer = ""
    for number, text in logical:
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        result.instructions.append((keyword, rest))
        if keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--")]
            result.bases.append(words[0])
            named = len(words) >= 3 and words[1].upper() == "AS"
            result.stages.append(words[2] if named else str(len(result.bases) - 1))
        elif keyword in ("COPY", "ADD"):
            from_stage = None
            while rest.startswith("--"):
                flag, _, rest = rest.partition(" ")
                rest = rest.strip()
                if flag.startswith("--from="):
                    from_stage = flag.split("=", 1)[1]
            args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            # A stage is named by its `AS` name, or by its index when it has none.
            earlier = [*result.stages[:-1], *map(str, range(len(result.stages) - 1))]
            result.copies.append(Copy(number, args[:-1], args[-1], from_stage, earlier))
    return result


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def dockerignore(context: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per line, as BuildKit reads .dockerignore: the last match decides."""
    path = context / ".dockerignore"
    rules = []
    for raw in path.read_text().splitlines() if path.exists() else []:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        # A pattern that matches a directory matches everything inside it.
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def context_files(source: Path, context: Path) -> Iterator[str]:
    if source.is_file():
        yield source.relative_to(context).as_posix()
    else:
        for path in source.rglob("*"):
            if path.is_file():
                yield path.relative_to(context).as_posix()


@dataclass
class Build:
    service: str
    context: Path
    dockerfile: Path


def builds() -> list[Build]:
    found: dict[tuple[Path, Path], Build] = {}
    for name, spec in SERVICES.items():
        build = spec.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        context = (ROOT / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        found.setdefault((context, dockerfile), Build(name, context, dockerfile))
    return list(found.values())


BUILDS = builds()


def test_compose_builds_the_two_images() -> None:
    assert {b.dockerfile.relative_to(ROOT).as_posix() for b in BUILDS} == {
        "docker/api.Dockerfile",
        "docker/web.Dockerfile",
    }


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: b.dockerfile.name)
def test_build_context_and_dockerfile_exist(build: Build) -> None:
    assert build.context.is_dir(), f"{build.service}: build context {build.context} is missing"
    assert build.dockerfile.is_file(), f"{build.service}: {build.dockerfile} is missing"


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: b.dockerfile.name)
def test_every_copy_source_is_in_the_build_context(build: Build) -> None:
    dockerfile = parse_dockerfile(build.dockerfile)
    rules = dockerignore(build.context)
    assert dockerfile.copies, "no COPY at all: the parser is broken or the Dockerfile is empty"
    problems = []
    for copy in dockerfile.copies:
        where = f"{build.dockerfile.name}:{copy.line}"
        if copy.from_stage is not None:
            if copy.from_stage not in copy.stages_before:
                problems.append(f"{where}: --from={copy.from_stage} is not an earlier stage")
            continue
        for source in copy.sources:
            matches = (
                sorted(build.context.glob(source))
                if any(c in source for c in "*?[")
                else [build.context / source]
            )
            existing = [m for m in matches if m.exists()]
            if not existing:
                problems.append(f"{where}: COPY source {source!r} does not exist")
                continue
            for match in existing:
                files = list(context_files(match, build.context))
                if match.is_file() and is_ignored(files[0], rules):
                    problems.append(f"{where}: {source!r} is excluded by .dockerignore")
                elif match.is_dir() and files and all(is_ignored(f, rules) for f in files):
                    problems.append(f"{where}: everything in {source!r} is excluded by .dockerignore")
    assert not problems, "\n".join(problems)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context() -> None:
    rules = dockerignore(ROOT)
    for path in (".env", "app/.env", "var/hospital.db", ".venv/bin/python", ".git/config"):
        assert is_ignored(path, rules), f"{path} would be sent to the Docker builder"
    for path in ("frontend/node_modules/x/index.js", "app/__pycache__/main.cpython-311.pyc"):
        assert is_ignored(path, rules), f"{path} would be sent to the Docker builder"
    for path in ("app/main.py", "pyproject.toml", "docker/nginx.conf", "frontend/package.json"):
        assert not is_ignored(path, rules), f"{path} is needed by a Dockerfile but excluded"


def test_api_image_is_slim_non_root_and_without_dev_dependencies() -> None:
    dockerfile = parse_dockerfile(ROOT / "docker" / "api.Dockerfile")
    assert all(base.startswith("python:3.11-slim") for base in dockerfile.bases)
    final_stage: list[tuple[str, str]] = []
    for keyword, rest in dockerfile.instructions:
        final_stage = [] if keyword == "FROM" else [*final_stage, (keyword, rest)]
    users = [rest for keyword, rest in final_stage if keyword == "USER"]
    assert users, "the runtime stage never leaves root"
    assert users[-1].split(":")[0] not in ("root", "0")
    installs = [
        rest for keyword, rest in dockerfile.instructions if keyword == "RUN" and "pip install" in rest
    ]
    assert installs and all("[dev]" not in rest and "pytest" not in rest for rest in installs)
    copied = {source.rstrip("/") for copy in dockerfile.copies for source in copy.sources}
    assert {"app", "signaling", "media", "migrations", "alembic.ini"} <= copied


# ---------------------------------------------------------------------------------------------
# Environment variables


def settings_env_names() -> set[str]:
    from app.config import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def environment(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(k): str(v) for k, v in raw.items()}


INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")


def interpolations() -> list[re.Match[str]]:
    return list(INTERPOLATION.finditer(COMPOSE_FILE.read_text()))


def test_container_environment_names_are_settings_fields() -> None:
    fields = settings_env_names()
    assert "HOSPITAL_DATABASE_URL" in fields, "Settings or its env_prefix changed: adapt this test"
    unknown = {
        f"{service}: {name}"
        for service in SERVICES
        for name in environment(service)
        if name.startswith("HOSPITAL_") and name not in fields
    }
    assert not unknown, f"not fields of app.config.Settings (the app would ignore them): {sorted(unknown)}"


def test_interpolated_names_are_settings_fields_or_documented_compose_only() -> None:
    fields = settings_env_names()
    names = {m["name"] for m in interpolations() if m["name"].startswith("HOSPITAL_")}
    undocumented = names - fields - COMPOSE_ONLY_VARS.keys()
    assert not undocumented, f"add to Settings or to COMPOSE_ONLY_VARS: {sorted(undocumented)}"
    stale = COMPOSE_ONLY_VARS.keys() - names
    assert not stale, f"COMPOSE_ONLY_VARS lists names compose no longer uses: {sorted(stale)}"
    shadowing = COMPOSE_ONLY_VARS.keys() & fields
    assert not shadowing, f"now Settings fields, remove from COMPOSE_ONLY_VARS: {sorted(shadowing)}"


def test_secrets_have_no_defaults() -> None:
    secrets = [m for m in interpolations() if re.search("SECRET|PASSWORD", m["name"])]
    assert secrets
    defaulted = {m.group(0) for m in secrets if m["op"] != ":?"}
    assert not defaulted, f"secrets must be required (${{NAME:?message}}): {sorted(defaulted)}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_run_in_production_against_mysql_and_redis(service: str) -> None:
    env = environment(service)
    assert env.get("HOSPITAL_ENV") == "production"
    assert env.get("HOSPITAL_DATABASE_URL", "").startswith("mysql+aiomysql://")
    assert "@mysql:3306/" in env["HOSPITAL_DATABASE_URL"]
    assert env.get("HOSPITAL_REDIS_URL") == "redis://redis:6379/0"
    assert env.get("HOSPITAL_SECRET_KEY", "").startswith("${HOSPITAL_SECRET_KEY:?")


# ---------------------------------------------------------------------------------------------
# Python entry points


def console_scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project.get("scripts", {}))


def entry_point(args: list[str]) -> str | None:
    """`module` or `module:attribute` a command starts, or None if it starts no Python code."""
    if not args:
        return None
    program = Path(args[0]).name
    if program in ("uvicorn", "gunicorn"):
        targets = [a for a in args[1:] if ":" in a and not a.startswith("-") and "=" not in a]
        return targets[0] if targets else None
    if re.fullmatch(r"python(3(\.\d+)?)?", program) and "-m" in args:
        return args[args.index("-m") + 1]
    return console_scripts().get(program)


def commands() -> dict[str, str]:
    found = {}
    for service, spec in SERVICES.items():
        target = entry_point(argv(spec.get("command")))
        if target is not None:
            found[service] = target
    return found


COMMANDS = commands()


def test_every_app_service_command_is_recognised() -> None:
    assert set(APP_SERVICES) <= COMMANDS.keys(), (
        f"no Python entry point found for {set(APP_SERVICES) - COMMANDS.keys()}"
    )
    assert COMMANDS["api"] == "app.main:create_app"
    assert "--factory" in argv(SERVICES["api"]["command"])
    workers = option(argv(SERVICES["api"]["command"]), "--workers")
    assert workers is not None and int(workers) > 1, "the API runs several workers"


def module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def defines(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return True
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return True
        if isinstance(node, ast.ImportFrom | ast.Import) and any(
            (alias.asname or alias.name) == name for alias in node.names
        ):
            return True
    return False


@pytest.mark.parametrize("target", sorted(set(COMMANDS.values())))
def test_command_modules_exist(target: str) -> None:
    module, _, attribute = target.partition(":")
    path = module_file(module)
    if module in PENDING_MODULES:
        if path is None:
            pytest.xfail(f"pending: {PENDING_MODULES[module]}")
        pytest.fail(f"{module} exists now: remove it from PENDING_MODULES")
    assert path is not None, f"{module} (run by docker-compose.yml) has no file in the repository"
    if attribute:
        assert defines(path, attribute), f"{path.relative_to(ROOT)} defines no top-level {attribute!r}"


# ---------------------------------------------------------------------------------------------
# Health checks and start order


def test_depends_on_names_existing_services_with_valid_conditions() -> None:
    valid = {"service_started", "service_healthy", "service_completed_successfully"}
    for service in SERVICES:
        for dep, condition in depends_on(service).items():
            assert dep in SERVICES, f"{service} depends on unknown service {dep}"
            assert condition in valid, f"{service} -> {dep}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], (
                    f"{service} waits for {dep} to be healthy, it has no check"
                )


def test_start_order() -> None:
    assert depends_on("migrate") == {"mysql": "service_healthy"}
    for service in ("api", "signaling"):
        assert depends_on(service).get("migrate") == "service_completed_successfully"
        assert depends_on(service).get("redis") == "service_healthy"
    assert argv(SERVICES["migrate"]["command"]) == ["hospital", "migrate"]
    assert str(SERVICES["migrate"].get("restart", "no")) == "no"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_long_running_services_have_a_health_check(service: str) -> None:
    if service in one_shot_services():
        assert "healthcheck" not in SERVICES[service]
        return
    check = SERVICES[service].get("healthcheck")
    assert check, f"{service} has no healthcheck"
    assert not check.get("disable", False)
    test = argv(check["test"])
    assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{service}: healthcheck test {test}"


HEALTH_URLS = {"api": "/ready", "signaling": "/signaling/health", "media": "/media/health"}


@pytest.mark.parametrize("service", sorted(HEALTH_URLS))
def test_http_health_checks_hit_the_service_port(service: str) -> None:
    text = " ".join(argv(SERVICES[service]["healthcheck"]["test"]))
    found = re.search(r"http://(?:127\.0\.0\.1|localhost):(\d+)(/[^'\" ]*)", text)
    assert found, f"{service}: no http URL in its healthcheck"
    expected_port = listening_port(service)
    assert (int(found[1]), found[2]) == (expected_port, HEALTH_URLS[service])


def test_mysql_and_redis_health_checks() -> None:
    assert "mysqladmin ping" in " ".join(argv(SERVICES["mysql"]["healthcheck"]["test"]))
    assert argv(SERVICES["redis"]["healthcheck"]["test"])[1:] == ["redis-cli", "ping"]
    assert SERVICES["mysql"]["image"].startswith("mysql:8.4")
    assert any(v.endswith(":/var/lib/mysql") for v in SERVICES["mysql"]["volumes"])


# ---------------------------------------------------------------------------------------------
# Ports and networks


@dataclass(frozen=True)
class Published:
    service: str
    host_ip: str
    host_port: int
    container_port: int
    protocol: str


def _range(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def published_ports() -> list[Published]:
    result = []
    for service, spec in SERVICES.items():
        for entry in spec.get("ports", []):
            if isinstance(entry, dict):
                host_ip, host = str(entry.get("host_ip", "")), str(entry.get("published", ""))
                container, protocol = str(entry["target"]), str(entry.get("protocol", "tcp"))
            else:
                text, _, protocol = str(entry).partition("/")
                protocol = protocol or "tcp"
                parts = text.rsplit(":", 2)
                container = parts[-1]
                host = parts[-2] if len(parts) >= 2 else ""
                host_ip = parts[0] if len(parts) == 3 else ""
            if not host:
                continue  # an ephemeral host port never collides
            hosts, containers = _range(host), _range(container)
            assert len(hosts) == len(containers), f"{service}: {entry} maps ranges of different sizes"
            result += [
                Published(service, host_ip, h, c, protocol) for h, c in zip(hosts, containers, strict=True)
            ]
    return result


def test_published_host_ports_do_not_collide() -> None:
    seen: dict[tuple[str, int], str] = {}
    published = published_ports()
    assert published
    for p in published:
        key = (p.protocol, p.host_port)
        assert key not in seen, f"{p.protocol}/{p.host_port} published by {seen[key]} and {p.service}"
        seen[key] = p.service


def test_only_the_web_front_and_turn_are_published() -> None:
    assert {p.service for p in published_ports()} == {"web", "coturn"}
    for service in ("mysql", "redis"):
        assert SERVICES[service]["networks"] == ["data"], f"{service} must sit on the internal network only"
    assert COMPOSE["networks"]["data"].get("internal") is True


def turn_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in TURN_CONF.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_turn_relay_range_and_listener_match_the_published_ports() -> None:
    conf = turn_settings()
    relay = set(range(int(conf["min-port"][0]), int(conf["max-port"][0]) + 1))
    udp = {p.host_port for p in published_ports() if p.service == "coturn" and p.protocol == "udp"}
    tcp = {p.host_port for p in published_ports() if p.service == "coturn" and p.protocol == "tcp"}
    listen = int(conf.get("listening-port", ["3478"])[0])
    assert listen in udp and listen in tcp
    assert udp - {listen} == relay, "published UDP relay ports differ from min-port..max-port"
    assert "use-auth-secret" in conf and "realm" in conf
    assert "static-auth-secret" not in conf, "the secret belongs in the environment, not the file"
    command = " ".join(argv(SERVICES["coturn"]["command"]))
    assert "--static-auth-secret=${HOSPITAL_TURN_SECRET:?" in command
    assert "/etc/coturn/turnserver.conf" in command
    assert any(
        v.startswith("./docker/turnserver.conf:/etc/coturn/turnserver.conf")
        for v in SERVICES["coturn"]["volumes"]
    )
    denied = " ".join(conf.get("denied-peer-ip", []))
    for private in ("10.0.0.0", "172.16.0.0", "192.168.0.0", "127.0.0.0"):
        assert private in denied, f"TURN could relay into {private}/x"


# ---------------------------------------------------------------------------------------------
# nginx


@dataclass
class Directive:
    name: str
    args: list[str]
    children: list[Directive] = field(default_factory=list)

    def find(self, name: str) -> list[Directive]:
        return [c for c in self.children if c.name == name]

    def walk(self) -> Iterator[Directive]:
        for child in self.children:
            yield child
            yield from child.walk()


TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+""")


def parse_nginx(text: str) -> Directive:
    root = Directive("root", [])
    stack = [root]
    words: list[str] = []
    for token in TOKEN.findall(text):
        if token.startswith("#"):
            continue
        if token == ";":
            stack[-1].children.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block = Directive(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token[1:-1] if token[0] in "\"'" else token)
    assert len(stack) == 1 and not words, "unbalanced braces in nginx config"
    return root


NGINX = parse_nginx(NGINX_CONF.read_text())


def nginx_snippets() -> dict[str, Directive]:
    """Files nginx.conf includes, by their path in the image, parsed from the repository copy."""
    dockerfile = parse_dockerfile(ROOT / "docker" / "web.Dockerfile")
    return {
        copy.dest: parse_nginx((ROOT / copy.sources[0]).read_text())
        for copy in dockerfile.copies
        if copy.from_stage is None and copy.sources[0].startswith("docker/")
    }


def expanded(block: Directive, snippets: dict[str, Directive]) -> list[Directive]:
    out = []
    for child in block.children:
        if child.name == "include":
            assert child.args[0] in snippets, f"include {child.args[0]} is not copied by web.Dockerfile"
            out += snippets[child.args[0]].children
        else:
            out.append(child)
    return out


def server_block() -> Directive:
    servers = NGINX.find("server")
    assert len(servers) == 1
    return servers[0]


def locations() -> dict[str, Directive]:
    return {" ".join(loc.args): loc for loc in server_block().find("location")}


def upstream_targets() -> dict[str, list[tuple[str, int]]]:
    result = {}
    for upstream in NGINX.find("upstream"):
        servers = []
        for server in upstream.find("server"):
            host, _, port = server.args[0].partition(":")
            servers.append((host, int(port or 80)))
        result[upstream.args[0]] = servers
    return result


def proxied_host(location: Directive) -> str:
    passes = location.find("proxy_pass")
    assert len(passes) == 1, f"location {location.args}: expected one proxy_pass"
    target = re.sub(r"^https?://", "", passes[0].args[0]).split("/")[0]
    return target.split(":")[0]


def test_nginx_upstreams_are_compose_services_on_their_ports() -> None:
    upstreams = upstream_targets()
    assert upstreams
    for name, servers in upstreams.items():
        for host, port in servers:
            assert host in SERVICES, f"upstream {name}: {host} is not a compose service"
            assert port == listening_port(host), f"upstream {name}: {host} listens on {listening_port(host)}"
    for location in server_block().walk():
        if location.name == "proxy_pass":
            host = re.sub(r"^https?://", "", location.args[0]).split("/")[0].split(":")[0]
            assert host in upstreams or host in SERVICES, (
                f"proxy_pass to {host}: neither upstream nor service"
            )


ROUTES = {
    "/api/": "api",
    "/fhir": "api",
    "= /health": "api",
    "= /ready": "api",
    "/ws/signaling": "signaling",
    "/ws/": "api",
}


@pytest.mark.parametrize(("location", "service"), ROUTES.items())
def test_nginx_routes(location: str, service: str) -> None:
    found = locations()
    assert location in found, f"nginx.conf has no `location {location}`"
    host = proxied_host(found[location])
    resolved = {h for h, _ in upstream_targets().get(host, [(host, 0)])}
    assert resolved == {service}


def test_nginx_spa_fallback() -> None:
    root = locations()["/"]
    try_files = root.find("try_files")
    assert try_files and try_files[0].args[-1] == "/index.html"
    assert not root.find("proxy_pass")


def test_websocket_locations_forward_the_upgrade() -> None:
    snippets = nginx_snippets()
    server_level = expanded(server_block(), snippets)
    for path in ("/ws/signaling", "/ws/"):
        location = locations()[path]
        own = expanded(location, snippets)
        # proxy_set_header in a location replaces, not extends, the server-level ones.
        headers = own if any(d.name == "proxy_set_header" for d in own) else server_level
        sets = {d.args[0].lower(): d.args[1] for d in headers if d.name == "proxy_set_header"}
        assert sets.get("upgrade") == "$http_upgrade", path
        assert sets.get("connection", "").startswith("$"), path
        versions = [d.args[0] for d in own + server_level if d.name == "proxy_http_version"]
        assert versions and versions[0] == "1.1", path


def test_client_address_cannot_be_spoofed_through_nginx() -> None:
    """uvicorn trusts X-Forwarded-For from any peer here, so nginx must overwrite it."""
    assert option(argv(SERVICES["api"]["command"]), "--forwarded-allow-ips") == "*"
    snippets = nginx_snippets()
    directives = expanded(server_block(), snippets) + [
        d for loc in locations().values() for d in expanded(loc, snippets)
    ]
    xff = [
        d.args[1]
        for d in directives
        if d.name == "proxy_set_header" and d.args[0].lower() == "x-forwarded-for"
    ]
    assert xff and all(value == "$remote_addr" for value in xff)


REQUIRED_HEADERS = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=",
    "x-frame-options": "DENY",
}


def headers_of(directives: list[Directive]) -> dict[str, str]:
    return {d.args[0].lower(): d.args[1] for d in directives if d.name == "add_header"}


def test_security_headers_on_every_response() -> None:
    snippets = nginx_snippets()
    blocks = {"server": server_block(), **{f"location {k}": v for k, v in locations().items()}}
    for name, block in blocks.items():
        own = expanded(block, snippets)
        if name != "server" and not any(d.name == "add_header" for d in own):
            continue  # inherits the server's add_header set unchanged
        headers = headers_of(own)
        for header, needle in REQUIRED_HEADERS.items():
            assert needle in headers.get(header, ""), (
                f"{name}: {header} missing (add_header is not inherited)"
            )
    csp = headers_of(expanded(server_block(), snippets))["content-security-policy"]
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "'unsafe-eval'" not in csp


def test_proxied_responses_carry_each_header_once() -> None:
    """A header nginx adds must be hidden from the upstream's answer, or browsers get it twice."""
    snippets = nginx_snippets()
    server_level = expanded(server_block(), snippets)

    def effective(own: list[Directive], name: str) -> list[Directive]:
        # Array directives are inherited only by blocks that do not set any of their own.
        return [d for d in (own if any(d.name == name for d in own) else server_level) if d.name == name]

    for path, location in locations().items():
        own = expanded(location, snippets)
        if not any(d.name == "proxy_pass" for d in own):
            continue
        added = {d.args[0].lower() for d in effective(own, "add_header")}
        hidden = {d.args[0].lower() for d in effective(own, "proxy_hide_header")}
        assert added <= hidden, f"location {path}: sent twice: {sorted(added - hidden)}"


def test_web_listens_where_compose_publishes_and_checks_health() -> None:
    listen = {int(d.args[0].split(":")[-1]) for d in server_block().find("listen")}
    assert {p.container_port for p in published_ports() if p.service == "web"} == listen
    check = " ".join(argv(SERVICES["web"]["healthcheck"]["test"]))
    found = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*)", check)
    assert found and int(found[1]) in listen
    assert f"= {found[2]}" in locations()


def test_service_keys_are_compose_keys() -> None:
    """Catches typos such as `healthchek` or `depend_on`, which compose would reject at deploy time.

    A subset of the Compose Specification's service keys: extend it when a real key is needed.
    """
    known = {
        "build", "image", "command", "entrypoint", "environment", "env_file", "ports", "expose",
        "volumes", "tmpfs", "networks", "depends_on", "healthcheck", "restart", "init", "user",
        "read_only", "security_opt", "cap_add", "cap_drop", "stop_grace_period", "stop_signal",
        "labels", "logging", "ulimits", "deploy", "cpus", "mem_limit", "pids_limit", "shm_size",
        "sysctls", "extra_hosts", "hostname", "working_dir", "secrets", "configs", "profiles",
        "pull_policy", "platform", "network_mode",
    }  # fmt: skip
    for service, spec in SERVICES.items():
        unknown = set(spec) - known
        assert not unknown, f"{service}: unknown keys {unknown}"
    assert set(COMPOSE) - {"name", "services", "networks", "volumes", "secrets", "configs"} == {
        key for key in COMPOSE if key.startswith("x-")
    }
