#!/bin/sh
# Test setup for kiln-kube's registry tests: a real OCI registry (Debian's `docker-registry`
# package, the CNCF distribution registry) on 127.0.0.1 with its storage in a temporary
# directory.
#
#   registry.sh DIR
#
# installs the package when it is missing (apt-get; CI runs as root on Debian), writes
# DIR/config.yml (storage DIR/storage, listening on 127.0.0.1 port 0, so the kernel picks a
# free port) and then becomes the registry process (exec), so the test that started it stops
# it by killing this process. The registry logs "listening on 127.0.0.1:PORT".
set -eu

dir=${1:?usage: registry.sh DIR}
bin=/usr/bin/docker-registry

if [ ! -x "$bin" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "registry.sh: $bin is missing and installing it needs root (apt-get install docker-registry)" >&2
        exit 3
    fi
    export DEBIAN_FRONTEND=noninteractive
    # The package's service is not wanted: forbid starting it during installation.
    policy=/usr/sbin/policy-rc.d
    created_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
    fi
    if ! apt-get install -y -q --no-install-recommends docker-registry >&2; then
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends docker-registry >&2
    fi
    [ -n "$created_policy" ] && rm -f "$policy"
fi

mkdir -p "$dir/storage"
cat > "$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
CONFIG

exec "$bin" serve "$dir/config.yml"
