#!/usr/bin/env bash
# The quick start: publish hello.tar (a docker-archive of demo/hello:1.0) for the ISV
# "demo" end to end, with no cloud account and no rhc. Layers go to a directory, the
# Crane app is a local bare git repository, and the configuration repository is a local
# git repository. Usage: run.sh [work directory]   (default: a new temporary directory)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
raas="$here/../../bin/raas"
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/raas-quickstart-XXXXXX")}
mkdir -p "$work" && cd "$work"
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-raas quick start} GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-quickstart@localhost}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

mkdir -p storage                                   # the directory store (an S3 bucket elsewhere)
git init -q --bare crane.git                       # stands in for the ISV's Crane app
git init -q config && cp "$here/raas.cfg" config/  # the private configuration repository
git -C config add raas.cfg && git -C config commit -qm "raas.cfg for the quick start"

step raas --config config push demo demo/hello --file hello.tar
"$raas" --config config push demo demo/hello --file "$here/hello.tar"

step "find storage -type f   # the layers, in the original's layout"
find storage -type f | sort
step "git --git-dir crane.git show HEAD:crane/data/demo-demo-hello.json   # what Crane serves"
git --git-dir crane.git show HEAD:crane/data/demo-demo-hello.json
step "git -C config log --stat -1   # the backup and the run's log"
git -C config log --stat -1 | cat
printf '\nEverything is in %s\n' "$work"
