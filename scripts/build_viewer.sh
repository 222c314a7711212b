#!/usr/bin/env bash
# Rebuilds the browser viewer's JavaScript bundle (bcl_core/clinic/viewer_assets/bcl_viewer.js) from
# viewer_frontend/ with the npm versions pinned in viewer_frontend/package-lock.json
# (@niivue/niivue, esbuild). Only needed after changing viewer_frontend/ or upgrading NiiVue:
# the built bundle is committed, so users and CI never need node.
#
#   bash scripts/build_viewer.sh            # npm ci + build
#   bash scripts/build_viewer.sh --upgrade  # npm install @niivue/niivue@latest first (review the diff)
set -euo pipefail
cd "$(dirname "$0")/../viewer_frontend"
if [[ "${1:-}" == "--upgrade" ]]; then
  npm install --save-exact @niivue/niivue@latest
else
  npm ci
fi
npm run build
node -e 'const l=require("./package-lock.json"); for (const p of ["@niivue/niivue","esbuild"]) console.log(p, l.packages["node_modules/"+p].version)'
ls -l ../bcl_core/clinic/viewer_assets/bcl_viewer.js
