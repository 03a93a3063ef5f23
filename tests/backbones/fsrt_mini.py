"""A miniature FSRT with random weights, for the FSRT tests that need no official numbers.

Loading, conversion, chunking, precision and reference-frame tests only need a model whose every
path carries signal; they must not depend on the golden files.
"""

from __future__ import annotations

import torch

from magplus.backbones.fsrt import FSRTConfig, FSRTModel

#: Same structure as the published model (every module and key present), a few thousand times smaller.
MINI = FSRTConfig(
    num_kp=5, kp_block_expansion=4, kp_max_features=16, kp_num_blocks=3, pix_octaves=4, kp_octaves=2,
    num_conv_blocks=2, enc_att_blocks=1, enc_conv_hidden=8, token_dim=32, enc_heads=2, enc_dim_head=8,
    enc_mlp_dim=32, dec_att_blocks=1, dec_input_mlp_hidden=24, dec_heads=2, dec_render_hidden=32,
    expression_size=10, expression_size_per_kp=2, expr_mlp_hidden1=16, expr_mlp_hidden2=16, expr_mlp_hidden3=16)

#: Images of the miniature tests: 32 x 32 (the keypoint detector needs a multiple of 8 after its /4).
SIZE = 32


def mini_states(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """``(kp_state, vox_state)`` of a random miniature, in the published checkpoint layout.

    Linear and conv weights are Kaiming-normal (N(0, 2 / fan_in)) so that no path is negligible;
    the keypoint head is scaled down so the heatmap softmax (temperature 0.1) is neither one-hot
    nor flat (keypoints spread to about +-0.5), and the last render layer so the raw RGB lies mostly
    inside [0, 1] (the backbone clamps; saturated pixels would hide differences).
    """
    torch.manual_seed(seed)
    model = FSRTModel(MINI)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
        model.kp_detector.kp.weight.mul_(0.3)
        render = model.decoder.render_mlp[-1]
        render.weight.mul_(0.04)
        render.bias.fill_(0.25)
    kp_state = {k: v.clone() for k, v in model.kp_detector.state_dict().items()}
    vox_state = {name: {k: v.clone() for k, v in getattr(model, name).state_dict().items()}
                 for name in ("encoder", "decoder", "expression_encoder")}
    return kp_state, vox_state


def mini_frames(count: int, seed: int = 0) -> torch.Tensor:
    """``count`` smooth random RGB frames ``(count, 3, SIZE, SIZE)`` in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 4, 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear").clamp(0, 1)
