"""ForgeML: improve an existing model step by step, every step tracked, versioned and registered."""

import os

__version__ = "0.1.0"

# No entry point calls out to the network: MLflow 3 sends usage telemetry unless told not to (Kedro's is off
# through .telemetry, DVC's through its config). A user who sets these variables keeps their own values.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
# A log read after the fact (cron, Airflow) gets no download bars: one MLflow call drew 99 of them.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# conf/logging.yml's handler (forgeml.logs) is ForgeML's own: Kedro loads handlers from listed modules only.
os.environ.setdefault("KEDRO_LOGGING_MODULE_ALLOWLIST", "forgeml.logs")
