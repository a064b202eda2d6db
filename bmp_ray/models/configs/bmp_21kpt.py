# mmpose dataset info of the 21 keypoints that MaskPose and ViTPose-multi predict: the 17 COCO
# keypoints in COCO order, then thorax, upper neck, head top and pelvis (from MPII / AI Challenger).
# The BMP loop uses the first 17 (COCO sigmas); the last four sigmas are ours (evaluation only).
_coco = [
    ('nose', ''), ('left_eye', 'right_eye'), ('right_eye', 'left_eye'), ('left_ear', 'right_ear'),
    ('right_ear', 'left_ear'), ('left_shoulder', 'right_shoulder'), ('right_shoulder', 'left_shoulder'),
    ('left_elbow', 'right_elbow'), ('right_elbow', 'left_elbow'), ('left_wrist', 'right_wrist'),
    ('right_wrist', 'left_wrist'), ('left_hip', 'right_hip'), ('right_hip', 'left_hip'),
    ('left_knee', 'right_knee'), ('right_knee', 'left_knee'), ('left_ankle', 'right_ankle'),
    ('right_ankle', 'left_ankle'), ('thorax', ''), ('upper_neck', ''), ('head_top', ''), ('pelvis', ''),
]
dataset_info = dict(
    dataset_name='bmp_21kpt',
    paper_info=dict(
        author='Purkrabek, Miroslav and Matas, Jiri',
        title='Detection, Pose Estimation and Segmentation for Multiple Bodies: '
        'Closing the Virtuous Circle',
        container='ICCV',
        year='2025',
        homepage='https://arxiv.org/abs/2412.01562',
    ),
    keypoint_info={
        i: dict(name=name, id=i, color=[51, 153, 255], type='upper' if i < 11 or i in (17, 18, 19)
                else 'lower', swap=swap)
        for i, (name, swap) in enumerate(_coco)
    },
    skeleton_info={
        i: dict(link=link, id=i, color=[0, 255, 0])
        for i, link in enumerate([
            ('left_ankle', 'left_knee'), ('left_knee', 'left_hip'), ('right_ankle', 'right_knee'),
            ('right_knee', 'right_hip'), ('left_hip', 'right_hip'), ('left_shoulder', 'left_hip'),
            ('right_shoulder', 'right_hip'), ('left_shoulder', 'right_shoulder'),
            ('left_shoulder', 'left_elbow'), ('right_shoulder', 'right_elbow'),
            ('left_elbow', 'left_wrist'), ('right_elbow', 'right_wrist'), ('left_eye', 'right_eye'),
            ('nose', 'left_eye'), ('nose', 'right_eye'), ('left_eye', 'left_ear'),
            ('right_eye', 'right_ear'), ('thorax', 'upper_neck'), ('upper_neck', 'head_top'),
            ('thorax', 'pelvis'),
        ])
    },
    joint_weights=[1., 1., 1., 1., 1., 1., 1., 1.2, 1.2, 1.5, 1.5, 1., 1., 1.2, 1.2, 1.5, 1.5,
                   1., 1., 1., 1.],
    sigmas=[0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107,
            0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079, 0.035, 0.107],
)
