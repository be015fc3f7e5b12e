"""bf16 matrix products with each weight reordered once into oneDNN's blocked layout (AMX / AVX512-BF16 CPUs).

A plain bf16 `Linear` hands oneDNN a row-major weight, which it reorders into its blocked layout on every call;
for the few units of one claim that reordering was a third to a half of a forward pass. Packed once at load,
the products are the same kernels on the same numbers.

oneDNN also builds a kernel for every row count it has not seen (~13 ms a forward pass for v10's three weight
shapes, a third of scoring a few units), and units of varied lengths rarely repeat one: most requests paid for
it. So rows are padded up to one of 8 buckets per power of two (at most 1/8 more rows from 64 rows on), and the
buckets a claim uses are built at load. A row's logits then come from the kernel of its batch's bucket: they
differ from unpadded autocast in bf16's last bits (up to 0.016 in a logit; the seed eval's labels are the same).
"""

from __future__ import annotations

import logging

import torch


def row_bucket(rows: int) -> int:
    """`rows` rounded up to a multiple of an eighth of its power of two (at least 8): 8 buckets per octave."""
    step = max(8, 1 << max(0, rows.bit_length() - 4))
    return -(-rows // step) * step


class PackedBf16Linear(torch.nn.Module):
    """`Linear` in bf16 with its weight packed for oneDNN: takes any float input, returns bf16 like autocast."""

    def __init__(self, linear: torch.nn.Linear, buckets: bool = True):
        super().__init__()
        self.buckets = buckets  # pad rows to `row_bucket` (False: oneDNN sees every row count as it comes)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().to(torch.bfloat16)
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, None)
        self.bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.to(torch.bfloat16).reshape(-1, self.in_features)
        n = rows.shape[0]
        if self.buckets and (pad := row_bucket(n) - n) > 0:
            rows = torch.nn.functional.pad(rows, (0, 0, 0, pad))  # zero rows, dropped below
        out = torch.ops.mkldnn._linear_pointwise(rows, self.packed, self.bias, "none", [], "")
        return out[:n].reshape(*x.shape[:-1], self.out_features)


WARM_ROWS = 1024  # a claim's units (up to ~10 of ~100 tokens) fit; larger cross-request batches build theirs on use
_WARM: set[tuple[int, int, int]] = set()  # (in, out, rows) kernels built in this process (oneDNN keys them by shape)


def warm_buckets(linears: list[PackedBf16Linear], max_rows: int = WARM_ROWS) -> None:
    """Build oneDNN's kernels for every row bucket up to `max_rows` now, so no request pays for building one."""
    buckets = sorted({row_bucket(m) for m in range(1, max_rows + 1)})
    with torch.inference_mode():
        for lin in {(m.in_features, m.out_features): m for m in linears}.values():
            for rows in buckets:
                if (lin.in_features, lin.out_features, rows) not in _WARM:
                    lin(torch.zeros(rows, lin.in_features, dtype=torch.bfloat16))
                    _WARM.add((lin.in_features, lin.out_features, rows))


def bf16_linears(model: torch.nn.Module, pack: bool = True, buckets: bool = True) -> bool:
    """Every `Linear` of `model` in bf16: packed for oneDNN if `pack` and oneDNN can, else plain; True when packed.

    `buckets=False` keeps every row count as it comes (the bench's side-by-side row)."""
    linears = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, torch.nn.Linear)
    ]
    if pack:
        try:
            if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
                raise RuntimeError("oneDNN without bf16 support")
            packed = [(p, n, PackedBf16Linear(c, buckets)) for p, n, c in linears]
        except (RuntimeError, AttributeError) as exc:  # another torch build: the unpacked bf16 path still works
            logging.getLogger(__name__).warning("bf16 weights not packed for oneDNN (%s)", exc)
        else:
            for parent, name, module in packed:
                setattr(parent, name, module)
            if buckets:
                warm_buckets([m for _, _, m in packed])
            return True
    for _, _, c in linears:
        c.to(torch.bfloat16)
    return False
