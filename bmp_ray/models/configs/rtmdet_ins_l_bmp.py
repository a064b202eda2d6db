# RTMDet-Ins-L as BMP runs it: mmdet's rtmdet-ins_l_8xb32-300e_coco architecture (80 COCO classes,
# person = label 0) with the BMP test settings: score_thr 0.05, NMS IoU 0.6, at most 40 instances per
# image, mask threshold 0.5; input letterboxed to 640x640, pad value 114, BGR. Written for mmdet 3.3.
# train_pipeline: fine-tuning with people masked out (bmp_ray/train/det_data.py says why each step).
default_scope = "mmdet"
custom_imports = dict(imports=["bmp_ray.train.det_data"], allow_failed_imports=False)  # MaskOutPeople
img_scale = (640, 640)
pad_value = 114

model = dict(
    type="RTMDet",
    data_preprocessor=dict(
        type="DetDataPreprocessor",
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        batch_augments=None,
    ),
    backbone=dict(
        type="CSPNeXt",
        arch="P5",
        expand_ratio=0.5,
        deepen_factor=1,
        widen_factor=1,
        channel_attention=True,
        norm_cfg=dict(type="SyncBN"),
        act_cfg=dict(type="SiLU", inplace=True),
    ),
    neck=dict(
        type="CSPNeXtPAFPN",
        in_channels=[256, 512, 1024],
        out_channels=256,
        num_csp_blocks=3,
        expand_ratio=0.5,
        norm_cfg=dict(type="SyncBN"),
        act_cfg=dict(type="SiLU", inplace=True),
    ),
    bbox_head=dict(
        type="RTMDetInsSepBNHead",
        num_classes=80,
        in_channels=256,
        stacked_convs=2,
        share_conv=True,
        pred_kernel_size=1,
        feat_channels=256,
        act_cfg=dict(type="SiLU", inplace=True),
        norm_cfg=dict(type="SyncBN", requires_grad=True),
        anchor_generator=dict(type="MlvlPointGenerator", offset=0, strides=[8, 16, 32]),
        bbox_coder=dict(type="DistancePointBBoxCoder"),
        loss_cls=dict(type="QualityFocalLoss", use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_bbox=dict(type="GIoULoss", loss_weight=2.0),
        loss_mask=dict(type="DiceLoss", loss_weight=2.0, eps=5e-6, reduction="mean"),
    ),
    train_cfg=dict(
        assigner=dict(type="DynamicSoftLabelAssigner", topk=13), allowed_border=-1, pos_weight=-1, debug=False
    ),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type="nms", iou_threshold=0.6),
        max_per_img=40,
        mask_thr_binary=0.5,
    ),
)

test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="Pad", size=img_scale, pad_val=dict(img=(pad_value, pad_value, pad_value))),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True, poly2mask=True),
    dict(type="MaskOutPeople", p_none=0.25, p_all=0.05, covered=0.7),
    dict(type="RandomResize", scale=img_scale, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=img_scale, recompute_bbox=True, allow_negative_crop=True),
    dict(type="FilterAnnotations", min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type="YOLOXHSVRandomAug"),
    dict(type="RandomFlip", prob=0.5),
    dict(type="Pad", size=img_scale, pad_val=dict(img=(pad_value, pad_value, pad_value))),
    dict(type="PackDetInputs"),
]
test_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type="CocoDataset", data_root="", ann_file="", data_prefix=dict(img=""), test_mode=True, pipeline=test_pipeline
    ),
)
val_dataloader = test_dataloader
