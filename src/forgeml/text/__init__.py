"""Text: the bundled reviews, the pretrained BERT folder and its tokenizer, and token-level augmentation.

Token ids travel as one int64 tensor per batch, shape (batch, 2, max_length): input ids and
attention mask stacked, so text models train through the same loop as every other model.
"""

from forgeml.text.augmentation import TokenAugmentation
from forgeml.text.tokenization import BUNDLED_MODEL, load_tokenizer, pretrained_folder, tokenize

__all__ = ["BUNDLED_MODEL", "TokenAugmentation", "load_tokenizer", "pretrained_folder", "tokenize"]
