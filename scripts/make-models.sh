#!/usr/bin/env bash
# make-models.sh — prepares the demo models in models/ (git-ignored):
#   models/ResNet50/model + params         the seed's combined layout
#   models/ResNet50_quant/model + params   the INT8 fake-quant fixture, same layout
# From the real Paddle ResNet50 in ../shared/fixtures when present (the
# tensors missing from it are filled by `kiln model fill`, a documented
# seeded recipe, see docs/MODELS.md); otherwise a complete ResNet50 with
# seeded weights from `kiln model generate`. Does nothing if already there.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-build/bin/kiln}
FIXTURES=${KILN_FIXTURES:-../shared/fixtures}

mkdir -p models
if [ -f models/ResNet50/model ] && [ -f models/ResNet50/params ]; then
  echo "make-models: models/ResNet50 already present"
else
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
fi

# The INT8 (fake-quant) fixture in the seed's layout: its missing weights are the
# filled FP32 weights, BN-folded and quantized with the program's own scales.
if [ -f models/ResNet50_quant/model ] && [ -f models/ResNet50_quant/params ]; then
  echo "make-models: models/ResNet50_quant already present"
elif [ -f "$FIXTURES/paddle/resnet50_int8_224_per_layer/__model__" ]; then
  rm -rf models/ResNet50_quant.tmp
  "$KILN" model fill "$FIXTURES/paddle/resnet50_int8_224_per_layer" --reference=models/ResNet50 \
    --output_dir=models/ResNet50_quant.tmp --seed=1 >/dev/null
  mv models/ResNet50_quant.tmp models/ResNet50_quant
  echo "make-models: models/ResNet50_quant/model + params ready (the INT8 fake-quant fixture)"
else
  echo "make-models: no INT8 fixture at $FIXTURES: models/ResNet50_quant not made"
fi
