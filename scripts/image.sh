#!/usr/bin/env bash
# `make image`: the operator image, built without a Docker engine or a
# registry, then inspected and run.
#
#   scripts/image.sh          build + check + run
#   scripts/image.sh build    build + check (no container run)
#   scripts/image.sh run      run the last build
#
# What goes in comes from the Dockerfile's runtime stage, read by
# scripts/image-spec.py: the binary at its COPY destination, and the config
# `docker build` would give (distroless/cc-debian12:nonroot's own config
# with the stage's USER/ENV/LABEL/EXPOSE/ENTRYPOINT/CMD on top). Instead of
# the distroless base (no registry is reachable) the root filesystem holds
# exactly what the binary needs from it: the shared libraries `ldd` lists
# (each must come from a Debian package the distroless base is made of, so
# the Dockerfile's image has it too), the CA bundle SSL_CERT_FILE names (the
# binary uses the system's roots), /etc/passwd and /etc/group as distroless
# writes them, and the nonroot home that is the working directory.
#
# Tools (Debian packages, installed when missing): umoci builds the OCI
# layout, skopeo writes the oci-archive and reads it back, crun runs it.
# Output: $CACHE/image/oci (OCI layout) and $CACHE/image/crossdeploy-VERSION.oci.tar.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

OUT="$CACHE/image"
RELEASE_TARGET="${CROSSDEPLOY_RELEASE_TARGET_DIR:-$CACHE/target-release}"
SPEC="$OUT/spec.json"

ensure_tools() {
  local missing=() t
  for t in umoci skopeo crun jq; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]] \
    || die "make image needs ${missing[*]} (Debian: apt-get install umoci skopeo crun jq ca-certificates); install them and run it again"
  echo "image: installing ${missing[*]} from Debian" >&2
  apt-get update -qq >&2 || die "apt-get update failed; install ${missing[*]} by hand"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get could not install ${missing[*]}"
}

spec() { jq -r "$1" "$SPEC"; }

build_binary() {
  echo "image: cargo build --release (target dir $RELEASE_TARGET)" >&2
  CARGO_TARGET_DIR="$RELEASE_TARGET" cargo build --release --locked --bin crossdeploy >&2
  BIN="$RELEASE_TARGET/release/crossdeploy"
}

# The shared libraries the binary loads, with the Debian package of each.
libraries() {
  local out lib pkg
  out="$(ldd "$BIN" 2>&1)" || { [[ $out == *"not a dynamic executable"* ]] && return 0; die "ldd $BIN: $out"; }
  [[ $out != *"not found"* ]] || die "ldd $BIN: a library is missing: $out"
  for lib in $(awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}' <<<"$out"); do
    pkg="$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)" \
      || pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)" \
      || die "$lib belongs to no Debian package"
    jq -e --arg p "$pkg" '.base_packages | index($p)' "$SPEC" >/dev/null \
      || die "$BIN needs $lib from package $pkg, which $(spec .base) does not contain: the Dockerfile's image would not start"
    echo "$lib $pkg"
  done
}

make_rootfs() {
  local fs="$OUT/rootfs" dest lib pkg cert home libs
  rm -rf "$fs" && mkdir -p "$fs/etc"
  dest="$(spec '.copy[0].dest')"
  [[ $(spec '.copy | length') == 1 && $(basename "$(spec '.copy[0].src')") == crossdeploy ]] \
    || die "the Dockerfile must copy exactly the crossdeploy binary from the build stage"
  install -D -m 0755 "$BIN" "$fs$dest"
  libs="$(libraries)"
  while read -r lib pkg; do
    echo "image: $lib (Debian $pkg)" >&2
    install -D -m 0755 "$(readlink -f "$lib")" "$fs$lib"
  done <<<"$libs"
  cert="$(spec '.config.Env[] | select(startswith("SSL_CERT_FILE=")) | sub("^SSL_CERT_FILE="; "")')"
  [[ -n $cert ]] || die "the image config sets no SSL_CERT_FILE, but the binary needs the system's CA bundle"
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$fs$cert"
  spec '.passwd[]' >"$fs/etc/passwd" && spec '.group[]' >"$fs/etc/group"
  chmod 0644 "$fs/etc/passwd" "$fs/etc/group"
  home="$(spec '.config.WorkingDir')"
  install -d -m 0700 -o 65532 -g 65532 "$fs$home"
  # Same content, same layer digest: times fixed to the commit's.
  EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
  CREATED="$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
}

make_image() {
  local layout="$OUT/oci" args=() k
  rm -rf "$layout"
  umoci init --layout "$layout"
  umoci new --image "$layout:$TAG"
  # GNU tar writes the layer (umoci 0.4.7's `insert` leaves out the end-of-archive blocks).
  (cd "$OUT/rootfs" && ls -A) | tar -C "$OUT/rootfs" --sort=name --mtime="@$EPOCH" --numeric-owner \
    --format=gnu -cf "$OUT/layer.tar" -T -
  umoci raw add-layer --image "$layout:$TAG" --history.created "$CREATED" \
    --history.created_by "make image: the Dockerfile's runtime stage (scripts/image.sh)" "$OUT/layer.tar"
  rm -f "$OUT/layer.tar"
  args+=(--config.user "$(spec .config.User)" --config.workingdir "$(spec .config.WorkingDir)")
  while read -r k; do args+=(--config.entrypoint "$k"); done < <(spec '.config.Entrypoint[]')
  while read -r k; do args+=(--config.cmd "$k"); done < <(spec '.config.Cmd[]')
  while read -r k; do args+=(--config.env "$k"); done < <(spec '.config.Env[]')
  while read -r k; do args+=(--config.exposedports "$k"); done < <(spec '.config.ExposedPorts | keys[]')
  while read -r k; do args+=(--config.label "$k"); done < <(spec '.config.Labels | to_entries[] | "\(.key)=\(.value)"')
  umoci config --no-history --image "$layout:$TAG" --created "$CREATED" "${args[@]}"
  umoci gc --layout "$layout"
  rm -f "$ARCHIVE"
  skopeo copy --quiet "oci:$layout:$TAG" "oci-archive:$ARCHIVE:$TAG"
}

# Read the archive back with skopeo (not with what wrote it) and compare the
# config and the file list with what the Dockerfile and ldd say.
check_image() {
  local got want files libs
  libs="$(libraries | cut -d' ' -f1)"
  got="$(skopeo inspect --config "oci-archive:$ARCHIVE:$TAG" | jq -S '.config | {User, WorkingDir, Env, Entrypoint, Cmd, ExposedPorts, Labels}')"
  want="$(jq -S '.config | {User, WorkingDir, Env, Entrypoint, Cmd, ExposedPorts, Labels}' "$SPEC")"
  [[ $got == "$want" ]] || die "image config differs from the Dockerfile's: $(diff <(echo "$want") <(echo "$got"))"
  files="$(layer_listing)"
  want="$( (spec '.copy[0].dest'; echo "$libs"; spec '.config.Env[] | select(startswith("SSL_CERT_FILE=")) | sub("^SSL_CERT_FILE="; "")'; echo /etc/passwd; echo /etc/group) | sort)"
  got="$(awk '$1 !~ /^d/ {print "/" $NF}' <<<"$files" | sed 's#^/\./#/#; s#^//#/#' | sort)"
  [[ $got == "$want" ]] || die "image files differ from the expected ones: $(diff <(echo "$want") <(echo "$got"))"
  echo "== image config (skopeo inspect --config)"
  skopeo inspect --config "oci-archive:$ARCHIVE:$TAG" | jq '{architecture, os, created, config}'
  echo "== layer"
  echo "$files"
  echo "== OK: config and files match the Dockerfile; every library is in $(spec .base)"
}

layer_listing() {
  python3 - "$OUT/oci" "$TAG" <<'PY'
import json, os, sys, tarfile
layout, tag = sys.argv[1:]
blob = lambda d: os.path.join(layout, "blobs", *d.split(":"))
index = json.load(open(os.path.join(layout, "index.json")))
desc = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = json.load(open(blob(desc["digest"])))
for layer in manifest["layers"]:
    with tarfile.open(blob(layer["digest"])) as t:
        for m in t.getmembers():
            kind = "d" if m.isdir() else "l" if m.issym() else "-"
            print(f"{kind}{m.mode:04o} {m.uid}:{m.gid:<5} {m.size:>9} {m.name}")
PY
}

report_size() {
  echo "== size"
  echo "oci-archive $ARCHIVE: $(du -h "$ARCHIVE" | cut -f1) ($(stat -c %s "$ARCHIVE") bytes)"
  echo "uncompressed root filesystem: $(du -sh --apparent-size "$OUT/rootfs" | cut -f1)"
}

# crun from the runtime bundle umoci derives from the image config (user
# 65532:65532, entrypoint, env, cwd), tightened as the manifests run it:
# read-only root filesystem, no capabilities, no new privileges.
run_image() {
  local bundle="$OUT/bundle"
  [[ -f $OUT/oci/index.json ]] || die "no image in $OUT/oci: run scripts/image.sh build first"
  rm -rf "$bundle"
  umoci unpack --image "$OUT/oci:$TAG" "$bundle" >/dev/null
  jq '.root.readonly = true | .process.terminal = false | .process.noNewPrivileges = true
      | .process.capabilities = {}' "$bundle/config.json" >"$bundle/config.tmp"
  mv "$bundle/config.tmp" "$bundle/config.json"
  # A private mount namespace: see run_inside.
  unshare --mount --propagation private bash "$ROOT/scripts/image.sh" run-inside
}

# crun refuses "hybrid" cgroups (v1 controllers plus a v2 hierarchy that
# holds a controller, as on this sandbox's kernel): hide the v2 mount from
# crun in this mount namespace only, and run without cgroups (no resource
# limits; nothing here needs them).
run_inside() {
  local bundle="$OUT/bundle" pid args n=0
  if mountpoint -q /sys/fs/cgroup/unified && grep -q . /sys/fs/cgroup/unified/cgroup.controllers; then
    umount /sys/fs/cgroup/unified
  fi
  echo "== crun create: the container process, stopped before it executes the binary"
  with_args '["--version"]'
  crun --cgroup-manager=disabled create --bundle "$bundle" "cd-image-$$" >"$OUT/version.out" 2>&1
  pid="$(crun state "cd-image-$$" | jq .pid)"
  grep -E '^(Uid|Gid|Groups|CapEff|NoNewPrivs):' "/proc/$pid/status"
  awk '$5 == "/" {print "root filesystem: " $6}' "/proc/$pid/mountinfo"
  crun start "cd-image-$$"
  while [[ $(crun state "cd-image-$$" | jq -r .status) != stopped ]]; do sleep 0.1; done
  crun delete "cd-image-$$"
  echo "== crun run: /crossdeploy --version"
  cat "$OUT/version.out"
  for args in '["crds"]' '["run","--help"]'; do
    with_args "$args"
    echo "== crun run: $(jq -r '.process.args | join(" ")' "$bundle/config.json")"
    if [[ $args == '["crds"]' ]]; then
      crun --cgroup-manager=disabled run --bundle "$bundle" "cd-image-$$-$((n += 1))" >"$OUT/crds.yaml"
      cmp -s "$OUT/crds.yaml" crds/crossdeploy.io.yaml || die "crds from the image differ from crds/crossdeploy.io.yaml"
      echo "($(wc -l <"$OUT/crds.yaml") lines of YAML, identical to crds/crossdeploy.io.yaml; first lines:)"
      head -5 "$OUT/crds.yaml"
    else
      crun --cgroup-manager=disabled run --bundle "$bundle" "cd-image-$$-$((n += 1))"
    fi
  done
}

# The entrypoint with these arguments instead of the image's Cmd.
with_args() {
  local bundle="$OUT/bundle"
  jq --argjson a "$1" '.process.args = .process.args[:1] + $a' "$bundle/config.json" >"$bundle/config.tmp"
  mv "$bundle/config.tmp" "$bundle/config.json"
}

main() {
  local what="${1:-all}"
  ensure_tools
  mkdir -p "$OUT"
  python3 scripts/image-spec.py Dockerfile >"$SPEC"
  VERSION="$(spec '.config.Labels["org.opencontainers.image.version"]')"
  TAG="$VERSION"
  ARCHIVE="$OUT/crossdeploy-$VERSION.oci.tar"
  case "$what" in
    all | build)
      build_binary
      make_rootfs
      make_image
      check_image
      report_size
      [[ $what == build ]] || run_image
      ;;
    run) run_image ;;
    run-inside) run_inside ;;
    *) die "usage: $0 [all|build|run]" ;;
  esac
}

main "$@"
