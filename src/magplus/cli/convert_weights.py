"""``magplus convert-weights {fomm,fsrt,metaportrait,liveportrait} IN [IN2] OUT_DIR``: official checkpoints -> safetensors.

Each backbone package provides ``magplus.backbones.<name>.convert:convert(inputs, out_dir)``
returning the paths it wrote; this command only dispatches.
"""

from __future__ import annotations

import argparse

BACKBONES_WITH_CONVERTERS = ("fomm", "fsrt", "metaportrait", "liveportrait")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-weights",
        help="convert an official backbone checkpoint to safetensors + config JSON",
        description="Convert official checkpoints (read with weights_only=True) to .safetensors and a JSON config. "
                    "fomm: CHECKPOINT [CONFIG.yaml] OUT_DIR; fsrt: KP_DETECTOR.pt MODEL.pt OUT_DIR; "
                    "metaportrait: CHECKPOINT [CONFIG.yaml] OUT_DIR; "
                    "liveportrait: WEIGHTS_DIR [models.yaml] OUT_DIR.",
    )
    parser.add_argument("backbone", choices=BACKBONES_WITH_CONVERTERS)
    parser.add_argument("inputs", nargs="+", metavar="IN", help="checkpoint file(s), then optional config")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write into (created if missing)")
    parser.set_defaults(handler=run)


def load_converter(backbone: str):
    """The ``convert`` function of ``magplus.backbones.<backbone>.convert``.

    Raises:
        DependencyError: the module is not available in this installation.
    """
    import importlib

    from ..errors import DependencyError

    module_name = f"magplus.backbones.{backbone}.convert"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise DependencyError(
                f"no weight converter for backbone {backbone!r} ({module_name} is missing); "
                f"update magplus or choose one of the available backbones."
            ) from exc
        raise
    convert = getattr(module, "convert", None)
    if convert is None:
        raise DependencyError(f"{module_name} defines no convert(inputs, out_dir); update magplus.")
    return convert


def run(args: argparse.Namespace) -> int:
    from ._common import check_outputs

    check_outputs(list(args.inputs), folders=[args.out_dir])
    convert = load_converter(args.backbone)
    for path in convert(list(args.inputs), args.out_dir):
        print(path)
    return 0
