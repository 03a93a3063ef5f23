"""Configuration of the FSRT model: the published vox256 values, and builders from dicts.

Every width that the official code hard-codes is a field here with the upstream value as its
default, so the same classes build the published model and small test models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ...errors import InputError

#: Names used by the golden-vector documentation for the hard-coded widths -> our field names.
UPSTREAM_WIDTH_CONSTANTS = {
    "ENC_CONV_HDIM": "enc_conv_hidden",
    "ENC_TOKEN_DIM": "token_dim",
    "ENC_HEADS": "enc_heads",
    "ENC_DIM_HEAD": "enc_dim_head",
    "ENC_MLP_DIM": "enc_mlp_dim",
    "DEC_INPUT_MLP_HIDDEN": "dec_input_mlp_hidden",
    "DEC_HEADS": "dec_heads",
    "DEC_Z_DIM": "token_dim",
    "DEC_RENDER_HIDDEN": "dec_render_hidden",
    "EXPR_MLP_H1": "expr_mlp_hidden1",
    "EXPR_MLP_H2": "expr_mlp_hidden2",
    "EXPR_MLP_H3": "expr_mlp_hidden3",
}


@dataclass(frozen=True)
class FSRTConfig:
    """All architecture numbers of FSRT (defaults: ``runs/vox256/vox256.yaml`` + constructor defaults).

    Keypoint detector (FOMM's hourglass without the Jacobian head):
        kp_block_expansion, num_kp, kp_max_features, kp_num_blocks, kp_temperature,
        kp_scale_factor, kp_pad.
    Positional encodings: pix_octaves / pix_start_octave and kp_octaves / kp_start_octave
        (the encoder and the decoder use the same values in every published config).
    Encoder: num_conv_blocks, enc_att_blocks, enc_conv_hidden (first conv block; its output is
        twice that, every further block doubles it), token_dim, enc_heads, enc_dim_head,
        enc_mlp_dim, encode_with_expression.
    Decoder: dec_att_blocks, dec_input_mlp_hidden, dec_heads (head width token_dim // heads),
        dec_render_hidden.
    Expression encoder: expression_size, expression_size_per_kp, expr_mlp_hidden1..3, expr_pad.
    num_sources: source images the checkpoint was trained with (vox256: 1, vox256_2Source: 2).
    """

    num_kp: int = 10
    kp_block_expansion: int = 32
    kp_max_features: int = 1024
    kp_num_blocks: int = 5
    kp_temperature: float = 0.1
    kp_scale_factor: float = 0.25
    kp_pad: int = 0
    pix_octaves: int = 16
    pix_start_octave: int = -1
    kp_octaves: int = 4
    kp_start_octave: int = -1
    num_conv_blocks: int = 3
    enc_att_blocks: int = 5
    enc_conv_hidden: int = 96
    token_dim: int = 768
    enc_heads: int = 12
    enc_dim_head: int = 64
    enc_mlp_dim: int = 1536
    encode_with_expression: bool = True
    dec_att_blocks: int = 2
    dec_input_mlp_hidden: int = 720
    dec_heads: int = 12
    dec_render_hidden: int = 1536
    expression_size: int = 256
    expression_size_per_kp: int = 32
    expr_mlp_hidden1: int = 640
    expr_mlp_hidden2: int = 1280
    expr_mlp_hidden3: int = 640
    expr_pad: int = 0
    num_sources: int = 1

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            positive = item.name not in ("pix_start_octave", "kp_start_octave", "kp_pad", "expr_pad")
            if item.type in ("int", int) and positive and (not isinstance(value, int) or value <= 0):
                raise InputError(f"FSRTConfig.{item.name} must be a positive integer, got {value!r}.")
        if not (self.kp_temperature > 0 and 0 < self.kp_scale_factor <= 1):
            raise InputError(f"FSRTConfig needs kp_temperature > 0 and 0 < kp_scale_factor <= 1, got "
                             f"{self.kp_temperature} and {self.kp_scale_factor}.")
        if self.token_dim % self.dec_heads:
            raise InputError(f"FSRTConfig.token_dim ({self.token_dim}) must be divisible by dec_heads ({self.dec_heads}).")

    @property
    def keypoint_features(self) -> int:
        """Width of the keypoint encoding: 2 coordinates x sin/cos x octaves per keypoint."""
        return 4 * self.num_kp * self.kp_octaves

    @property
    def pixel_features(self) -> int:
        return 4 * self.pix_octaves

    @property
    def query_dim(self) -> int:
        """Width of a decoder query: keypoint + pixel encoding + expression vector."""
        return self.keypoint_features + self.pixel_features + self.expression_size

    @property
    def detector_out_channels(self) -> int:
        """Channels of the hourglass output (the keypoint / expression heads' input)."""
        return self.kp_block_expansion + 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "FSRTConfig":
        """Build from our own field names (as written by :meth:`to_dict`); unknown names are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown FSRT config field(s) {unknown}; known fields: {sorted(known)}.")
        return cls(**dict(values))

    @classmethod
    def from_upstream(cls, model: Mapping[str, Any], kp_detector: Mapping[str, Any] | None = None,
                      expression: Mapping[str, Any] | None = None,
                      width_overrides: Mapping[str, int] | None = None, num_sources: int = 1) -> "FSRTConfig":
        """Build from the official YAML ``model`` section and constructor arguments.

        Args:
            model: ``{"encoder_kwargs": ..., "decoder_kwargs": ..., "small_decoder": ..., "expression_size": ...}``.
            kp_detector: ``KPDetector`` keyword arguments (block_expansion, num_kp, ...).
            expression: ``ExpressionEncoder`` keyword arguments (expression_size_per_kp, pad).
            width_overrides: hard-coded width constants by their documented names
                (``ENC_TOKEN_DIM``, ... see :data:`UPSTREAM_WIDTH_CONSTANTS`).
            num_sources: ``data.num_src`` of the YAML.
        """
        if model.get("small_decoder"):
            raise InputError("small_decoder=True is not supported (no official checkpoint uses it); use the vox256 config.")
        enc, dec = dict(model.get("encoder_kwargs", {})), dict(model.get("decoder_kwargs", {}))
        for key in ("pix_octaves", "pix_start_octave", "kp_octaves", "kp_start_octave"):
            if key in enc and key in dec and enc[key] != dec[key]:
                raise InputError(f"encoder and decoder {key} differ ({enc[key]} vs {dec[key]}); FSRT checkpoints use one value.")
        values: dict[str, Any] = {"num_sources": num_sources}
        for key in ("pix_octaves", "pix_start_octave", "kp_octaves", "kp_start_octave"):
            if key in enc or key in dec:
                values[key] = enc.get(key, dec.get(key))
        renames = {"num_conv_blocks": "num_conv_blocks", "num_att_blocks": "enc_att_blocks",
                   "encode_with_expression": "encode_with_expression", "num_kp": "num_kp"}
        values.update({ours: enc[theirs] for theirs, ours in renames.items() if theirs in enc})
        if "num_att_blocks" in dec:
            values["dec_att_blocks"] = dec["num_att_blocks"]
        if "expression_size" in model:
            values["expression_size"] = model["expression_size"]
        kp_names = {"block_expansion": "kp_block_expansion", "num_kp": "num_kp", "max_features": "kp_max_features",
                    "num_blocks": "kp_num_blocks", "temperature": "kp_temperature",
                    "scale_factor": "kp_scale_factor", "pad": "kp_pad"}
        values.update({ours: kp_detector[theirs] for theirs, ours in kp_names.items() if kp_detector and theirs in kp_detector})
        expr_names = {"expression_size_per_kp": "expression_size_per_kp", "pad": "expr_pad"}
        values.update({ours: expression[theirs] for theirs, ours in expr_names.items() if expression and theirs in expression})
        for name, value in (width_overrides or {}).items():
            if name not in UPSTREAM_WIDTH_CONSTANTS:
                raise InputError(f"unknown FSRT width constant {name!r}; known: {sorted(UPSTREAM_WIDTH_CONSTANTS)}.")
            values[UPSTREAM_WIDTH_CONSTANTS[name]] = int(value)
        return cls(**values)


#: The published single-source model (``vox256.pt``).
VOX256 = FSRTConfig()
#: The published two-source model (``vox256_2Source``): same architecture, two source images.
VOX256_2SOURCE = FSRTConfig(num_sources=2)


#: Named presets accepted wherever a config is expected.
PRESETS = {"vox256": VOX256, "vox256_2source": VOX256_2SOURCE}


def resolve_config(config: "FSRTConfig | Mapping[str, Any] | str | None", checkpoint_name: str = "") -> FSRTConfig:
    """An :class:`FSRTConfig` from a config, a dict of its fields, a preset name, or None.

    None picks the preset from the checkpoint file name: ``vox256_2Source.pt`` -> two sources,
    anything else -> :data:`VOX256`.
    """
    if config is None:
        return VOX256_2SOURCE if "2source" in checkpoint_name.lower() else VOX256
    if isinstance(config, FSRTConfig):
        return config
    if isinstance(config, str):
        key = config.strip().lower()
        if key not in PRESETS:
            raise InputError(f"unknown FSRT config {config!r}; use one of {sorted(PRESETS)} or an FSRTConfig.")
        return PRESETS[key]
    if isinstance(config, Mapping):
        return FSRTConfig.from_dict(config)
    raise InputError(f"config must be an FSRTConfig, a dict, a preset name or None, got a {type(config).__name__}.")
