#!/usr/bin/env bash
# make-models.sh — prepares the demo models in models/ (git-ignored):
#   models/ResNet50/model + params   the seed's combined layout
# From the real Paddle ResNet50 in ../shared/fixtures when present (the
# tensors missing from it are filled by `kiln model fill`, a documented
# seeded recipe, see docs/MODELS.md); otherwise a complete ResNet50 with
# seeded weights from `kiln model generate`. Does nothing if already there.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-build/bin/kiln}
FIXTURES=${KILN_FIXTURES:-../shared/fixtures}

if [ -f models/ResNet50/model ] && [ -f models/ResNet50/params ]; then
  echo "make-models: models/ResNet50 already present"
  exit 0
fi
mkdir -p models
rm -rf models/ResNet50.tmp
if [ -f "$FIXTURES/paddle/resnet50_fp32_224/__model__" ]; then
  echo "make-models: filling the real Paddle ResNet50 from $FIXTURES (seed 1)"
  "$KILN" model fill "$FIXTURES/paddle/resnet50_fp32_224" --output_dir=models/ResNet50.tmp --seed=1
else
  echo "make-models: no fixtures at $FIXTURES: generating a ResNet50 with seeded weights (seed 1)"
  "$KILN" model generate --arch=resnet50 --output_dir=models/ResNet50.tmp --seed=1
fi
mv models/ResNet50.tmp models/ResNet50
echo "make-models: models/ResNet50/model + params ready"
