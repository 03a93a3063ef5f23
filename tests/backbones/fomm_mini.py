"""A miniature FOMM configuration shared by the FOMM tests (random weights, 3 keypoints)."""

MINI = {
    "common_params": {"num_kp": 3, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {"temperature": 0.1, "block_expansion": 4, "max_features": 8, "scale_factor": 0.25, "num_blocks": 2},
    "generator_params": {"block_expansion": 4, "max_features": 8, "num_down_blocks": 2, "num_bottleneck_blocks": 1,
                         "estimate_occlusion_map": True,
                         "dense_motion_params": {"block_expansion": 4, "max_features": 8, "num_blocks": 2, "scale_factor": 0.25}},
}
