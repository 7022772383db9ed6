"""``aiaudio export-onnx``: the model as ONNX (:func:`aiaudio.export.export_onnx`)."""

from __future__ import annotations

import argparse
import sys

from ..errors import AiaudioError
from ._common import _load_detector


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from ..export import export_model_onnx, export_onnx

    if not args.output and not args.into_model:
        print("aiaudio export-onnx: give -o OUT (the whole model as one file) or --into-model", file=sys.stderr)
        return 2
    det = _load_detector(args, "export-onnx", "the exported model's scores are")
    if det is None:
        return 1
    try:
        if args.into_model:
            out = export_model_onnx(det.model_dir, opset=args.opset)
        if args.output:
            out = export_onnx(det, path=args.output, opset=args.opset)
    except ValueError as e:  # an unsupported --opset
        print(f"aiaudio export-onnx: {e}", file=sys.stderr)
        return 2
    except AiaudioError as e:
        print(f"aiaudio export-onnx: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"aiaudio export-onnx: cannot write {args.output}: {e}", file=sys.stderr)
        return 1
    size_kb = out.stat().st_size / 1000
    print(f"aiaudio export-onnx: wrote {out} ({det.version}, {size_kb:.0f} kB)", file=sys.stderr)
    return 0


