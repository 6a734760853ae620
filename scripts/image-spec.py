#!/usr/bin/env python3
"""What the Dockerfile's runtime stage declares, as JSON: the one source of
truth that `make image` (scripts/image.sh) builds from and checks against.

The image config is what `docker build` would give: the base image's own
config (distroless publishes it in its Bazel rules, copied in BASES below)
with every instruction of the final stage applied on top. The parser is
strict: an instruction it does not understand is an error, so the Dockerfile
cannot grow something `make image` silently leaves out.

    python3 scripts/image-spec.py [Dockerfile]
"""
import json
import shlex
import sys

# The config and contents of the bases we know, from
# GoogleContainerTools/distroless static/static.bzl, base/config.bzl and
# cc/config.bzl (debian12). `packages` are the Debian packages the base is
# made of: every shared library the binary needs must come from one of them,
# or the Dockerfile's image would not start.
BASES = {
    "gcr.io/distroless/cc-debian12:nonroot": {
        "config": {
            "User": "65532",
            "WorkingDir": "/home/nonroot",
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            ],
        },
        "packages": [
            "base-files", "netbase", "tzdata", "media-types", "ca-certificates",
            "libc6", "libssl3",
            "libgomp1", "libstdc++6", "libgcc-s1", "gcc-12-base",
        ],
        # uid/gid 0, 65534 (nobody) and 65532 (nonroot), as distroless writes them.
        "passwd": [
            "root:x:0:0:root:/root:/sbin/nologin",
            "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin",
            "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin",
        ],
        "group": [
            "root:x:0:",
            "nobody:x:65534:",
            "tty:x:5:",
            "staff:x:50:",
            "nonroot:x:65532:",
        ],
    },
}


def fail(msg):
    sys.exit(f"image-spec: {msg}")


def instructions(text):
    """(KEYWORD, arguments) per instruction, continuations joined."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    if pending:
        fail("the Dockerfile ends inside a continued line")
    return out


def pairs(args, keyword):
    """KEY=VALUE words (LABEL, ENV), shell-quoted."""
    result = []
    for word in shlex.split(args):
        key, eq, value = word.partition("=")
        if not eq:
            fail(f"{keyword} {args!r}: only the KEY=VALUE form is understood")
        result.append((key, value))
    return result


def exec_form(args, keyword):
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        value = None
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        fail(f"{keyword} must use the exec (JSON array) form, got {args!r}")
    return value


def apply(spec, keyword, args):
    config = spec["config"]
    if keyword == "COPY":
        words = args.split()
        if len(words) != 3 or words[0] != "--from=build":
            fail(f"COPY {args!r}: only `COPY --from=build SRC DEST` is understood")
        spec["copy"].append({"from": "build", "src": words[1], "dest": words[2]})
    elif keyword == "USER":
        config["User"] = args
    elif keyword == "WORKDIR":
        config["WorkingDir"] = args
    elif keyword == "EXPOSE":
        for port in args.split():
            config.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
    elif keyword == "ENV":
        env = dict(e.split("=", 1) for e in config.get("Env", []))
        env.update(pairs(args, keyword))
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
    elif keyword == "LABEL":
        config.setdefault("Labels", {}).update(pairs(args, keyword))
    elif keyword == "ENTRYPOINT":
        config["Entrypoint"] = exec_form(args, keyword)
        config.pop("Cmd", None)  # as Docker does: a new entrypoint drops the base's Cmd
    elif keyword == "CMD":
        config["Cmd"] = exec_form(args, keyword)
    else:
        fail(f"{keyword} in the final stage is not understood by scripts/image-spec.py; teach it, "
             "and scripts/image.sh, what it does to the image")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "Dockerfile"
    with open(path, encoding="utf-8") as f:
        steps = instructions(f.read())
    starts = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    if not starts:
        fail(f"{path} has no FROM")
    base = steps[starts[-1]][1].split()[0]
    if base not in BASES:
        fail(f"final stage FROM {base}: known bases are {sorted(BASES)}; add its config to BASES")
    known = BASES[base]
    spec = {
        "base": base,
        "copy": [],
        "config": json.loads(json.dumps(known["config"])),
        "base_packages": known["packages"],
        "passwd": known["passwd"],
        "group": known["group"],
    }
    for keyword, args in steps[starts[-1] + 1:]:
        apply(spec, keyword, args)
    if not spec["copy"]:
        fail("the final stage copies no binary")
    json.dump(spec, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
