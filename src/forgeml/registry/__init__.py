"""MLflow side of ForgeML: candidate runs, registered versions and their cards, lineage tags and the promotion gate."""

from forgeml.registry.promotion import choose_challenger, decide_promotion
from forgeml.registry.tracking import attach_card, log_candidate, register_candidate

__all__ = ["attach_card", "choose_challenger", "decide_promotion", "log_candidate", "register_candidate"]
