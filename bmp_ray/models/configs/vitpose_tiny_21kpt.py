# Test variant of vitpose_b_21kpt.py: a narrow, shallow ViT (64 channels, 2 layers) with the same
# 21-keypoint heatmap head, input, codec and flip test. Same code paths, random weights only.
_base_ = "./vitpose_b_21kpt.py"
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128), drop_path_rate=0.0
    ),
    head=dict(in_channels=64),
)
