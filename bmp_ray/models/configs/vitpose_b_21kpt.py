# MaskPose-B and ViTPose-B multi-dataset: ViT-B (mmpretrain) + heatmap head with 21 keypoints, UDP
# codec with DARK-UDP decoding, flip test. Written for mmpose 1.3 / mmpretrain 1.2 (inference and
# fine-tuning); the same architecture as mmpose's td-hm_ViTPose-base_8xb64-210e_coco-256x192.
default_scope = "mmpose"
custom_imports = dict(imports=["mmpretrain.models"], allow_failed_imports=False)
dataset_info_file = "{{ fileDirname }}/bmp_21kpt.py"

codec = dict(type="UDPHeatmap", input_size=(192, 256), heatmap_size=(48, 64), sigma=2, blur_kernel_size=11)
bbox_padding = 1.25

model = dict(
    type="TopdownPoseEstimator",
    data_preprocessor=dict(
        type="PoseDataPreprocessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True
    ),
    backbone=dict(
        type="mmpretrain.VisionTransformer",
        arch="base",
        img_size=(256, 192),
        patch_size=16,
        qkv_bias=True,
        drop_path_rate=0.3,
        with_cls_token=False,
        out_type="featmap",
        patch_cfg=dict(padding=2),
    ),
    head=dict(
        type="HeatmapHead",
        in_channels=768,
        out_channels=21,
        deconv_out_channels=(256, 256),
        deconv_kernel_sizes=(4, 4),
        loss=dict(type="KeypointMSELoss", use_target_weight=True),
        decoder=codec,
    ),
    test_cfg=dict(flip_test=True, flip_mode="heatmap", shift_heatmap=False),
)

test_pipeline = [
    dict(type="LoadImage"),
    dict(type="GetBBoxCenterScale", padding=bbox_padding),
    dict(type="TopdownAffine", input_size=codec["input_size"], use_udp=True),
    dict(type="PackPoseInputs"),
]
train_pipeline = [
    dict(type="LoadImage"),
    dict(type="GetBBoxCenterScale", padding=bbox_padding),
    dict(type="RandomFlip", direction="horizontal"),
    dict(type="RandomHalfBody"),
    dict(type="RandomBBoxTransform"),
    dict(type="TopdownAffine", input_size=codec["input_size"], use_udp=True),
    dict(type="GenerateTarget", encoder=codec),
    dict(type="PackPoseInputs"),
]
# the dataset entries say which keypoints exist (dataset_meta_from_config reads them)
train_dataloader = dict(
    dataset=dict(
        type="CocoDataset", data_mode="topdown", metainfo=dict(from_file=dataset_info_file), pipeline=train_pipeline
    )
)
test_dataloader = dict(
    dataset=dict(
        type="CocoDataset", data_mode="topdown", metainfo=dict(from_file=dataset_info_file), pipeline=test_pipeline
    )
)
val_dataloader = test_dataloader
