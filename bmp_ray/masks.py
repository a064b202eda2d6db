"""Instance masks as COCO run-length encodings (pycocotools), the only form masks travel in.

A mask is stored as the ``counts`` bytes of COCO's compressed RLE, column-major, for a frame of
``(height, width)``. pycocotools decodes it; so does any COCO tool given ``{"size": [h, w], "counts": ...}``.
``encode_window(s)`` encodes a mask from its window and ``rle_window`` decodes one into its window, without
the full frame; ``paint_black`` paints a mask's pixels black in an image (BMP's mask-out). Inside the
pipeline, between its stages, the BMP loop's window masks travel as their run lengths along the rows
(``to_runs``, ``from_runs``): as small as COCO RLE, cheaper both ways.
A mask known only inside a window of the frame is encoded from the window (``encode_window``), and one known
by where its pixels change value (``from_changes``) from those positions: both give ``encode``'s bytes of the
full frame without building it.
"""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as _coco

from bmp_ray.boxes import xywh_to_xyxy


def encode(masks: np.ndarray) -> list[bytes]:
    """Encode binary masks.

    Args:
        masks: (N, H, W) or (H, W), bool or uint8 (non-zero is inside), frame pixels.

    Returns:
        N compressed RLE ``counts`` (bytes).
    """
    m = np.asarray(masks)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"masks must be (N, H, W) or (H, W), got shape {m.shape}")
    if m.shape[0] == 0:
        return []
    rles = _coco.encode(np.asfortranarray(np.moveaxis(m != 0, 0, -1).astype(np.uint8)))
    return [r["counts"] for r in rles]


def _rles(counts, height: int, width: int) -> list[dict]:
    return [
        {"size": [int(height), int(width)], "counts": c if isinstance(c, bytes) else str(c).encode()} for c in counts
    ]


def decode(counts, height: int, width: int) -> np.ndarray:
    """Decode RLE ``counts`` to an (N, H, W) bool array (N may be 0)."""
    counts = list(counts)
    if not counts:
        return np.zeros((0, int(height), int(width)), bool)
    return np.moveaxis(_coco.decode(_rles(counts, height, width)), -1, 0).astype(bool)


def from_changes(changes, height: int, width: int) -> bytes:
    """RLE ``counts`` of a frame mask given where its column-major pixel sequence changes value.

    Args:
        changes: (M,) increasing ints in [0, height * width), the flat column-major positions whose pixel
            differs from the one before it (position 0 counts as a change when it is inside).

    Returns:
        the same bytes as ``encode`` of the full (height, width) mask.
    """
    h, w = int(height), int(width)
    c = np.asarray(changes, np.int64).reshape(-1)
    if c.size and (c[0] < 0 or c[-1] >= h * w or np.any(c[1:] <= c[:-1])):
        raise ValueError(f"from_changes: expected increasing positions in [0, {h * w}), got {c[:8]}...")
    return _compressed([c], h, w)[0]


def _compressed(changes: list[np.ndarray], height: int, width: int) -> list[bytes]:
    """COCO RLE ``counts`` of each mask given by its ``from_changes`` positions, in one pycocotools call."""
    h, w = int(height), int(width)
    # run lengths, zeros first (a leading 0 when pixel 0 is in)
    rles = [{"size": [h, w], "counts": np.diff(c, prepend=0, append=h * w).astype(np.uint32)} for c in changes]
    return [r["counts"] for r in _coco.frPyObjects(rles, h, w)] if rles else []


def window_changes(mask: np.ndarray, window, height: int, width: int) -> np.ndarray:
    """The ``from_changes`` positions of a frame that is zero outside ``window`` and ``mask`` inside it.

    Args:
        mask: (y1 - y0, x1 - x0) bool, the pixels of the window.
        window: (y0, y1, x0, x1) ints, 0 <= y0 <= y1 <= height, 0 <= x0 <= x1 <= width.
        height, width: frame size.

    Returns:
        (M,) int64 increasing flat column-major positions.
    """
    y0, y1, x0, x1 = (int(v) for v in window)
    h, w = int(height), int(width)
    m = np.asarray(mask)
    if not (0 <= y0 <= y1 <= h and 0 <= x0 <= x1 <= w):
        raise ValueError(f"window: expected (y0, y1, x0, x1) inside a {h}x{w} frame, got {tuple(window)}")
    if m.shape != (y1 - y0, x1 - x0):
        raise ValueError(f"window mask: expected shape {(y1 - y0, x1 - x0)} for window {tuple(window)}, got {m.shape}")
    mw = x1 - x0
    padded = np.zeros((y1 - y0 + 2, mw), bool)  # a zero row above and below the window
    padded[1:-1] = m != 0
    flat = np.flatnonzero(padded[1:] != padded[:-1])  # row r: a change between padded rows r and r + 1
    row = flat // max(mw, 1)
    col = flat - row * mw
    by_col = np.argsort(col.astype(np.uint16) if mw < 2**16 else col, kind="stable")  # radix sort
    pos = ((x0 + col) * h + y0 + row)[by_col]  # column-major order
    if y0 == 0 and y1 == h and pos.size:  # a column ending inside, the next starting inside: no change
        same = pos[1:] == pos[:-1]
        if same.any():
            keep = np.ones(pos.size, bool)
            keep[:-1] &= ~same
            keep[1:] &= ~same
            pos = pos[keep]
    return pos[pos < h * w]


def encode_window(mask: np.ndarray, window, height: int, width: int) -> bytes:
    """RLE ``counts`` of the (height, width) frame mask that is ``mask`` inside ``window``, zero elsewhere,
    bit-identical to ``encode`` of that full frame, without building it (work grows with the window).

    Args:
        mask: (y1 - y0, x1 - x0) bool or uint8 (non-zero is inside).
        window: (y0, y1, x0, x1), the window's rows and columns in the frame.
        height, width: frame size.
    """
    return from_changes(window_changes(mask, window, height, width), height, width)


def encode_windows(masks, windows, height: int, width: int) -> list[bytes]:
    """``encode_window`` of each (mask, window) pair of one frame, compressed in one pycocotools call."""
    masks, windows = list(masks), list(windows)
    if len(masks) != len(windows):
        raise ValueError(
            f"encode_windows: expected one window per mask, got {len(masks)} masks and {len(windows)} windows"
        )
    return _compressed([window_changes(m, win, height, width) for m, win in zip(masks, windows)], height, width)


def encode_padded(masks: np.ndarray, height: int, width: int) -> list[bytes]:
    """``encode`` of masks zero-padded to (height, width), each encoded from the window of its rows and
    columns that hold a pixel (``encode_windows``): the work grows with the masks' extent, not the frame.

    Args:
        masks: (N, h, w) bool or uint8 (non-zero is inside), h <= height, w <= width.
    """
    m = np.asarray(masks)
    if m.ndim != 3 or m.shape[1] > int(height) or m.shape[2] > int(width):
        raise ValueError(f"encode_padded: expected (N, h <= {height}, w <= {width}) masks, got shape {m.shape}")
    if m.dtype != bool:
        m = m != 0
    windows, inside = [], []
    for one, rows in zip(m, m.any(2)):
        r = np.flatnonzero(rows)
        if r.size == 0:
            windows.append((0, 0, 0, 0))
            inside.append(one[:0, :0])
            continue
        y0, y1 = int(r[0]), int(r[-1]) + 1
        c = np.flatnonzero(one[y0:y1].any(0))
        x0, x1 = int(c[0]), int(c[-1]) + 1
        windows.append((y0, y1, x0, x1))
        inside.append(one[y0:y1, x0:x1])
    return encode_windows(inside, windows, height, width)


def to_bbox(counts, height: int, width: int) -> np.ndarray:
    """(N, 4) float32 tight boxes, xyxy in frame pixels, without decoding (zeros for empty masks)."""
    counts = list(counts)
    if not counts:
        return np.zeros((0, 4), np.float32)
    return xywh_to_xyxy(_coco.toBbox(_rles(counts, height, width)))


def nearest_sources(size: int, new_size: int) -> np.ndarray:
    """(new_size,) int64: the source pixel of each pixel of an axis resized from ``size`` to ``new_size``
    by nearest neighbour at pixel centres, ``floor((i + 0.5) * size / new_size)``."""
    return (2 * np.arange(new_size, dtype=np.int64) + 1) * size // (2 * new_size)  # exact, ties included


def resize(counts: bytes, height: int, width: int, new_height: int, new_width: int) -> bytes:
    """RLE ``counts`` of an (height, width) mask resized to (new_height, new_width) by nearest neighbour
    at pixel centres (``nearest_sources``), bit-identical to resizing the full frame that way, computed
    on the runs (work grows with the runs and the new width, not with the pixels). ``b""`` (no mask)
    stays ``b""``."""
    return resize_many([counts], height, width, new_height, new_width)[0]


def resize_many(counts, height: int, width: int, new_height: int, new_width: int) -> list[bytes]:
    """``resize`` of each of ``counts`` (one frame's masks), bit-identical, the masks' runs resized
    together (``_resize_pieces``: a few numpy calls per mask instead of a few dozen)."""
    counts = list(counts)
    h, w, nh, nw = int(height), int(width), int(new_height), int(new_width)
    have = [i for i, c in enumerate(counts) if c]
    per_mask = []
    for i in have:
        bounds = np.cumsum(rle_counts(counts[i]))
        on = len(bounds) // 2
        lo, hi = np.minimum(bounds[0 : 2 * on : 2], h * w), np.minimum(bounds[1 : 2 * on : 2], h * w)
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
        # split runs at column ends: (column, first row, end row) per piece
        c0, c1 = lo // h, (hi - 1) // h
        n = c1 - c0 + 1
        first = np.repeat(np.cumsum(n) - n, n)
        col = np.repeat(c0, n) + np.arange(int(n.sum())) - first
        per_mask.append((col, np.maximum(np.repeat(lo, n) - col * h, 0), np.minimum(np.repeat(hi, n) - col * h, h)))
    out = [b""] * len(counts)
    for i, c in zip(have, _compressed(_resize_pieces(per_mask, h, w, nh, nw), nh, nw)):
        out[i] = c
    return out


def resize_windows(masks, windows, height: int, width: int, new_height: int, new_width: int) -> list[bytes]:
    """``resize`` of each ``encode_windows`` mask of one frame, bit-identical, from the windows: no RLE at
    (height, width); a window's column runs are read from its transpose (one pass, in column order),
    and the masks' runs are resized together (``_resize_pieces``).

    Args:
        masks: per mask (y1 - y0, x1 - x0) bool or uint8 (non-zero is inside).
        windows: per mask (y0, y1, x0, x1) in the (height, width) frame.
        new_height, new_width: the size the masks are resized to.
    """
    masks, windows = list(masks), list(windows)
    if len(masks) != len(windows):
        raise ValueError(
            f"resize_windows: expected one window per mask, got {len(masks)} masks and {len(windows)} windows"
        )
    h, w, nh, nw = int(height), int(width), int(new_height), int(new_width)
    per_mask = []
    for m, window in zip(masks, windows):
        y0, y1, x0, x1 = (int(v) for v in window)
        m = np.asarray(m)
        if not (0 <= y0 <= y1 <= h and 0 <= x0 <= x1 <= w) or m.shape != (y1 - y0, x1 - x0):
            raise ValueError(
                f"resize_windows: expected a {(y1 - y0, x1 - x0)} mask inside a {h}x{w} frame for window "
                f"{tuple(window)}, got {m.shape}"
            )
        mh, mw = m.shape
        padded = np.zeros((mh + 2, mw), np.uint8)  # a zero row above and below
        padded[1:-1] = m if m.dtype == bool else m != 0
        flat = (cv2.transpose(padded) if m.size else padded.T).reshape(-1)  # column after column
        # per column: where a run starts, then where it ends (a column starts and ends with a zero)
        edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        col = edges // (mh + 2)
        row = edges - col * (mh + 2) - 1
        per_mask.append((x0 + col[0::2], y0 + row[0::2], y0 + row[1::2]))
    return _compressed(_resize_pieces(per_mask, h, w, nh, nw), nh, nw)


_PIECES_PER_PASS = 1 << 12  # small masks share a pass (fewer numpy calls); a large one has its own


def _resize_pieces(per_mask, height: int, width: int, new_height: int, new_width: int) -> list[np.ndarray]:
    """``_resized_changes`` of each mask's pieces ``(col, a, b)``: consecutive masks share a pass up to
    ``_PIECES_PER_PASS`` pieces (a mask of more has its own)."""
    out, group, size = [], [], 0
    for p in [*per_mask, None]:
        if group and (p is None or size + p[0].size > _PIECES_PER_PASS):
            k = np.repeat(np.arange(len(group)), [g[0].size for g in group])
            col, a, b = (np.concatenate([g[j] for g in group]) for j in range(3))
            out += _resized_changes(k, col, a, b, len(group), height, width, new_height, new_width)
            group, size = [], 0
        if p is not None:
            group.append(p)
            size += p[0].size
    return out


def _resized_changes(k, col, a, b, count: int, height: int, width: int, new_height: int, new_width: int):
    """Per mask of ``count``, the ``from_changes`` positions of the (new_height, new_width) mask resized
    from one given by pieces: rows [a, b) of column ``col`` of mask ``k`` (int arrays), in mask order,
    then column order, then row order within a column.

    Each piece covers the target rows whose source row is in [a, b): a contiguous range, since sources
    rise with targets; it lands in every target column whose source is that column. The masks are laid
    side by side (mask ``k``'s column ``c`` is column ``k * width + c``), so that one pass resizes them
    all; a run never goes on from one mask into the next, and each mask's positions are its own."""
    h, w, nh, nw = int(height), int(width), int(new_height), int(new_width)
    if count == 0:
        return []
    rows, cols = nearest_sources(h, nh), nearest_sources(w, nw)
    below = np.searchsorted(rows, np.arange(h + 1))  # per source row r: the target rows whose source is < r
    ta, tb = below[a], below[b]
    use = tb > ta
    g, ta, tb = (col if count == 1 else np.asarray(k, np.int64) * w + col)[use], ta[use], tb[use]
    # target column by target column (each one's source column's pieces, in row order): increasing, no sort
    per_col = np.bincount(g, minlength=count * w)
    src = (np.arange(count, dtype=np.int64)[:, None] * w + cols).reshape(-1)  # each target column's source
    n = per_col[src]  # pieces per target column
    offset = (np.cumsum(n) - n) - (np.cumsum(per_col) - per_col)[src]  # where a target column's pieces go
    piece = np.arange(int(n.sum())) - np.repeat(offset, n)
    base = np.repeat(np.tile(np.arange(nw, dtype=np.int64) * nh, count), n)  # each mask's own positions
    starts, ends = base + ta[piece], base + tb[piece]
    cut = np.r_[0, np.cumsum(n.reshape(count, nw).sum(1))]  # mask m's pieces: [cut[m], cut[m + 1])
    changes = np.empty(2 * starts.size, np.int64)
    changes[0::2], changes[1::2] = starts, ends
    # no change where a run goes on in the next piece of the same mask, nor after a mask's last pixel
    touching = starts[1:] == ends[:-1]
    first = cut[1:-1]
    touching[first[(first > 0) & (first < starts.size)] - 1] = False  # a mask's last piece, the next one's first
    touching = np.flatnonzero(touching)
    last = cut[1:][np.diff(cut) > 0] - 1
    drop = np.concatenate([2 * touching + 1, 2 * touching + 2, 2 * last[ends[last] == nh * nw] + 1])
    if drop.size:
        drop.sort()
        changes = np.delete(changes, drop)
    return np.split(changes, 2 * cut[1:-1] - np.searchsorted(drop, 2 * cut[1:-1]))


# -- a window mask between the pipeline's stages: its run lengths along the rows, cheap both ways


def to_runs(mask: np.ndarray) -> bytes:
    """``mask``'s run lengths read row by row (C order), zeros first (a first run of 0 when the first
    pixel is inside): about a byte per run, COCO RLE's size, 3x faster than ``encode`` both ways.

    Args:
        mask: (H, W) bool or uint8 (non-zero is inside), any memory layout.

    Returns:
        the number of runs (uint32), one uint8 per run (255: 255 or more, the length follows), then the
        lengths of those long runs (uint32), little-endian; ``b""`` for a mask of no pixels.
    """
    f = np.ascontiguousarray(mask).reshape(-1)
    if f.dtype != bool:
        f = f != 0
    if f.size == 0:
        return b""
    runs = np.diff(np.flatnonzero(f[1:] != f[:-1]) + 1, prepend=0, append=f.size)
    if f[0]:
        runs = np.r_[0, runs]
    long = runs >= 255
    head = np.where(long, 255, runs).astype(np.uint8)
    return np.uint32(head.size).tobytes() + head.tobytes() + runs[long].astype("<u4").tobytes()


def from_runs(data: bytes, height: int, width: int) -> np.ndarray:
    """The (height, width) bool mask of ``to_runs``' ``data``, C-ordered."""
    h, w = int(height), int(width)
    if not data:
        runs, n = np.zeros(0, np.int64), 0
    else:
        n = int(np.frombuffer(data, "<u4", 1)[0])
        head = np.frombuffer(data, np.uint8, n, 4)
        runs = head.astype(np.int64)
        long = head == 255
        runs[long] = np.frombuffer(data, "<u4", int(np.count_nonzero(long)), 4 + n)
    if int(runs.sum()) != h * w:
        raise ValueError(f"from_runs: expected runs of {h}x{w} pixels, got {int(runs.sum())} pixels in {n} runs")
    inside = np.zeros(runs.size, bool)
    inside[1::2] = True
    return np.repeat(inside, runs).reshape(h, w)


def paint_black(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Paint the pixels of ``mask`` black (0 in every channel) in place: BMP's mask-out of people found.

    Args:
        image: (H, W) or (H, W, C) array of any dtype, modified.
        mask: (H, W) bool (or 0/1) mask, frame pixels.

    Returns:
        ``image``.
    """
    m = np.asarray(mask, bool)
    planes = image.ndim == 2 or (image.ndim == 3 and image.shape[2] <= 4)  # what cv2 takes
    if image.dtype == np.uint8 and image.size and image.flags.c_contiguous and image.flags.writeable and planes:
        if m.shape != image.shape[:2]:
            raise ValueError(f"paint_black: expected a {image.shape[:2]} mask, got {m.shape}")
        m8 = np.ascontiguousarray(m).view(np.uint8)
        cv2.bitwise_xor(image, image, dst=image, mask=m8)  # x ^ x = 0 where the mask is: 40x numpy's setitem
    else:
        image[m] = 0
    return image


def from_segmentation(seg, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of a COCO annotation's ``segmentation`` (polygons, uncompressed or compressed RLE)."""
    if isinstance(seg, list):
        rle = _coco.merge(_coco.frPyObjects(seg, height, width))
    elif isinstance(seg.get("counts"), list):
        rle = _coco.frPyObjects(seg, height, width)
    else:
        counts = seg["counts"]
        rle = {"size": list(seg["size"]), "counts": counts.encode() if isinstance(counts, str) else counts}
    return _coco.decode(rle).astype(bool)


# -- decoding one mask in its window (the pose crops): pycocotools' rleFrString parsed in numpy, 5 bits per
# character, a continuation bit, a sign bit on a number's last character, counts from the third on as the
# difference to the count two before; only the window holding the mask is written


def rle_counts(counts: bytes) -> np.ndarray:
    """The uncompressed run lengths (int64) of COCO compressed RLE ``counts`` (zeros first, column-major)."""
    s = np.frombuffer(bytes(counts), np.uint8).astype(np.int64) - 48
    ends = np.flatnonzero((s & 0x20) == 0)  # the last character of every number
    if ends.size == 0:
        return np.zeros(0, np.int64)
    s = s[: ends[-1] + 1]
    starts = np.r_[0, ends[:-1] + 1]
    shift = 5 * (np.arange(s.size) - np.repeat(starts, ends - starts + 1))
    x = np.add.reduceat((s & 0x1F) << shift, starts)
    negative = (s[ends] & 0x10) != 0
    x = np.where(negative, x - (np.int64(1) << (shift[ends] + 5)), x)
    x[1::2] = np.cumsum(x[1::2])
    x[2::2] = np.cumsum(x[2::2])
    return x


def rle_window(counts: bytes, height: int, width: int, transposed: bool = False) -> tuple[np.ndarray, int, int]:
    """The mask of ``counts`` in a window holding all of it.

    Args:
        counts: COCO compressed RLE of an (height, width) mask.
        transposed: return the window column-major, (w, h), as the runs lie (no transposing copy).

    Returns:
        window (h, w) uint8 0/1 (or (w, h) when ``transposed``), and its x0, y0 in the frame; the window
        is the mask's box, except that a run across columns takes the full column range of rows.
        An empty mask gives a (0, 0) window at 0, 0.
    """
    bounds = np.cumsum(rle_counts(counts))
    total = int(height) * int(width)
    on = len(bounds) // 2
    lo, hi = np.minimum(bounds[0 : 2 * on : 2], total), np.minimum(bounds[1 : 2 * on : 2], total)
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return np.zeros((0, 0), np.uint8), 0, 0
    c0, c1 = lo // height, (hi - 1) // height
    across = c1 > c0
    x0, x1 = int(c0.min()), int(c1.max()) + 1
    y0 = int(np.where(across, 0, lo % height).min())
    y1 = int(np.where(across, height - 1, (hi - 1) % height).max()) + 1
    base, length = x0 * height, (x1 - x0) * height
    edges = np.stack([lo, hi], 1).ravel() - base
    runs = np.diff(np.concatenate([[0], edges, [length]]))
    values = np.zeros(runs.size, np.uint8)
    values[1::2] = 1
    cols = np.repeat(values, runs).reshape(x1 - x0, height)[:, y0:y1]
    win = np.ascontiguousarray(cols if transposed else cols.T)
    return win, x0, y0
