"""A miniature FOMM configuration shared by the FOMM tests (random weights, 3 keypoints)."""

MINI = {
    "common_params": {"num_kp": 3, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {"temperature": 0.1, "block_expansion": 4, "max_features": 8, "scale_factor": 0.25, "num_blocks": 2},
    "generator_params": {"block_expansion": 4, "max_features": 8, "num_down_blocks": 2, "num_bottleneck_blocks": 1,
                         "estimate_occlusion_map": True,
                         "dense_motion_params": {"block_expansion": 4, "max_features": 8, "num_blocks": 2, "scale_factor": 0.25}},
}


def mini_backbone(seed: int = 7):
    """A FOMMBackbone on the miniature config with Kaiming weights (as the golden case), so every
    path carries signal, and non-identity but invertible Jacobians."""
    import torch

    from magplus.backbones.fomm import FOMMBackbone
    from magplus.backbones.fomm.config import build_modules

    kp_detector, generator = build_modules(MINI)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in list(kp_detector.modules()) + list(generator.modules()):
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
        kp_detector.kp.weight.mul_(0.25)
        kp_detector.jacobian.weight.mul_(0.02)
    return FOMMBackbone.from_state_dicts(generator.state_dict(), kp_detector.state_dict(), config=MINI, batch_size=2)
