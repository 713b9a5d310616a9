"""MLflow side of ForgeML: candidate runs, registered versions and their cards, lineage tags and the promotion gate."""

from forgeml.registry.promotion import decide_promotion, pick_challenger
from forgeml.registry.tracking import attach_card, log_candidate, register_candidate

__all__ = ["attach_card", "decide_promotion", "log_candidate", "pick_challenger", "register_candidate"]
