"""MLflow side of ForgeML: candidate runs, registered versions, lineage tags and the promotion gate."""

from forgeml.registry.promotion import decide_promotion, pick_challenger
from forgeml.registry.tracking import log_and_register_candidate, promote

__all__ = ["decide_promotion", "log_and_register_candidate", "pick_challenger", "promote"]
