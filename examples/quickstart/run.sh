#!/usr/bin/env bash
# The quick start: publish hello.tar (a docker-archive of demo/hello:1.0) for the ISV
# "demo" end to end, with no cloud account and no rhc, then serve it with raas serve, pull
# it and check it. Layers go to a directory, the Crane app is a local bare git repository,
# and the configuration repository is a local git repository. Running it again into the
# same directory pushes and pulls again.
# Usage: run.sh [work directory]   (default: a new temporary directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
raas="$(cd "$here/../.." && pwd)/bin/raas"
client="$here/client.mjs"
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/raas-quickstart-XXXXXX")}
mkdir -p "$work" && cd "$work"
work=$(pwd)
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-raas quick start} GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-quickstart@localhost}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# raas serve listens on a free loopback port. Its URL goes into the published metadata
# (raas.cfg reads it from RAAS_QUICKSTART_PORT), so a second run keeps the first one's port
# while it is free.
if [ -f port ] && node "$client" free "$(cat port)"; then port=$(cat port); else port=$(node "$client" port); echo "$port" > port; fi
export RAAS_QUICKSTART_PORT=$port
registry=http://127.0.0.1:$port

mkdir -p storage                                   # the directory store (an S3 bucket elsewhere)
git init -q --bare crane.git                       # stands in for the ISV's Crane app repository
git init -q config && cp "$here/raas.cfg" config/  # the private configuration repository
git -C config add raas.cfg
git -C config diff --cached --quiet || git -C config commit -qm "raas.cfg for the quick start"

step raas --config config push demo demo/hello --file hello.tar
"$raas" --config config push demo demo/hello --file "$here/hello.tar"

step "raas --config config serve demo --listen 127.0.0.1:$port --poll 1 &   # the registry"
"$raas" --config config serve demo --listen "127.0.0.1:$port" --poll 1 >serve.out 2>serve.log &
serve=$!
stop() {
  kill -TERM "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
}
trap stop EXIT
node "$client" wait "$registry" "$(git --git-dir crane.git rev-parse HEAD)"
cat serve.out

rm -rf pulled
pulled="(skopeo not installed: nothing kept)"
if command -v skopeo >/dev/null; then
  # --insecure-policy: a fresh machine may have no /etc/containers/policy.json; the copy
  # still checks every blob's digest.
  step "skopeo copy --src-tls-verify=false docker://127.0.0.1:$port/demo/hello:1.0 oci:pulled:1.0   # a pull"
  skopeo copy --quiet --insecure-policy --src-tls-verify=false "docker://127.0.0.1:$port/demo/hello:1.0" oci:pulled:1.0
  echo "pulled demo/hello:1.0 into $work/pulled (an OCI layout), every digest checked by skopeo"
  pulled="the pulled image (skopeo)"
else
  step "node client.mjs pull $registry demo/hello 1.0   # a pull, as a client does (skopeo is not on PATH)"
  node "$client" pull "$registry" demo/hello 1.0
fi

step "raas --config config status demo   # everything checked, the registry too"
"$raas" --config config status demo

stop
trap - EXIT
step "find storage -type f ! -name '.*'   # the layers, in the original's layout and the Docker v2 layout"
find storage -type f ! -name '.*' | sort
step "git --git-dir crane.git show HEAD:crane/data/demo-demo-hello.json   # what the registry serves"
git --git-dir crane.git show HEAD:crane/data/demo-demo-hello.json
step "git -C config log --stat -1   # the backup and the runs' logs"
git -C config log --stat -1 | cat
cat <<EOF

Everything is in $work:
  storage/      the store (storage_dir)          crane.git/  the Crane app repository (app_remote)
  config/       the configuration repository     pulled/     $pulled
  serve.log     raas serve's log                 port        the port raas serve listened on
raas serve has stopped. Serve the image again with:
  cd $work && RAAS_QUICKSTART_PORT=$port $raas --config config serve demo --listen 127.0.0.1:$port
EOF
