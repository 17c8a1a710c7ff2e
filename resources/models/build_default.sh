#!/usr/bin/env bash
# Rebuild default.safetensors from the shared data: train the staged recipe (shape
# autoencoder, latent GAN, image head; each stage resumable), train three more image heads
# on the same autoencoder, each from other jittered views per shape (6, 12 and 16, with
# their own seeds), and join the four as an averaged ensemble (the bundled model before
# these). Then fine-tune each of those heads with its own copy of the backbone, every layer
# (--head-finetune-steps: a GPU's work, about 5 minutes each on an H200), and join the
# four, each reading its own backbone; measure the result as shipped (int8
# weight matrices) on the held-out validation split with gan3d eval, then pack it with
# the eval results in its model card. Run from the project root with ../shared beside it.
#
#   resources/models/build_default.sh [RUN_DIR]      (Ctrl-C saves; run it again to resume)
set -euo pipefail

RUN=${1:-runs/default32}
DATA=../shared/data/modelnet10/modelnet10_train_32.npz
RECIPE=modelnet10-lgan-32
EVAL=$RUN/eval
mkdir -p "$EVAL"

train() {  # train RUN_DIR SETTINGS...: start the recipe in RUN_DIR, or resume it there
    local run=$1
    shift
    if [ -f "$run/config.json" ]; then
        gan3d train -o "$run" --resume
    else
        gan3d train --recipe "$RECIPE" -o "$run" "$@"
    fi
}
train "$RUN"
HEADS=()
for head in "2 3 12" "3 1 6" "4 5 16"; do  # run suffix, seed, rendered views per shape
    read -r number seed views <<< "$head"
    train "$RUN-head$number" --init-from "$RUN/model.safetensors" --autoencoder-steps 0 \
        --latent-gan-steps 0 --seed "$seed" --rendered-views "$views"
    HEADS+=("$RUN-head$number/model.safetensors")
done

FROZEN=$RUN/frozen_heads.safetensors  # the four heads on the frozen ImageNet backbone
gan3d pack "$RUN/model.safetensors" --add-heads "${HEADS[@]}" -o "$FROZEN"
TUNED=()
# which of the four heads, seed of its views, then the fine-tuning's regularisers: two with
# stochastic depth, label smoothing and wider reframing (1,350 steps each on the GPU, four
# runs sharing it), two without (2,000 steps)
REGULARISED="--head-finetune-steps 1350 --head-finetune-jitter 0.05 --head-finetune-drop-path 0.2 --head-finetune-label-smoothing 0.1"
for tuned in "0 10 $REGULARISED" "3 11 $REGULARISED" "1 2 --head-finetune-steps 2000" \
    "2 3 --head-finetune-steps 2000"; do
    read -r member seed settings <<< "$tuned"
    # shellcheck disable=SC2086  # the settings are words
    train "$RUN-tuned$member" --init-from "$FROZEN" --autoencoder-steps 0 --latent-gan-steps 0 \
        --head-steps 0 --head-finetune-member "$member" --seed "$seed" --rendered-views 4 \
        --head-shape-views 4 $settings
    TUNED+=("$RUN-tuned$member/model.safetensors")
done

# measured as shipped: the four fine-tuned heads with int8 weight matrices, each view also
# read moved by 2.7 % of its side four ways, then the shape fitted to the photos'
# silhouettes for 15 steps from the heads' prediction
CKPT=$RUN/ensemble.safetensors
gan3d pack "${TUNED[0]}" --add-heads "${TUNED[@]:1}" --int8 --framing-shift 0.027 \
    --refine-steps 15 --retrieval-candidates 0 -o "$CKPT"
measure() {  # measure NAME ARGS...: one gan3d eval on the validation split, as JSON
    local name=$1
    shift
    gan3d eval "$CKPT" --data "$DATA" --subset validation --json "$@" > "$EVAL/$name.json"
    echo "$EVAL/$name.json"
}
measure recon_1view_auto --task recon --views 1 --labels auto
measure recon_1view_given --task recon --views 1 --labels given
measure recon_5view_auto --task recon --views 5 --pool mean --labels auto
measure gen --task gen
measure classify --task classify --train "$DATA"
# with other fitting budgets (none, shorter, longer), for comparison
measure recon_1view_auto_refine0 --task recon --views 1 --labels auto --refine 0
measure recon_1view_auto_refine10 --task recon --views 1 --labels auto --refine 10
measure recon_1view_auto_refine30 --task recon --views 1 --labels auto --refine 30
# shapes in, shapes out: the shape encoder with its latent fitted to the shape, and alone
measure autoencode --task autoencode
measure autoencode_refine0 --task autoencode --refine 0
python docs/eval_shapenet.py "$CKPT" --json > "$EVAL/shapenet_chairs_recon_1view_auto.json"
python docs/eval_shapenet.py "$CKPT" --task autoencode --json > "$EVAL/shapenet_chairs_autoencode.json"

gan3d pack "$CKPT" -o resources/models/default.safetensors --int8 \
    --name "ModelNet10 staged model (shape autoencoder, latent GAN, four fine-tuned image heads), 32^3" \
    --recipe "$RECIPE" --metrics "$EVAL"/*.json
